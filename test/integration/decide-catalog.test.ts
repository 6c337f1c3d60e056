/**
 * The decision engine's proof, through the real stack: forecasts of rising load on one key range
 * of a fresh sharded table (nothing observed yet, the overload ahead) make the decide pipeline,
 * planning against the Neo4j catalog, issue a split on shardcast.commands.partition before the
 * load arrives; the executor carries it out and reports SUCCEEDED on shardcast.results; the
 * catalog pipeline records the command and its outcome and the graph shows the new partitions.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Consumer } from '../../lib/kafkajs.js';
import { dropShardedTable } from '../../stores/postgres/tables.js';
import { loadRoutes } from '../../stores/postgres/routing.js';
import { createOrdersTable } from '../../demo/ordersTable.js';
import { seedRows } from '../../demo/workload.js';
import { PgPools } from '../../stores/postgres/nodes.js';
import { openContext, type PipelineContext } from '../../pipelines/context.js';
import { startDecide } from '../../pipelines/decide.js';
import { startExecute } from '../../pipelines/execute.js';
import { startCatalog } from '../../pipelines/catalog.js';
import { whereKey, resolve } from '../../catalog/query.js';
import { createCatalogDriver } from '../../catalog/neo4j.js';
import type { RunningStage } from '../../pipelines/stage.js';
import type { AnyCommand, CommandResult, Forecast, PartitionCommand, ShardCommand } from '../../schemas/types.js';
import { COMMAND_TOPICS, TOPICS } from '../../schemas/topics.js';
import { risingForecast } from './console-fixture.js';
import { cfg as baseCfg, eventually, startAtLatest, uniq } from './helpers.js';

const id = uniq('dcat').replace(/[^a-z0-9]/g, '_');
const T = `t_${id}`.slice(0, 40);
const SOURCE = `src_${id}`;
const group = `decide-catalog-test-${id}`;
const STEP = 10_000;
const CAPACITY = 100;
// Buckets k0..k5: [.., 250) [250, 500) [500, 750) [750, 1000) [1000, 1500) [1500, ..)
const cfg = { ...baseCfg, partitionKeys: { [T]: { column: 'id', bounds: [250, 500, 750, 1000, 1500] } } };

let ctx: PipelineContext | null = null;
const stages: RunningStage[] = [];
let watcher: Consumer | null = null;

after(async () => {
  await watcher?.disconnect().catch(() => undefined);
  for (const s of stages.reverse()) await s.stop().catch(() => undefined);
  await ctx?.close();
  await dropShardedTable(cfg, T).catch(() => undefined);
  const driver = createCatalogDriver(cfg);
  await driver
    .executeQuery(`MATCH (x) WHERE (x:Table OR x:Partition OR x:Series) AND x.id CONTAINS $id DETACH DELETE x`, { id })
    .catch(() => undefined);
  await driver.executeQuery('MATCH (c:Command {table: $table}) DETACH DELETE c', { table: T }).catch(() => undefined);
  await driver.close();
});

/** A forecast made now for one key bucket: load rising by `slope` per step from `base`. */
const forecast = (bucket: string, base: number, slope: number, now: number): Forecast =>
  risingForecast(`${SOURCE}|${T}|${bucket}`, now - STEP, now, base, slope, STEP);

