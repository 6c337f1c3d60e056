/**
 * A re-keyed table stays in range planning, on the real stack: a running ingest stage, started
 * before the rekey, follows the key the rekey recorded in the routing map and buckets SQL on the
 * new column (`customer_id.k<i>` series); the real decide stage plans a split of the new shard
 * that holds the hot customers, at one of the new key's bucket bounds; the executor takes it to
 * SUCCEEDED with every row kept.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { PostgresShardAdapter } from '../../executors/postgres/adapter.js';
import { CommandLedger } from '../../executors/ledger.js';
import { ExecutorEngine } from '../../executors/engine.js';
import { readAll, rowsChecksum } from '../../demo/workload.js';
import { openContext, type PipelineContext } from '../../pipelines/context.js';
import { type RunningDecide, startDecide } from '../../pipelines/decide.js';
import { startIngest } from '../../pipelines/ingest.js';
import type { RunningStage } from '../../pipelines/stage.js';
import { TOPICS } from '../../schemas/topics.js';
import { bucketName } from '../../schemas/keyBuckets.js';
import type { AnyCommand, CommandResult, QueryEvent, WorkloadAggregate } from '../../schemas/types.js';
import { loadRoutes } from '../../stores/postgres/routing.js';
import { loadTableKeys } from '../../stores/postgres/tableKeys.js';
import { consumeTopics, type TopicSource } from '../../topics/consumer.js';
import { type ConsoleFixture, fixtureDecideOptions, openConsoleFixture, risingForecast, STEP } from './console-fixture.js';
import { testCommand } from './commands.js';
import { queryEvent } from '../fixtures/records.js';
import { decideFromLatest, eventually, startAtLatest } from './helpers.js';

let fx: ConsoleFixture | undefined;
let ctx: PipelineContext | undefined;
let ingest: RunningStage | undefined;
let decide: RunningDecide | undefined;
let reader: TopicSource | undefined;
let adapter: PostgresShardAdapter | undefined;
let ledger: CommandLedger | undefined;

after(async () => {
  await decide?.stop().catch(() => undefined);
  await ingest?.stop().catch(() => undefined);
  await reader?.stop().catch(() => undefined);
  await ctx?.close();
  await adapter?.close();
  await ledger?.close();
  await fx?.cleanup();
});

/** A hot customer: in the upper new shard (customer_id is id % 97, the shards split near its median). */
const HOT_CUSTOMER = 70;

