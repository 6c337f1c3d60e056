/** Pure checks of the ClickHouse and Kafka executors: whitelists, engine re-rendering, names, batches. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkPartitionKey,
  checkPrecompute,
  isWorkName,
  renderEngine,
  renderPrecompute,
  workNames,
  type TableMeta,
} from '../../executors/clickhouse/checks.js';
import { batchesOf } from '../../executors/clickhouse/batches.js';
import { hashArgs } from '../../executors/clickhouse/repartition.js';
import type { Part } from '../../executors/clickhouse/store.js';
import { isPlainIdentifier, isTopicName, quoteToken } from '../../stores/identifiers.js';
import { topicAlias } from '../../executors/kafka/adapter.js';

const cols = new Map([
  ['id', 'UInt64'],
  ['ts', 'DateTime'],
  ['ts64', "DateTime64(3, 'UTC')"],
  ['d', 'Date'],
  ['k', 'String'],
  ['v', 'Float64'],
  ['n', 'Nullable(Int32)'],
  ['arr', 'Array(UInt8)'],
  ['ver', 'UInt32'],
]);

test('partition keys: each template renders quoted SQL and the server-side canonical form', () => {
  const cases: [Record<string, string>, string, string][] = [
    [{ partitionBy: 'toYYYYMM', partitionColumn: 'ts' }, 'toYYYYMM("ts")', 'toYYYYMM(ts)'],
    [{ partitionBy: 'toDate', partitionColumn: 'ts64' }, 'toDate("ts64")', 'toDate(ts64)'],
    [{ partitionBy: 'toMonday', partitionColumn: 'd' }, 'toMonday("d")', 'toMonday(d)'],
    [{ partitionBy: 'intDiv', partitionColumn: 'id', partitionN: '1000' }, 'intDiv("id", 1000)', 'intDiv(id, 1000)'],
    [{ partitionBy: 'hashMod', partitionColumn: 'k', partitionN: '8' }, 'cityHash64("k") % 8', 'cityHash64(k) % 8'],
    [{ partitionBy: 'column', partitionColumn: 'k' }, '"k"', 'k'],
    [{ partitionBy: 'none' }, 'tuple()', ''],
  ];
  for (const [params, sql, canonical] of cases) {
    const r = checkPartitionKey(params, cols);
    assert.ok(r.ok, JSON.stringify(params));
    assert.equal(r.value.sql, sql);
    assert.equal(r.value.canonical, canonical);
  }
});

test('partition keys: anything off the whitelist is refused with a reason', () => {
  const bad: [Record<string, string>, RegExp][] = [
    [{ partitionBy: 'toYYYYMM(ts)' }, /not one of/],
    [{ partitionBy: 'toYYYYMM', partitionColumn: 'ts) ; DROP TABLE t' }, /not a plain column name/],
    [{ partitionBy: 'toYYYYMM', partitionColumn: 'k' }, /needs a Date or DateTime/],
    [{ partitionBy: 'toYYYYMM', partitionColumn: 'missing' }, /does not exist/],
    [{ partitionBy: 'column', partitionColumn: 'n' }, /nullable/],
    [{ partitionBy: 'column', partitionColumn: 'v' }, /cannot be a partition key/],
    [{ partitionBy: 'column', partitionColumn: 'arr' }, /cannot be a partition key/],
    [{ partitionBy: 'intDiv', partitionColumn: 'ts', partitionN: '10' }, /integer column/],
    [{ partitionBy: 'intDiv', partitionColumn: 'id', partitionN: '0' }, /outside/],
    [{ partitionBy: 'intDiv', partitionColumn: 'id' }, /not a whole number/],
    [{ partitionBy: 'hashMod', partitionColumn: 'k', partitionN: '1025' }, /outside 2\.\.1024/],
    [{ partitionBy: 'hashMod', partitionColumn: 'k', partitionN: '4 OR 1' }, /not a whole number/],
  ];
  for (const [params, reason] of bad) {
    const r = checkPartitionKey(params, cols);
    assert.ok(!r.ok, JSON.stringify(params));
    assert.match(r.reason, reason);
  }
});

const meta = (engineFull: string, extra: Partial<TableMeta> = {}): TableMeta => ({
  engine: engineFull.split(/[ (]/)[0]!,
  engineFull,
  partitionKey: 'toYYYYMM(ts)',
  sortingKey: 'id, ts',
  primaryKey: 'id, ts',
  samplingKey: '',
  ...extra,
});

test('engine clause: re-rendered from structured fields for 18.16 and current formats', () => {
  const newKey = 'cityHash64("k") % 4';
  const r1 = renderEngine(meta('MergeTree() PARTITION BY toYYYYMM(ts) ORDER BY (id, ts) SETTINGS index_granularity = 8192'), cols, newKey);
  assert.ok(r1.ok);
  assert.equal(r1.value, 'MergeTree() PARTITION BY cityHash64("k") % 4 ORDER BY ("id", "ts") SETTINGS index_granularity = 8192');
  const r2 = renderEngine(meta('MergeTree PARTITION BY toYYYYMM(ts) ORDER BY (id, ts) SETTINGS index_granularity = 8192'), cols, newKey);
  assert.ok(r2.ok);
  assert.equal(r2.value, r1.value);
  const r3 = renderEngine(
    meta('ReplacingMergeTree(ver) ORDER BY id SETTINGS index_granularity = 8192', { partitionKey: '', sortingKey: 'id', primaryKey: 'id' }),
    cols,
    'toDate("ts")',
  );
  assert.ok(r3.ok);
  assert.equal(r3.value, 'ReplacingMergeTree("ver") PARTITION BY toDate("ts") ORDER BY "id" SETTINGS index_granularity = 8192');
  const r4 = renderEngine(meta('MergeTree ORDER BY tuple()', { sortingKey: '', primaryKey: '' }), cols, 'tuple()');
  assert.ok(r4.ok);
  assert.equal(r4.value, 'MergeTree() PARTITION BY tuple() ORDER BY tuple()');
  const r5 = renderEngine(
    meta('MergeTree ORDER BY (id, ts) PRIMARY KEY id SAMPLE BY id', { primaryKey: 'id', samplingKey: 'id' }),
    cols,
    'tuple()',
  );
  assert.ok(r5.ok);
  assert.equal(r5.value, 'MergeTree() PARTITION BY tuple() ORDER BY ("id", "ts") PRIMARY KEY "id" SAMPLE BY "id"');
});

test('engine clause: what cannot be re-rendered faithfully is refused', () => {
  const bad: [TableMeta, RegExp][] = [
    [meta("ReplicatedMergeTree('/zk/t', 'r1') ORDER BY id"), /not supported/],
    [meta('Log'), /not supported/],
    [meta('MergeTree(d, (id, ts), 8192)'), /not a plain column list|not a column/],
    [meta('MergeTree(d, id, 8192)'), /not a column/],
    [meta('MergeTree PARTITION BY toYYYYMM(ts) ORDER BY (id, ts) TTL ts + toIntervalDay(1) SETTINGS index_granularity = 8192'), /TTL/],
    [meta('MergeTree ORDER BY (id, intHash32(k))', { sortingKey: 'id, intHash32(k)', primaryKey: 'id, intHash32(k)' }), /sorting key/],
    [meta("MergeTree ORDER BY (id, ts) SETTINGS storage_policy = 'x; DROP'"), /setting/],
    [meta('MergeTree ORDER BY (id, ts) PRIMARY KEY ts', { primaryKey: 'ts' }), /prefix/],
  ];
  for (const [m, reason] of bad) {
    const r = renderEngine(m, cols, 'tuple()');
    assert.ok(!r.ok, m.engineFull);
    assert.match(r.reason, reason);
  }
});

test('work table names: deterministic per command, plain identifiers, recognisable', () => {
  const a = workNames('a_very_long_table_name_that_goes_on_and_on_and_on', 'cmd-1');
  assert.deepEqual(a, workNames('a_very_long_table_name_that_goes_on_and_on_and_on', 'cmd-1'));
  assert.notEqual(a.shadow, workNames('a_very_long_table_name_that_goes_on_and_on_and_on', 'cmd-2').shadow);
  for (const n of Object.values(a)) {
    assert.ok(isPlainIdentifier(n), n);
    assert.ok(isWorkName(n), n);
  }
  assert.ok(!isWorkName('orders'));
});

test('precompute: whitelisted templates with sc_ output names only', () => {
  const ok = checkPrecompute({ template: 'daily_sum', groupBy: 'ts', value: 'id' }, cols);
  assert.ok(ok.ok);
  assert.equal(renderPrecompute(ok.value), 'toDate("ts") AS sc_grp, count() AS sc_n, sum(toInt64("id")) AS sc_total');
  const c = checkPrecompute({ template: 'count_by', groupBy: 'k' }, cols);
  assert.ok(c.ok);
  assert.equal(renderPrecompute(c.value), '"k" AS sc_grp, count() AS sc_n');
  for (const [params, reason] of [
    [{ template: 'sum_by', groupBy: 'k', value: 'k' }, /not numeric/],
    [{ template: 'daily_sum', groupBy: 'k', value: 'v' }, /cannot be grouped/],
    [{ template: 'count_by', groupBy: 'n' }, /cannot be grouped/],
    [{ template: 'raw_sql', groupBy: 'k' }, /not one of/],
    [{ template: 'count_by', groupBy: 'k', name: 'x y' }, /not a plain identifier/],
  ] as [Record<string, string>, RegExp][]) {
    const r = checkPrecompute(params, cols);
    assert.ok(!r.ok, JSON.stringify(params));
    assert.match(r.reason, reason);
  }
  assert.ok(!checkPrecompute({ template: 'count_by', groupBy: 'k' }, new Map([...cols, ['sc_n', 'UInt64']])).ok);
});

test('copy batches: whole partitions joined up to the byte bound, a bigger one split by parts', () => {
  const part = (name: string, partitionId: string, bytes: number): Part => ({
    name,
    partitionId,
    bytes,
    rows: 1,
    minBlock: 0,
    maxBlock: 0,
  });
  const parts = [
    part('a1', 'a', 50),
    part('a2', 'a', 60),
    part('a3', 'a', 500),
    part('b1', 'b', 10),
    part('b2', 'b', 10),
    part('c1', 'c', 30),
    part('d1', 'd', 50),
    part('d2', 'd', 25),
  ];
  assert.deepEqual(
    batchesOf(parts, 100).map((b) => b.map((x) => x.name)),
    [['a1'], ['a2'], ['a3'], ['b1', 'b2', 'c1'], ['d1', 'd2']],
  );
  assert.deepEqual(
    batchesOf(parts, 1e9).map((b) => b.map((x) => x.name)),
    [parts.map((x) => x.name)],
  );
  assert.deepEqual(batchesOf([], 100), []);
});

test('literals and topic names: only catalog tokens pass', () => {
  assert.equal(quoteToken('202401_1_1_0'), "'202401_1_1_0'");
  assert.throws(() => quoteToken("x' OR '1"));
  assert.throws(() => quoteToken('a\\b'));
  assert.ok(isTopicName('shardcast.telemetry.queries'));
  assert.ok(!isTopicName('x; rm'));
  assert.ok(!isTopicName('..'));
  assert.ok(!isTopicName('a'.repeat(250)));
  assert.equal(topicAlias('shardcast.telemetry-queries'), 'shardcast_telemetry_queries');
});

test('checksum arguments: a nullable column cannot drop its row from the sum', () => {
  assert.equal(hashArgs(['id', 'n'], new Set(['n'])), '"id", isNull("n"), assumeNotNull("n")');
});