test('a forecast of rising load on one range splits it before the load, and the catalog reflects it', { timeout: 240_000 }, async () => {
  await createOrdersTable(cfg, T, [
    { shard: 's0', lo: null, hi: 1000, node: 'node0' },
    { shard: 's1', lo: 1000, hi: null, node: 'node1' },
  ]);
  await seedRows(cfg, T, 0, 1200);
  ctx = await openContext('decide-catalog-test', cfg);
  const admin = ctx.kafka.admin();
  await admin.connect();
  try {
    // one group at a time each, the groups side by side (each setOffsets joins its group)
    await Promise.all([
      startAtLatest(admin, `${group}-decide`, [TOPICS.forecasts.name, TOPICS.aggregates.name]),
      startAtLatest(admin, `${group}-execute`, Object.values(COMMAND_TOPICS)),
      startAtLatest(admin, `${group}-catalog`, [TOPICS.results.name, TOPICS.aggregates.name, ...Object.values(COMMAND_TOPICS)]),
      startAtLatest(admin, `${group}-watch`, [COMMAND_TOPICS.partition, COMMAND_TOPICS.shard, TOPICS.results.name]),
    ]);
  } finally {
    await admin.disconnect();
  }

  // What appears on the topics, decoded, as this test's own consumer sees it.
  const commands: PartitionCommand[] = [];
  const moves: (ShardCommand & { seenAt: number })[] = [];
  const results: (CommandResult & { seenAt: number })[] = [];
  const c = ctx.kafka.consumer({ groupId: `${group}-watch` });
  watcher = c;
  await c.connect();
  await c.subscribe({ topics: [COMMAND_TOPICS.partition, COMMAND_TOPICS.shard, TOPICS.results.name] });
  // Other tests put bad bytes on the shared topics (the dead-letter corpus): not ours, skipped.
  const serde = ctx.serde;
  const decode = <V>(topic: string, value: Buffer | null) => serde.decode<V>(topic, value).catch(() => null);
  await c.run({
    eachMessage: async ({ topic, message }) => {
      if (topic === COMMAND_TOPICS.partition) {
        const v = await decode<PartitionCommand>(topic, message.value);
        if (v?.table === T) commands.push(v);
      } else if (topic === COMMAND_TOPICS.shard) {
        const v = await decode<ShardCommand>(topic, message.value);
        if (v?.table === T) moves.push({ ...v, seenAt: Date.now() });
      } else {
        const v = await decode<CommandResult>(topic, message.value);
        if (v) results.push({ ...v, seenAt: Date.now() });
      }
    },
  });

  const via: string[] = [];
  const planned: AnyCommand[] = [];
  stages.push(await startCatalog(ctx, { groupId: `${group}-catalog`, kinds: ['postgres'], discoverEveryMs: 0 }));
  stages.push(await startExecute(ctx, { groupId: `${group}-execute` }));
  stages.push(
    await startDecide(ctx, {
      groupId: `${group}-decide`,
      source: SOURCE,
      nodeCapacity: CAPACITY,
      warmupWindows: 1,
      // The table is tiny (a split's minimum size is for real tables); steps match the forecasts;
      // placement actions only, so the answer to a hot range is to spread it, not to add a node.
      decide: { stepMs: STEP, horizonSteps: 12, decideEveryMs: STEP, split: { minSizeBytes: 0 }, actions: ['split', 'move'] },
      onState: (v) => via.push(v),
      onDecision: (cmds) => planned.push(...cmds),
    }),
  );

  // Rising load on [250, 750): two buckets of shard s0, together over a node's capacity from
  // the 7th step on (70 s ahead); nothing is observed now.
  const now = Date.now();
  await ctx.producer.send(
    TOPICS.forecasts.name,
    [forecast('k1', 5, 6.5, now), forecast('k2', 5, 6.5, now)].map((f) => ({ key: f.seriesId, value: f })),
  );

  const split = await eventually(
    async () => commands.find((x) => x.action === 'split'),
    90_000,
    `a split command for ${T} on ${COMMAND_TOPICS.partition}`,
  );
  assert.ok(via.length > 0 && via.every((v) => v === 'catalog'), `decide planned against the catalog (${via.join(',')})`);
  assert.equal(split.store, 'pg-shards');
  assert.equal(split.partition, 's0', 'the hot range is the one split');
  const at = Number(split.params.splitAt);
  assert.ok(at > 250 && at < 750, `split point ${at} inside the rising range`);
  assert.match(split.params.newShard ?? '', /^s[0-9]+$/, 'the split names the shard it creates');
  // Before the load: nothing observed now, the peak ahead of the decision.
  assert.ok(split.evidence.currentLoad < CAPACITY, `current load ${split.evidence.currentLoad} is below capacity`);
  assert.ok(
    split.evidence.peakAt !== null && split.evidence.peakAt > split.issuedAt + STEP,
    `peak ${split.evidence.peakAt} is ahead of issue time ${split.issuedAt}`,
  );
  assert.ok(split.evidence.forecastPeak > CAPACITY, `forecast peak ${split.evidence.forecastPeak} exceeds capacity`);

  const done = await eventually(
    async () =>
      results.find((r) => r.commandId === split.commandId && ['SUCCEEDED', 'FAILED', 'ROLLED_BACK', 'REJECTED'].includes(r.status)),
    120_000,
    `the executor's result for ${split.commandId}`,
  );
  assert.equal(done.status, 'SUCCEEDED', `split result: ${done.status} ${done.reason ?? ''}`);
  assert.ok(done.ts < split.evidence.peakAt!, 'the split finished before the forecast peak');

  // A move of a split's child, planned in the same round, waits for the split: it reaches the
  // command topic only after the split succeeded, names a shard that then exists, and succeeds.
  const follow = planned.filter(
    (x) => x.kind === 'shard' && x.table === T && (x.params.dependsOn ?? '').split(',').includes(split.commandId),
  );
  for (const f of follow) {
    const seen = await eventually(
      async () => moves.find((m) => m.commandId === f.commandId),
      30_000,
      `the held ${f.action} ${f.commandId} released`,
    );
    const splitDone = results.find((r) => r.commandId === split.commandId && r.status === 'SUCCEEDED')!;
    assert.ok(seen.seenAt >= splitDone.seenAt, 'released after the split succeeded');
    assert.ok(seen.partition === 's0' || seen.partition === split.params.newShard, `names a shard of the split (${seen.partition})`);
    const r = await eventually(
      async () => results.find((x) => x.commandId === f.commandId && ['SUCCEEDED', 'FAILED', 'ROLLED_BACK', 'REJECTED'].includes(x.status)),
      120_000,
      `the result of ${f.commandId}`,
    );
    assert.equal(r.status, 'SUCCEEDED', `${f.action} result: ${r.status} ${r.reason ?? ''}`);
    const cat = stages[0] as Awaited<ReturnType<typeof startCatalog>>;
    await eventually(
      async () => {
        const { records } = await cat.driver.executeQuery(
          `MATCH (c:Command {id: $id, status: 'SUCCEEDED'})-[:CHANGED]->(p:Partition {name: $p})-[:PLACED_ON {role: 'primary'}]->(n:Node {name: $node})
         WHERE p.vanishedAt IS NULL AND p.table = $table RETURN count(*) AS n`,
          { id: f.commandId, p: seen.partition, node: seen.targetNode, table: T },
        );
        return records[0]!.get('n') > 0 ? true : undefined;
      },
      60_000,
      `the catalog placing ${seen.partition} on ${seen.targetNode}`,
    );
  }

  // Every command issued for the table so far (planned and on a command topic) succeeded: a
  // planned command an executor rejects or fails is a bug, reported with its reason.
  const issued = planned.filter(
    (p) => p.kind !== 'resource' && p.table === T && [...commands, ...moves].some((x) => x.commandId === p.commandId),
  );
  for (const p of issued) {
    const r = await eventually(
      async () => results.find((x) => x.commandId === p.commandId && ['SUCCEEDED', 'FAILED', 'ROLLED_BACK', 'REJECTED'].includes(x.status)),
      120_000,
      `the result of ${p.action} ${p.commandId}`,
    );
    assert.equal(r.status, 'SUCCEEDED', `${p.action} ${p.commandId}: ${r.status} ${r.reason ?? ''}`);
  }

  // The routing map has the new layout; the catalog must show the same.
  const pools = new PgPools({ executor: false, max: 1 });
  const routes = await loadRoutes(pools.get(cfg.pgNodes[0]!), T).finally(() => pools.end());
  const newShard = split.params.newShard!;
  const range = (shard: string) => routes?.shards.filter((x) => x.shard === shard).map((x) => [x.lo, x.hi]);
  assert.deepEqual(range('s0'), [[null, String(at)]]);
  assert.deepEqual(range(newShard), [[String(at), '1000']]);
  const catalog = stages[0] as Awaited<ReturnType<typeof startCatalog>>;
  const driver = catalog.driver;
  const graph = await eventually(
    async () => {
      const { records } = await driver.executeQuery(
        `MATCH (c:Command {id: $id})-[:CHANGED]->(t:Table {name: $table, source: 'pg-shards'})
       MATCH (c)-[:CREATED]->(p:Partition)<-[:HAS_PARTITION]-(t)
       WHERE c.status = 'SUCCEEDED' AND p.vanishedAt IS NULL
       RETURN c.action AS action, p.name AS created, p.loText AS lo, p.hiText AS hi`,
        { id: split.commandId, table: T },
      );
      return records.length > 0 ? records.map((r) => r.toObject()) : undefined;
    },
    60_000,
    'the split recorded in the catalog with the partition it created',
  );
  assert.deepEqual(graph, [{ action: 'split', created: newShard, lo: String(at), hi: '1000' }]);
  const [table] = await resolve(driver, T);
  const left = await whereKey(driver, table!, String(at - 1));
  const right = await whereKey(driver, table!, String(at));
  assert.deepEqual(
    left.partitions.map((p) => [p.partition, p.lo, p.hi]),
    [['s0', null, String(at)]],
  );
  assert.deepEqual(
    right.partitions.map((p) => p.partition),
    [newShard],
  );
  // Rows were counted where they now live: the catalog's partitions add up to the table's rows.
  const rows = await eventually(
    async () => {
      // statistics settle a moment after the copy and the cleanup of the source
      await catalog.discovery.discover(catalog.discovery.byKind('postgres')!, { table: T });
      const { records } = await driver.executeQuery(
        `MATCH (t:Table {name: $table, source: 'pg-shards'})-[:HAS_PARTITION]->(p:Partition) WHERE p.vanishedAt IS NULL RETURN sum(p.rows) AS n`,
        { table: T },
      );
      return records[0]!.get('n') === 1200 ? 1200 : undefined;
    },
    30_000,
    'row counts of the new layout in the catalog',
  );
  assert.equal(rows, 1200);
});
