/** The console's pure parts: spans and key order, metrics text, rows read back into records, controls and proposals as operators read them. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { aggregateFromRow, aggregateRow, forecastRows, forecastsFromRows } from '../../analytics/rows.js';
import { controlsView } from '../../console/ops/controls.js';
import { ParameterError } from '../../console/ops/errors.js';
import { bucketOfSeries, byKeyOrder, loadSpan, MAX_LOAD_SPAN_MS } from '../../console/ops/load.js';
import { metricByPipeline } from '../../console/ops/stages.js';
import { decideConfig, withApprovalModes } from '../../processors/decide/config.js';
import type { Forecast, WorkloadAggregate } from '../../schemas/types.js';

test('load spans default to the last 30 minutes and refuse bad or too long ones by name', () => {
  assert.deepEqual(loadSpan({}, 10_000_000), { since: 10_000_000 - 1_800_000, until: 10_000_000 });
  assert.deepEqual(loadSpan({ since: 5, until: 10 }, 0), { since: 5, until: 10 });
  const bad = (r: { since?: number; until?: number }, parameter: string) =>
    assert.throws(
      () => loadSpan(r, 10_000_000),
      (e: unknown) => e instanceof ParameterError && e.parameter === parameter,
    );
  bad({ since: 10, until: 10 }, 'until');
  bad({ since: -1 }, 'since');
  bad({ since: 0, until: MAX_LOAD_SPAN_MS + 1 }, 'since');
  bad({ since: 0, until: 1.5 }, 'until');
});

test('key ranges sort in key order and series name their bucket', () => {
  assert.deepEqual(['k10', 'k2', 'k1'].sort(byKeyOrder), ['k1', 'k2', 'k10']);
  assert.equal(bucketOfSeries('pg|orders|k3||node0'), 'k3');
  assert.equal(bucketOfSeries('pg|*|*||node0'), null);
  assert.equal(bucketOfSeries(''), null);
});

test('metrics text: the value of a metric per pipeline, only for lines matching a label', () => {
  const text = [
    '# HELP shardcast_pipeline_consumed_per_second x',
    'shardcast_pipeline_consumed_per_second{pipeline="ingest"} 12.5',
    'shardcast_pipeline_consumed_per_second{pipeline="sink"} 3',
    'shardcast_pipeline_state{pipeline="ingest",state="running"} 1',
    'shardcast_pipeline_state{pipeline="ingest",state="retrying"} 0',
  ].join('\n');
  assert.deepEqual(
    [...metricByPipeline(text, 'shardcast_pipeline_consumed_per_second')],
    [
      ['ingest', 12.5],
      ['sink', 3],
    ],
  );
  assert.deepEqual([...metricByPipeline(text, 'shardcast_pipeline_state', 'state="retrying"')], [['ingest', 0]]);
});

test('aggregate and forecast rows read back into the records they were written from', () => {
  const a: WorkloadAggregate = {
    seriesId: 'pg|orders|k1||node0',
    windowStart: 1000,
    windowEnd: 2000,
    source: 'pg',
    table: 'orders',
    keyBucket: 'k1',
    partition: null,
    node: 'node0',
    queries: 5,
    reads: 4,
    writes: 1,
    rowsRead: 4,
    rowsWritten: 1,
    errors: 0,
    unparsed: 0,
    lateMerged: 0,
    latencySumMs: 5,
    latencyP50Ms: 1,
    latencyP95Ms: null,
    latencyP99Ms: 3,
    hotKeys: [{ key: '7', count: 3, error: 0 }],
    coAccess: [],
  };
  assert.deepEqual(aggregateFromRow(aggregateRow(a) as unknown as Record<string, unknown>), a);
  const f: Forecast = {
    seriesId: 's',
    issuedAt: 9,
    originTs: 1000,
    stepMs: 1000,
    metric: 'queries',
    model: 'ensemble',
    backend: null,
    points: [1, 2].map((h) => ({ horizon: h, ts: 1000 + h * 1000, predicted: h, lower: h - 1, upper: h + 1 })),
    recentError: null,
    intervalLevel: 0.9,
  };
  const rows = forecastRows(f).reverse() as unknown as Record<string, unknown>[];
  assert.deepEqual(forecastsFromRows(rows, 0.9), [f]);
});

test("operators' approval modes lay over the configured ones; controls read as operators see them", () => {
  const input = { safety: { approval: { a: 'auto' as const, b: 'manual' as const }, cooldownMs: 5 } };
  const merged = decideConfig(withApprovalModes(input, { a: 'manual' }));
  assert.deepEqual(merged.safety.approval, { a: 'manual', b: 'manual' });
  assert.equal(merged.safety.cooldownMs, 5, 'other settings kept');
  assert.equal(withApprovalModes(input, {}), input);
  const v = controlsView(
    { paused: { by: 'ann', at: 0 }, approval: { z: { mode: 'auto', by: 'bob', at: 0 }, a: { mode: 'manual', by: 'bob', at: 0 } } },
    'x',
  );
  assert.equal(v.deciding, 'paused');
  assert.equal(v.pausedBy, 'ann');
  assert.deepEqual(
    v.approval.map((a) => a.store),
    ['a', 'z'],
  );
});
