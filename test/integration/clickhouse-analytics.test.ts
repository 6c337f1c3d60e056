import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createClickHouse, ensureAnalyticsSchema, insertRows, queryRows } from '../../analytics/clickhouse.js';
import { aggregateRow, deadLetterRow } from '../../analytics/rows.js';
import { CANNED_QUERIES } from '../../analytics/queries.js';
import { TEMPLATE_COLUMNS } from '../../analytics/schema.js';
import type { WorkloadAggregate } from '../../schemas/types.js';
import { cfg } from './helpers.js';

const ch = createClickHouse(cfg);
const db = 'shardcast_test_analytics';
after(async () => {
  await ch.command({ query: `DROP DATABASE IF EXISTS ${db}` });
  await ch.close();
});

const agg = (series: string, windowStart: number, queries: number): WorkloadAggregate => ({
  seriesId: series,
  windowStart,
  windowEnd: windowStart + 10_000,
  source: 'pg',
  table: 'orders',
  keyBucket: series.split('|')[2] ?? null,
  partition: null,
  node: 'node0',
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
  hotKeys: [{ key: '7', count: 3, error: 0 }],
  coAccess: [],
});

test('schema creation is idempotent on this server', async () => {
  await ch.command({ query: `DROP DATABASE IF EXISTS ${db}` });
  await ensureAnalyticsSchema(ch, db);
  await ensureAnalyticsSchema(ch, db);
  const tables = await queryRows<{ name: string }>(ch, `SELECT name FROM system.tables WHERE database = '${db}' ORDER BY name`);
  for (const t of [
    'aggregates',
    'commands',
    'dlq',
    'forecasts',
    'metric_samples',
    'query_events',
    'results',
    'dlq_reasons_hourly',
    'load_hourly',
  ]) {
    assert.ok(
      tables.some((r) => r.name === t),
      `table ${t}`,
    );
  }
});

test('a redelivered aggregate replaces itself: counts stay exact under FINAL', async () => {
  const rows = [agg('pg|orders|k0', 0, 5), agg('pg|orders|k1', 0, 7), agg('pg|orders|k0', 10_000, 9)].map(aggregateRow);
  await insertRows(ch, db, 'aggregates', rows);
  await insertRows(ch, db, 'aggregates', rows.slice(0, 2)); // redelivery
  const [r] = await queryRows<{ n: string; q: string }>(ch, `SELECT count() AS n, sum(queries) AS q FROM ${db}.aggregates FINAL`);
  assert.equal(Number(r!.n), 3);
  assert.equal(Number(r!.q), 21);
});

test('dead letters roll up by reason', async () => {
  const letter = {
    ts: 1_700_000_000_000,
    sourceTopic: 'shardcast.telemetry.queries',
    sourcePartition: 0,
    sourceOffset: '1',
    key: null,
    value: Buffer.from('xx'),
    stage: 'decode',
    reason: 'bad bytes',
    pipeline: 'ingest',
  };
  await insertRows(ch, db, 'dlq', [deadLetterRow(letter), deadLetterRow({ ...letter, sourceOffset: '2' })]);
  const [r] = await queryRows<{ letters: string }>(
    ch,
    `SELECT sum(letters) AS letters FROM ${db}.dlq_reasons_hourly WHERE reason = 'bad bytes'`,
  );
  assert.equal(Number(r!.letters), 2);
});

test('every canned analytics query runs on this server', async () => {
  for (const q of CANNED_QUERIES) {
    const rows = await queryRows(ch, q.sql(db, 5));
    assert.ok(Array.isArray(rows), q.name);
  }
  const hot = await queryRows<{ key_bucket: string; total_queries: string }>(
    ch,
    CANNED_QUERIES.find((q) => q.name === 'hot-ranges')!.sql(db, 5),
  );
  assert.equal(hot[0]!.key_bucket, 'k0');
  assert.equal(Number(hot[0]!.total_queries), 14);
});

test('template profiles land with their aggregate and rank by time spent; a table made before the columns gets them', async () => {
  // a table from before the template columns: they are added at start
  for (const [name] of TEMPLATE_COLUMNS) await ch.command({ query: `ALTER TABLE ${db}.aggregates DROP COLUMN ${name}` });
  await ensureAnalyticsSchema(ch, db);
  const t = (templateId: string, queries: number, latencySumMs: number) => ({
    templateId,
    template: `SELECT * FROM orders WHERE ${templateId} = $1`,
    operation: 'select',
    tables: ['orders'],
    queries,
    rowsRead: queries * 10,
    rowsWritten: 0,
    latencySumMs,
    latencyP50Ms: null,
    latencyP95Ms: null,
    predicates: [],
    groupBy: [],
    aggregates: [],
    joins: [],
  });
  const total = (start: number, templates: ReturnType<typeof t>[]) => ({ ...agg('tpl|total', start, 10), source: 'tpl', templates });
  const rows = [total(100_000, [t('slow', 2, 400), t('fast', 8, 8)]), total(110_000, [t('slow', 3, 600)])].map(aggregateRow);
  await insertRows(ch, db, 'aggregates', rows);
  await insertRows(ch, db, 'aggregates', rows.slice(0, 1)); // redelivery: FINAL keeps one
  const hot = await queryRows<{ template_id: string; total_queries: string; mean_latency_ms: number; total_rows_read: string }>(
    ch,
    CANNED_QUERIES.find((q) => q.name === 'hot-templates')!.sql(db, 5, { since: 100_000 }),
  );
  assert.deepEqual(
    hot.map((h) => [h.template_id, Number(h.total_queries), Number(h.mean_latency_ms), Number(h.total_rows_read)]),
    [
      ['slow', 5, 200, 50],
      ['fast', 8, 1, 80],
    ],
  );
});
