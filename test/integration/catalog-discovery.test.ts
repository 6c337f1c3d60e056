/**
 * Catalog discovery against the real stack: a sharded PostgreSQL table (with a materialized
 * view over one shard and a node-local table with a view), a ClickHouse table with two
 * materialized views (one with its own storage, one writing TO a target), and a Kafka topic are
 * created under unique names; discovery finds them with their partitions, placement, row
 * counts and lineage; where / hot / deps answer from the graph; dropped objects are reported
 * vanished by the next discovery and no longer answered with. A scope that does not answer is
 * never taken for vanished (pure diff check).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createClickHouse } from '../../analytics/clickhouse.js';
import { dropShardedTable } from '../../stores/postgres/tables.js';
import { physicalName } from '../../stores/postgres/keys.js';
import { createOrdersTable } from '../../demo/ordersTable.js';
import { seedRows } from '../../demo/workload.js';
import { createCatalogDriver, ensureCatalogSchema } from '../../catalog/neo4j.js';
import { Discovery } from '../../catalog/discover.js';
import { diffSnapshot, type CatalogDiff, type Snapshot } from '../../catalog/snapshot.js';
import { dependents, hot, resolve, whereKey, kafkaPartitionFor } from '../../catalog/query.js';
import { recordAggregates } from '../../catalog/sync.js';
import { tableId } from '../../catalog/graph.js';
import { createKafka } from '../../topics/kafka.js';
import type { TemplateStats, WorkloadAggregate } from '../../schemas/types.js';
import { recordTemplates, templateNodeId } from '../../catalog/templates.js';
import { aggregateOf, cfg, eventually, uniq } from './helpers.js';

const id = uniq('cat').replace(/[^a-z0-9]/g, '_');
const T = `t_${id}`.slice(0, 40);
const PG_MV = `mv_${id}`.slice(0, 40);
const PG_LOCAL = `l_${id}`.slice(0, 40);
const PG_VIEW = `v_${id}`.slice(0, 40);
const CH_DB = cfg.clickhouseDatabase;
const CH_SRC = `src_${id}`;
const CH_MV = `mv_${id}`;
const CH_MV2 = `mv2_${id}`;
const CH_TGT = `tgt_${id}`;
const TOPIC = `cat-${id}`;
const SOURCE = `telemetry_${id}`;

const driver = createCatalogDriver(cfg);
const discovery = Discovery.open(cfg, driver);
const ch = createClickHouse(cfg);
const admin = createKafka(cfg, 'catalog-discovery-test').admin();
const pgc = (node: number) => new pg.Client({ connectionString: cfg.pgNodes[node]!, connectionTimeoutMillis: 5000 });
let db = '';
let topicDeleted = false;

async function pgExec(node: number, sql: string): Promise<void> {
  const c = pgc(node);
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

async function records(query: string, params: Record<string, unknown> = {}) {
  return (await driver.executeQuery(query, params)).records.map((r) => r.toObject());
}

before(async () => {
  // A server that does not answer fails here: no skips.
  await ensureCatalogSchema(driver);
  await admin.connect();
  await createOrdersTable(cfg, T, [
    { shard: 's0', lo: null, hi: 100, node: 'node0' },
    { shard: 's1', lo: 100, hi: null, node: 'node1' },
  ]);
  await seedRows(cfg, T, 0, 130);
  // A precomputation over shard s1 (as the executor's precompute makes them), and node-local objects.
  await pgExec(
    1,
    `CREATE MATERIALIZED VIEW public."${PG_MV}" AS SELECT customer_id, count(*) AS n FROM public."${physicalName(T, 's1')}" GROUP BY customer_id`,
  );
  await pgExec(
    2,
    `CREATE TABLE public."${PG_LOCAL}" (k int PRIMARY KEY, v text); INSERT INTO public."${PG_LOCAL}" SELECT g, 'x' FROM generate_series(1, 7) g;
                   CREATE VIEW public."${PG_VIEW}" AS SELECT k FROM public."${PG_LOCAL}" WHERE k > 2; ANALYZE public."${PG_LOCAL}"`,
  );
  for (const n of [0, 1]) await pgExec(n, `ANALYZE public."${physicalName(T, n === 0 ? 's0' : 's1')}"`);

  await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${CH_DB}` }); // a fresh server has only `default`
  await ch.command({
    query: `CREATE TABLE ${CH_DB}.${CH_SRC} (d Date, k UInt64, v UInt64) ENGINE = MergeTree() PARTITION BY toYYYYMM(d) ORDER BY k`,
  });
  await ch.command({
    query: `CREATE MATERIALIZED VIEW ${CH_DB}.${CH_MV} ENGINE = SummingMergeTree() ORDER BY k AS SELECT k, sum(v) AS v FROM ${CH_DB}.${CH_SRC} GROUP BY k`,
  });
  await ch.command({ query: `CREATE TABLE ${CH_DB}.${CH_TGT} (k UInt64, v UInt64) ENGINE = SummingMergeTree() ORDER BY k` });
  await ch.command({ query: `CREATE MATERIALIZED VIEW ${CH_DB}.${CH_MV2} TO ${CH_DB}.${CH_TGT} AS SELECT k, v FROM ${CH_DB}.${CH_SRC}` });
  await ch.command({ query: `INSERT INTO ${CH_DB}.${CH_SRC} VALUES ('2024-01-05', 1, 10), ('2024-01-06', 2, 20), ('2024-02-01', 3, 30)` });

  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: TOPIC, numPartitions: 3, replicationFactor: 1 }] });
  const producer = createKafka(cfg, 'catalog-discovery-test').producer();
  await producer.connect();
  await producer.send({
    topic: TOPIC,
    messages: [
      { key: 'k1', value: 'a' },
      { key: 'k1', value: 'b' },
    ],
  });
  await producer.disconnect();
  const c = pgc(0);
  await c.connect();
  db = (await c.query<{ d: string }>('SELECT current_database() AS d')).rows[0]!.d;
  await c.end();
});

after(async () => {
  await dropShardedTable(cfg, T).catch(() => undefined);
  await pgExec(1, `DROP MATERIALIZED VIEW IF EXISTS public."${PG_MV}"`).catch(() => undefined);
  await pgExec(2, `DROP VIEW IF EXISTS public."${PG_VIEW}"; DROP TABLE IF EXISTS public."${PG_LOCAL}"`).catch(() => undefined);
  for (const t of [CH_MV2, CH_MV, CH_TGT, CH_SRC]) await ch.command({ query: `DROP TABLE IF EXISTS ${CH_DB}.${t}` }).catch(() => undefined);
  if (!topicDeleted) await admin.deleteTopics({ topics: [TOPIC] }).catch(() => undefined);
  await driver
    .executeQuery(`MATCH (x) WHERE (x:Table OR x:Partition OR x:Topic OR x:Series OR x:Template) AND x.id CONTAINS $id DETACH DELETE x`, {
      id,
    })
    .catch(() => undefined);
  await discovery.close();
  await admin.disconnect();
  await ch.close();
  await driver.close();
});

const pgTable = () => tableId({ source: 'pg-shards', database: db, name: T });
const chId = (name: string) => tableId({ source: 'clickhouse', database: CH_DB, name });

test('discovery finds the new objects with partitions, placement, row counts and lineage', { timeout: 120_000 }, async () => {
  const report = await discovery.discoverAll();
  assert.deepEqual(report.failed, [], 'every source answered');
  const added = new Set(report.diffs.flatMap((d) => d.added.map((a) => a.id)));
  for (const x of [
    pgTable(),
    `${pgTable()}/s0`,
    `${pgTable()}/s1`,
    chId(CH_SRC),
    chId(CH_MV),
    chId(CH_MV2),
    chId(CH_TGT),
    `kafka/${TOPIC}`,
  ]) {
    assert.ok(added.has(x), `${x} reported new`);
  }

  // PostgreSQL: shards as range partitions on their nodes, with the rows each holds.
  const parts = await eventually(
    async () => {
      await discovery.discover(discovery.byKind('postgres')!, { table: T });
      const rows = await records(
        `MATCH (t:Table {id: $id})-[:HAS_PARTITION]->(p:Partition)-[:PLACED_ON {role: 'primary'}]->(n:Node)
       WHERE p.vanishedAt IS NULL RETURN p.name AS p, p.loText AS lo, p.hiText AS hi, p.rows AS rows, n.name AS node, t.kind AS kind, t.rows AS total ORDER BY p`,
        { id: pgTable() },
      );
      // n_live_tup reaches the statistics a moment after the insert commits
      return rows.length === 2 && rows[0]!.rows === 100 && rows[1]!.rows === 30 ? rows : undefined;
    },
    30_000,
    'shard row counts in the graph',
  );
  assert.deepEqual(
    parts.map((p) => [p.p, p.lo, p.hi, p.rows, p.node, p.kind, p.total]),
    [
      ['s0', null, '100', 100, 'node0', 'sharded', 130],
      ['s1', '100', null, 30, 'node1', 'sharded', 130],
    ],
  );
  const local = await records(
    `MATCH (d:Database)-[:HAS_TABLE]->(t:Table {name: $name})-[:HAS_PARTITION]->(p:Partition)-[:PLACED_ON]->(n:Node), (d)-[:ON_NODE]->(n)
     RETURN t.kind AS kind, p.rows AS rows, n.name AS node, d.name AS db`,
    { name: `public.${PG_LOCAL}` },
  );
  assert.deepEqual(local, [{ kind: 'table', rows: 7, node: 'node2', db: `${db}@node2` }]);

  // ClickHouse: one partition per month with its rows; the MV's inner storage folded into it.
  const chParts = await records(
    `MATCH (t:Table {id: $id})-[:HAS_PARTITION]->(p:Partition) RETURN p.name AS p, p.rows AS rows, p.kind AS kind ORDER BY p`,
    { id: chId(CH_SRC) },
  );
  assert.deepEqual(chParts, [
    { p: '202401', rows: 2, kind: 'value' },
    { p: '202402', rows: 1, kind: 'value' },
  ]);
  const inner = await records('MATCH (t:Table) WHERE t.id = $id RETURN t', { id: chId(`.inner.${CH_MV}`) });
  assert.equal(inner.length, 0, 'the .inner table is folded into its view');
  const mv = await records(`MATCH (t:Table {id: $id}) RETURN t.kind AS kind, t.rows AS rows`, { id: chId(CH_MV) });
  assert.deepEqual(mv, [{ kind: 'materialized_view', rows: 3 }]);

  // Kafka: the topic, a hash partition per topic partition, messages counted.
  const topic = await records(
    `MATCH (t:Topic {id: $id})-[:HAS_PARTITION]->(p:Partition)-[:PLACED_ON {role: 'primary'}]->(n:Node)
     RETURN t.partitions AS n, t.messages AS messages, collect(p.name) AS parts, count(DISTINCT n) AS brokers`,
    { id: `kafka/${TOPIC}` },
  );
  assert.equal(topic[0]!.n, 3);
  assert.equal(topic[0]!.messages, 2);
  assert.deepEqual([...(topic[0]!.parts as string[])].sort(), ['0', '1', '2']);
  assert.ok((topic[0]!.brokers as number) >= 1);

  // Sources carry kind and a measured latency.
  const sources = await records(
    `MATCH (s:DataSource) WHERE s.id IN ['pg-shards', 'clickhouse', 'kafka'] RETURN s.id AS id, s.kind AS kind, s.latencyMs AS ms ORDER BY id`,
  );
  assert.deepEqual(
    sources.map((s) => [s.id, s.kind]),
    [
      ['clickhouse', 'warehouse'],
      ['kafka', 'streaming'],
      ['pg-shards', 'oltp'],
    ],
  );
  for (const s of sources) assert.ok(typeof s.ms === 'number' && s.ms >= 0, `${s.id} latency measured`);

  // A second discovery of an unchanged federation reports nothing new about these objects.
  const again = await discovery.discoverAll();
  const ours = (d: CatalogDiff) => [...d.added, ...d.vanished].filter((x) => x.id.includes(id));
  assert.deepEqual(again.diffs.flatMap(ours), []);
});

test('where a key lives, what depends on a table, what is hot', { timeout: 60_000 }, async () => {
  const [t] = await resolve(driver, T);
  assert.ok(t, 'the sharded table resolves by name');
  const w5 = await whereKey(driver, t, '5');
  assert.deepEqual(
    w5.partitions.map((p) => [p.partition, p.nodes]),
    [['s0', [{ node: 'node0', role: 'primary' }]]],
  );
  const w = await whereKey(driver, t, '100');
  assert.deepEqual(
    w.partitions.map((p) => [p.partition, p.nodes[0]?.node]),
    [['s1', 'node1']],
  );
  const big = await whereKey(driver, t, '9223372036854775807');
  assert.deepEqual(
    big.partitions.map((p) => p.partition),
    ['s1'],
    'the largest bigint key is found exactly',
  );

  // Kafka: the partition the default partitioner picked is the one that holds the messages.
  const [tp] = await resolve(driver, TOPIC);
  const wk = await whereKey(driver, tp!, 'k1');
  const offsets = await admin.fetchTopicOffsets(TOPIC);
  const holding = offsets.filter((o) => Number(o.high) > 0).map((o) => String(o.partition));
  assert.deepEqual(
    wk.partitions.map((p) => p.partition),
    holding,
  );
  assert.equal(String(kafkaPartitionFor('k1', 3)), holding[0]);

  // Lineage, transitively: src ← mv (own storage), src ← mv2 ← tgt (MV TO target).
  const [src] = await resolve(driver, `${CH_DB}.${CH_SRC}`);
  const deps = await dependents(driver, src!);
  const sorted = (xs: unknown[][]) => xs.map((x) => JSON.stringify(x)).sort();
  assert.deepEqual(
    sorted(deps.map((d) => [d.name, d.depth, d.via])),
    sorted([
      [CH_MV, 1, 'materialized_view'],
      [CH_MV2, 1, 'materialized_view'],
      [CH_TGT, 2, 'mv_target'],
    ]),
  );
  assert.deepEqual(
    deps.map((d) => d.depth),
    [1, 1, 2],
    'nearest first',
  );
  const pgDeps = await dependents(driver, t);
  assert.deepEqual(
    pgDeps.map((d) => [d.name, d.kind]),
    [[`public.${PG_MV}`, 'materialized_view']],
  );
  const [lt] = await resolve(driver, `public.${PG_LOCAL}`);
  assert.deepEqual(
    (await dependents(driver, lt!)).map((d) => [d.name, d.kind]),
    [[`public.${PG_VIEW}`, 'view']],
  );

  // Hot: load recorded from aggregates; a bucket's load lands on the partitions it overlaps.
  const now = Date.now();
  const agg = (bucket: string, queries: number, co: { other: string; count: number }[] = []): WorkloadAggregate => ({
    seriesId: `${SOURCE}|${T}|${bucket}`,
    windowStart: now - 10_000,
    windowEnd: now,
    source: SOURCE,
    table: T,
    keyBucket: bucket,
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
    hotKeys: [{ key: '150', count: 7, error: 0 }],
    coAccess: co,
  });
  // Far above anything else recorded recently, so the ranking is this test's to check.
  const keys = { [T]: { column: 'id', bounds: [100] } };
  await recordAggregates(driver, [agg('k0', 5_000_000, [{ other: `${T}|k1`, count: 40 }]), agg('k1', 9_000_000)], keys);
  await recordAggregates(driver, [{ ...agg('k1', 1), windowStart: now - 20_000, windowEnd: now - 10_000 }], keys); // an older window changes nothing
  const h = await hot(driver, { limit: 2 });
  assert.deepEqual(
    h.series.map((s) => [s.seriesId, s.queries, s.partitions.map((p) => p.partition)]),
    [
      [`${SOURCE}|${T}|k1`, 9_000_000, ['s1']],
      [`${SOURCE}|${T}|k0`, 5_000_000, ['s0']],
    ],
  );
  assert.deepEqual(
    h.partitions.slice(0, 2).map((p) => [p.id, p.queries]),
    [
      [`${pgTable()}/s1`, 9_000_000],
      [`${pgTable()}/s0`, 5_000_000],
    ],
  );
  const co = await records(`MATCH (a:Series {id: $a})-[e:CO_ACCESSED]->(b:Series {id: $b}) RETURN e.weight AS w`, {
    a: `${SOURCE}|${T}|k0`,
    b: `${SOURCE}|${T}|k1`,
  });
  assert.deepEqual(co, [{ w: 40 }]);
});

test('template profiles: a Template per source and template, with the newest window, reading its table', async () => {
  const now = Date.now();
  const template = (queries: number): TemplateStats => ({
    templateId: `tpl_${id}`,
    template: `SELECT * FROM ${T} WHERE customer_id = $1 AND updated_at > $2`,
    operation: 'select',
    tables: [T],
    queries,
    rowsRead: queries * 3,
    rowsWritten: 0,
    latencySumMs: queries * 12,
    latencyP50Ms: 10,
    latencyP95Ms: 20,
    predicates: [
      { table: T, column: 'customer_id', op: '=' },
      { table: T, column: 'updated_at', op: '>' },
    ],
    groupBy: [],
    aggregates: [],
    joins: [],
  });
  const total = (windowStart: number, queries: number): WorkloadAggregate =>
    aggregateOf({
      seriesId: `pg-shards|*|*|${id}`,
      source: 'pg-shards',
      windowStart,
      windowEnd: windowStart + 10_000,
      queries,
      templates: [template(queries)],
    });
  await recordTemplates(driver, [total(now - 20_000, 5), total(now - 10_000, 8)]);
  await recordTemplates(driver, [total(now - 30_000, 1)]); // an older window changes nothing
  const rows = await records(
    `MATCH (t:Template {id: $tid})-[:READS]->(tb:Table {id: $table})
     RETURN t.queries AS queries, t.latencyMeanMs AS mean, t.predicateColumns AS columns`,
    { tid: templateNodeId('pg-shards', `tpl_${id}`), table: pgTable() },
  );
  assert.deepEqual(rows, [{ queries: 8, mean: 12, columns: ['customer_id', 'updated_at'] }]);
});

test('dropped objects are reported vanished and no longer answered with', { timeout: 120_000 }, async () => {
  await dropShardedTable(cfg, T);
  await ch.command({ query: `DROP TABLE ${CH_DB}.${CH_MV}` });
  await admin.deleteTopics({ topics: [TOPIC] });
  topicDeleted = true;
  const vanished = new Set<string>();
  await eventually(
    async () => {
      const r = await discovery.discoverAll();
      assert.deepEqual(r.failed, []);
      for (const d of r.diffs) for (const v of d.vanished) vanished.add(v.id);
      // topic deletion completes asynchronously in the broker
      return [pgTable(), `${pgTable()}/s0`, `${pgTable()}/s1`, chId(CH_MV), `kafka/${TOPIC}`].every((x) => vanished.has(x))
        ? true
        : undefined;
    },
    60_000,
    `vanished reports (got ${[...vanished].filter((x) => x.includes(id)).join(', ')})`,
  );
  assert.ok(!vanished.has(chId(CH_SRC)) && !vanished.has(chId(CH_MV2)), 'what still exists did not vanish');
  assert.deepEqual(await resolve(driver, T), [], 'a vanished table is not answered with');
  const placed = await records(`MATCH (p:Partition)-[:PLACED_ON]->() WHERE p.id STARTS WITH $id RETURN count(*) AS n`, {
    id: `${pgTable()}/`,
  });
  assert.equal(placed[0]!.n, 0, 'vanished partitions are placed nowhere');
  const [src] = await resolve(driver, `${CH_DB}.${CH_SRC}`);
  assert.deepEqual(
    (await dependents(driver, src!)).map((d) => d.name),
    [CH_MV2, CH_TGT],
    'the dropped view is no longer a dependent',
  );
});

test('a scope that did not answer is not taken for vanished', () => {
  const snap: Snapshot = {
    source: { id: 'pg-x', kind: 'oltp', engine: 'postgresql', endpoint: 'x' },
    scopes: ['route/', 'node/node0/'],
    nodes: [],
    databases: [],
    topics: [],
    lineage: [],
    partitions: [],
    tables: [{ source: 'pg-x', database: 'db', name: 'a', scope: 'route/a/' }],
    unreachable: [{ scope: 'node/node1/', reason: 'connection refused' }],
  };
  const d = diffSnapshot(
    snap,
    [
      { label: 'Table', id: 'pg-x/db/a', scope: 'route/a/', vanished: false },
      { label: 'Table', id: 'pg-x/db/b', scope: 'route/b/', vanished: false },
      { label: 'Table', id: 'pg-x/db@node1/public.l', scope: 'node/node1/', vanished: false },
      { label: 'Table', id: 'pg-x/db@node0/public.m', scope: 'node/node0/', vanished: true },
    ],
    1,
  );
  assert.deepEqual(
    d.vanished.map((v) => v.id),
    ['pg-x/db/b'],
  );
  assert.deepEqual(d.added, []);
});
