/**
 * The forecast pipeline on the real stack: WorkloadAggregate records for a fresh source go to
 * shardcast.workload.aggregates, the pipeline runs in-process in its own consumer group, and
 * shardcast.forecasts must carry a forecast for every one of those series, including series
 * whose windows arrive after the pipeline already forecast that window for the others.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Forecast, WorkloadAggregate } from '../../schemas/types.js';
import { openContext } from '../../pipelines/context.js';
import { startForecast } from '../../pipelines/forecast.js';
import { TOPICS } from '../../schemas/topics.js';
import { consumeTopics } from '../../topics/consumer.js';
import { cfg, eventually, uniq } from './helpers.js';

const STEP = 60_000;
const H = 6;
const WINDOWS = 48;
const MODEL = /^(seasonal_naive|holt_winters|global|ensemble\((seasonal_naive|holt_winters|global)\))$/;

function aggregate(
  seriesId: string,
  source: string,
  table: string | null,
  keyBucket: string | null,
  windowStart: number,
  queries: number,
): WorkloadAggregate {
  return {
    seriesId,
    windowStart,
    windowEnd: windowStart + STEP,
    source,
    table,
    keyBucket,
    partition: null,
    node: null,
    queries,
    reads: queries,
    writes: 0,
    rowsRead: queries,
    rowsWritten: 0,
    errors: 0,
    unparsed: 0,
    lateMerged: 0,
    latencySumMs: queries,
    latencyP50Ms: 1,
    latencyP95Ms: 2,
    latencyP99Ms: 3,
    hotKeys: [],
    coAccess: [],
  };
}

test('forecast pipeline: every series with aggregates gets sane forecasts on shardcast.forecasts', { timeout: 180_000 }, async () => {
  const source = uniq('fcsrc').replace(/[^a-z0-9]/g, '_');
  // Series as the ingest names them: the source total and table × key-range buckets.
  const first = [`${source}|*|*`, `${source}|orders|k0`, `${source}|orders|k1`, `${source}|users|k0`];
  const late = [`${source}|users|k1`, `${source}|events|k0`];
  const base = Math.floor(Date.now() / STEP) * STEP - WINDOWS * STEP;
  const level = (id: string): number => 20 + 7 * (id.length % 5);
  // A daily-like pattern with a 12-window season, a gap and a burst, never negative.
  const value = (id: string, w: number): number =>
    Math.round(level(id) * (1 + 0.6 * Math.sin((2 * Math.PI * w) / 12)) + ((w * 7 + id.length) % 3));
  const records = (ids: string[], upTo: number) =>
    ids.flatMap((id) => {
      const [, table, bucket] = id.split('|');
      return Array.from({ length: upTo }, (_, w) => w)
        .filter((w) => !(id.endsWith('k1') && w === 20)) // one missing window
        .map((w) => ({
          key: id,
          value: aggregate(
            id,
            source,
            table === '*' ? null : table!,
            bucket === '*' ? null : bucket!,
            base + w * STEP,
            id.endsWith('|k0') && w === 30 ? 40 * value(id, w) : value(id, w),
          ),
        }));
    });

  const ctx = await openContext('forecast-pipeline-test', cfg);
  const seen = new Map<string, Forecast[]>();
  const out = await consumeTopics(ctx.kafka, { groupId: uniq('fc-pipeline-test-out'), topics: [TOPICS.forecasts.name] });
  const decoding = out.messages$.subscribe((m) => {
    void ctx.serde.decode<Forecast>(m.topic, m.value).then(
      (f) => {
        if (!f.seriesId.startsWith(`${source}|`)) return;
        const list = seen.get(f.seriesId) ?? [];
        list.push(f);
        seen.set(f.seriesId, list);
      },
      () => undefined, // other producers' records are not this test's business
    );
  });
  const stage = await startForecast(ctx, {
    groupId: uniq('fc-pipeline-test'),
    stepMs: STEP,
    horizon: H,
    season: 12,
    checkpointFile: null,
    sources: [source],
  });
  try {
    // First a set of series with every window, so the pipeline forecasts window WINDOWS-2.
    // ... and one window a year ahead (a producer with a wrong clock): counted, not forecast,
    // and it must not move the forecaster's clock (the origins are checked below).
    const future = { key: first[1]!, value: aggregate(first[1]!, source, 'orders', 'k0', base + 365 * 86_400_000, 5) };
    await ctx.producer.send(TOPICS.aggregates.name, [...records(first, WINDOWS), future]);
    await eventually(async () => (first.every((id) => seen.has(id)) ? true : undefined), 90_000, 'forecasts for the first series');
    // Then more series whose windows are no newer: they must still be forecast.
    await ctx.producer.send(TOPICS.aggregates.name, records(late, WINDOWS));
    const expected = [...first, ...late].sort();
    await eventually(async () => (expected.every((id) => seen.has(id)) ? true : undefined), 90_000, 'forecasts for the late series');

    assert.deepEqual([...seen.keys()].sort(), expected, 'exactly the series that had aggregates');
    assert.equal(stage.futureSkipped(), 1, 'the far-future window was counted and skipped');
    const origin = base + (WINDOWS - 2) * STEP;
    const sent = new Map<string, number[]>();
    for (const r of records([...first, ...late], WINDOWS)) sent.set(r.key, [...(sent.get(r.key) ?? []), r.value.queries]);
    for (const [id, list] of seen) {
      // The newest forecast of every series starts at the last complete window.
      assert.equal(Math.max(...list.map((f) => f.originTs)), origin, `${id}: forecast from the last complete window`);
      const lo = Math.min(...sent.get(id)!);
      const hi = Math.max(...sent.get(id)!);
      for (const f of list) {
        assert.ok(f.originTs <= origin && (origin - f.originTs) % STEP === 0, `${id}: origin on the window grid`);
        assert.equal(f.stepMs, STEP);
        assert.match(f.model, MODEL, `${id}: model name`);
        assert.equal(f.backend, stage.backend);
        assert.equal(f.intervalLevel, 0.9);
        assert.deepEqual(
          f.points.map((p) => p.horizon),
          Array.from({ length: H }, (_, i) => i + 1),
          `${id}: horizon steps`,
        );
        for (const p of f.points) {
          assert.equal(p.ts, f.originTs + p.horizon * STEP, `${id}: point time`);
          assert.ok([p.lower, p.predicted, p.upper].every(Number.isFinite), `${id}: finite`);
          assert.ok(
            0 <= p.lower && p.lower <= p.predicted && p.predicted <= p.upper,
            `${id} h=${p.horizon}: 0 ≤ ${p.lower} ≤ ${p.predicted} ≤ ${p.upper}`,
          );
          // Sane: within the range the series moved in, with some room.
          assert.ok(
            p.predicted >= 0.5 * lo && p.predicted <= 1.5 * hi,
            `${id} h=${p.horizon}: ${p.predicted} outside the sent range [${lo}, ${hi}]`,
          );
        }
      }
    }
    // Everything the stage published for this source arrived.
    const count = () => [...seen.values()].reduce((n, l) => n + l.length, 0);
    await eventually(
      async () => (count() === stage.forecasts() ? true : undefined),
      30_000,
      `all ${stage.forecasts()} published forecasts`,
    );
  } finally {
    decoding.unsubscribe();
    await stage.stop();
    await out.stop();
    await ctx.close();
  }
});
