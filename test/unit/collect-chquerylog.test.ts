import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type QueryLogRow, advanceCursor, eventFromQueryLog } from '../../collectors/chQueryLog.js';

const T = 1_700_000_000_000;
const row = (over: Partial<QueryLogRow> = {}): QueryLogRow => ({
  query_id: 'q1',
  ts_ms: String(T),
  type: 2,
  query_duration_ms: '12',
  read_rows: '500',
  written_rows: '0',
  query: 'SELECT region, sum(amount) FROM sales WHERE day = 3 GROUP BY region',
  user: 'default',
  http_user_agent: 'orders-app/1.0',
  is_initial_query: 1,
  ...over,
});
const opts = { source: 'clickhouse', node: 'ch1', database: 'shop', ignoreClients: ['shardcast'] };

test('a finished query becomes a QueryEvent with duration, rows, client and status', () => {
  const { event } = eventFromQueryLog(row(), opts);
  assert.ok(event);
  assert.equal(event.eventId, 'clickhouse:q1:2');
  assert.equal(event.ts, T);
  assert.equal(event.dialect, 'clickhouse');
  assert.equal(event.database, 'shop');
  assert.equal(event.operation, 'select');
  assert.equal(event.durationMs, 12);
  assert.equal(event.rowsRead, 500);
  assert.equal(event.client, 'orders-app/1.0');
  assert.equal(event.status, 'ok');
  assert.equal(eventFromQueryLog(row({ type: '4' }), opts).event?.status, 'error');
  const insert = eventFromQueryLog(row({ query: 'INSERT INTO t SELECT number FROM system.numbers LIMIT 5', written_rows: 5 }), opts).event;
  assert.equal(insert?.rowsWritten, 5, 'an insert from a system table is workload');
});

test('starts, sub-queries, system reads, empty queries and shardcast’s own client are skipped with a reason', () => {
  const skipped = (r: QueryLogRow) => eventFromQueryLog(r, opts).skipped;
  assert.equal(skipped(row({ type: 1 })), 'not a finished query');
  assert.equal(skipped(row({ is_initial_query: '0' })), 'a distributed sub-query');
  assert.equal(skipped(row({ query: 'SELECT * FROM system.query_log' })), 'a query of system tables');
  assert.equal(skipped(row({ query: '  ' })), 'empty query');
  assert.equal(skipped(row({ http_user_agent: 'shardcast clickhouse-js/1.0' })), 'an ignored client');
});

test('the cursor keeps the newest second and the queries read in it', () => {
  let c = { tsMs: T - 1000, seenAtTs: [] as string[] };
  c = advanceCursor(c, [row({ query_id: 'a', ts_ms: T - 1000 }), row({ query_id: 'b', ts_ms: T }), row({ query_id: 'c', ts_ms: T })]);
  assert.deepEqual(c, { tsMs: T, seenAtTs: ['b:2', 'c:2'] });
  c = advanceCursor(c, [row({ query_id: 'c', ts_ms: T }), row({ query_id: 'd', ts_ms: T })]);
  assert.deepEqual(c.seenAtTs, ['b:2', 'c:2', 'd:2']);
  assert.deepEqual(advanceCursor(c, []), c);
});