test('a re-keyed table: ingest buckets the new key, decide splits the hot new shard at a bound of it, SUCCEEDED', {
  timeout: 300_000,
}, async () => {
  fx = await openConsoleFixture('rekeyd');
  const T = fx.table;
  ctx = await openContext('decide-rekeyed-test', fx.cfg);
  const group = `decide-rekeyed-${fx.id}`;
  const admin = ctx.kafka.admin();
  await admin.connect();
  try {
    await startAtLatest(admin, `${group}-ingest`, [TOPICS.queries.name]);
    await startAtLatest(admin, `${group}-aggs`, [TOPICS.aggregates.name]);
  } finally {
    await admin.disconnect();
  }
  const aggs: WorkloadAggregate[] = [];
  reader = await consumeTopics(ctx.kafka, { groupId: `${group}-aggs`, topics: [TOPICS.aggregates.name] });
  reader.batches$.subscribe(async (ms) => {
    for (const m of ms) if (m.key?.toString().startsWith(`${fx!.source}|${T}|`)) aggs.push(await ctx!.serde.decode(m.topic, m.value));
  });
  // started on the configured key: it must follow the rekey by itself
  ingest = await startIngest(ctx, {
    groupId: `${group}-ingest`,
    partitionKeys: fx.cfg.partitionKeys,
    idleFlushMs: 2_000,
    partitionIdleMs: 1_000,
  });

  adapter = await PostgresShardAdapter.open(fx.cfg, { batchRows: 200, defaultGraceMs: 100 });
  ledger = await CommandLedger.open(fx.cfg.pgNodes[0]!);
  const results: CommandResult[] = [];
  const engine = new ExecutorEngine({
    executorName: 'exec-rekeyed-test',
    adapters: [adapter],
    ledger,
    emit: async (r) => void results.push(r),
    bytesPerSecond: 1e12,
    approvals: 'ignore',
  });
  const run = async (c: AnyCommand) =>
    assert.equal(await engine.run(c), 'SUCCEEDED', `${c.action}: ${results.filter((r) => r.commandId === c.commandId).at(-1)?.reason}`);
  const rowsBefore = (await readAll(fx.cfg, T)).rows;
  await run(testCommand('rekeyd', T, 'partition', 'rekey', { partition: null }, { keyColumns: 'customer_id' }));

  // the routing map records the new key with its bucket bounds (the key's quantiles)
  const [recorded] = await loadTableKeys(adapter.coord, [T]);
  assert.equal(recorded?.column, 'customer_id');
  const bounds = recorded!.bounds!;
  assert.equal(bounds.length, 15, `16 buckets: ${bounds}`);
  assert.ok(
    bounds.every((b, i) => i === 0 || b > bounds[i - 1]!),
    `increasing: ${bounds}`,
  );
  assert.ok(bounds[0]! > 0 && bounds.at(-1)! < 96, `inside the values 0..96: ${bounds}`);
  // the hot customers: those of HOT_CUSTOMER's bucket
  const hot = bounds.filter((b) => b <= HOT_CUSTOMER).length;
  const hotBucket = bucketName(hot, 'customer_id');
  const HOT = Array.from({ length: (bounds[hot] ?? 97) - bounds[hot - 1]! }, (_, i) => bounds[hot - 1]! + i);

  // SQL on the new key: ingest counts it on the new key's bucket
  let seq = 0;
  const query = (sql: string): QueryEvent =>
    queryEvent(`${fx!.source}-${seq++}`, fx!.source, { ts: Date.now(), sql, durationMs: 2, rowsRead: 1, operation: null, node: 'node1' });
  const hotSeries = (a: WorkloadAggregate) => a.keyBucket === hotBucket;
  await eventually(
    async () => {
      await ctx!.producer.send(
        TOPICS.queries.name,
        HOT.flatMap((c) => Array.from({ length: 20 }, () => query(`SELECT * FROM ${T} WHERE customer_id = ${c}`))).map((e) => ({
          key: e.source,
          value: e,
        })),
      );
      return aggs.some(hotSeries) ? true : undefined;
    },
    90_000,
    `ingest counts queries on ${hotBucket}`,
  );
  assert.ok(
    aggs.filter((a) => a.keyBucket !== null && a.keyBucket !== '*').every((a) => a.keyBucket!.startsWith('customer_id.k')),
    `after the rekey, every key bucket is one of the new key's: ${[...new Set(aggs.map((a) => a.keyBucket))]}`,
  );
  assert.ok(aggs.filter(hotSeries).every((a) => a.queries > 0));

  // forecasts of the new buckets: the hot one far over a node's capacity, the others light
  const planned: AnyCommand[] = [];
  await decideFromLatest(ctx.kafka, `${group}-decide`);
  decide = await startDecide(ctx, {
    ...fixtureDecideOptions(fx, group),
    decide: { ...fx.decide, actions: ['split'] },
    onDecision: (cmds) => planned.push(...cmds.filter((c) => 'table' in c && c.table === T)),
  });
  const names = Array.from({ length: bounds.length + 1 }, (_, i) => bucketName(i, 'customer_id'));
  const split = await eventually(
    async () => {
      const now = Date.now();
      const origin = Math.floor(now / STEP) * STEP - STEP;
      await ctx!.producer.send(
        TOPICS.forecasts.name,
        names.map((b) => {
          const f = risingForecast(`${fx!.source}|${T}|${b}`, origin, now, b === hotBucket ? 90 : 2, b === hotBucket ? 10 : 0);
          return { key: f.seriesId, value: f };
        }),
      );
      return planned.find((c) => c.action === 'split');
    },
    120_000,
    'a split of the re-keyed table planned',
  );
  const routes = (await loadRoutes(adapter.coord, T))!;
  assert.equal(routes.keyColumn, 'customer_id');
  const target = routes.shards.find((s) => s.shard === (split as { partition: string | null }).partition);
  assert.ok(target, `the split names a shard of the new key: ${JSON.stringify(split)} in ${JSON.stringify(routes.shards)}`);
  assert.ok(
    (target.lo === null || Number(target.lo) <= HOT[0]!) && (target.hi === null || HOT.at(-1)! < Number(target.hi)),
    'the shard that holds the hot customers',
  );
  assert.ok(bounds.includes(Number(split.params.splitAt)), `split at a bound of the new key: ${split.params.splitAt} in ${bounds}`);

  await run(split);
  const after = await readAll(fx.cfg, T);
  assert.equal(after.rows.size, rowsBefore.size, 'every row kept');
  assert.equal(rowsChecksum(after.rows.values()), rowsChecksum(rowsBefore.values()));
  assert.deepEqual([after.duplicates.length, after.misplaced], [0, 0]);
  const split2 = (await loadRoutes(adapter.coord, T))!;
  assert.equal(split2.shards.length, routes.shards.length + 1);
  assert.ok(split2.shards.some((s) => s.lo === split.params.splitAt));
});
