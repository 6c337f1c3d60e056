/**
 * ClickHouse decisions from its own workload, end to end on the real stack: reports run against
 * a fresh warehouse table over HTTP → ClickHouse's query log → the query-log collector →
 * shardcast.telemetry.queries → the real ingest stage (template profiles) → the real decide
 * stage, which plans a daily precomputation for the hot monthly-revenue report and a repartition
 * by the date most reports filter on, the precomputation held until the repartition is done →
 * the ClickHouse executor takes both to SUCCEEDED, in that order → the
 * precomputed sums equal the table's, the partition key is the new one, and no row is lost.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createClickHouse } from '../../analytics/clickhouse.js';
import { ClickHouseAdapter } from '../../executors/clickhouse/adapter.js';
import { ExecutorEngine } from '../../executors/engine.js';
import { CommandLedger } from '../../executors/ledger.js';
import { type RunningClickHouseCollector, startClickHouseCollector } from '../../pipelines/collectClickHouse.js';
import { openContext, type PipelineContext } from '../../pipelines/context.js';
import { type RunningDecide, startDecide } from '../../pipelines/decide.js';
import { startIngest } from '../../pipelines/ingest.js';
import type { RunningStage } from '../../pipelines/stage.js';
import { TOPICS } from '../../schemas/topics.js';
import type { AnyCommand, CommandResult } from '../../schemas/types.js';
import { cfg, eventually, startAtLatest, uniq } from './helpers.js';

const id = uniq('dch').replace(/[^a-z0-9]/g, '_');
const T = `wh_${id}`.slice(0, 40);
const DB = cfg.clickhouseDatabase;
const SOURCE = `ch_${id}`;
const ch = createClickHouse(cfg);
const sql = async (query: string) => void (await ch.command({ query }));
const one = async <R>(query: string): Promise<R> => ((await (await ch.query({ query, format: 'JSONEachRow' })).json()) as R[])[0]!;

let ctx: PipelineContext | undefined;
let collector: RunningClickHouseCollector | undefined;
let ingest: RunningStage | undefined;
let decide: RunningDecide | undefined;
let ledger: CommandLedger | undefined;

after(async () => {
  await decide?.stop().catch(() => undefined);
  await ingest?.stop().catch(() => undefined);
  await collector?.stop().catch(() => undefined);
  await ctx?.close();
  await ledger?.close();
  const { data } = await (await ch.query({ query: `SHOW TABLES FROM ${DB} LIKE '${T}%'`, format: 'JSONCompact' })).json<[string]>();
  for (const [name] of data) await sql(`DROP TABLE IF EXISTS ${DB}.${name}`).catch(() => undefined);
  await ch.close();
});

/** Reports as an application sends them: not shardcast's own client, so the collector takes them. */
async function report(query: string): Promise<void> {
  const res = await fetch(cfg.clickhouseUrl, {
    method: 'POST',
    body: query,
    headers: {
      'user-agent': 'warehouse-reports/1.0',
      ...(cfg.clickhouseUser ? { 'x-clickhouse-user': cfg.clickhouseUser, 'x-clickhouse-key': cfg.clickhousePassword ?? '' } : {}),
    },
  });
  const body = await res.text();
  assert.ok(res.ok, body);
}

test('a hot report becomes a daily precomputation and the hot date filter a new partition key, both executed', {
  timeout: 300_000,
}, async () => {
  await sql(`CREATE TABLE ${DB}.${T} (id UInt64, customer_id UInt64, amount Float64, created Date)
             ENGINE = MergeTree() PARTITION BY intDiv(id, 10000) ORDER BY id`);
  await sql(`INSERT INTO ${DB}.${T} SELECT number, number % 97, (number % 1000) / 10, toDate('2024-01-01') + (number % 120)
             FROM system.numbers LIMIT 30000`);
  const before = await one<{ n: string; s: number }>(`SELECT count() AS n, sum(amount) AS s FROM ${DB}.${T}`);

  ctx = await openContext('decide-clickhouse-test', cfg);
  const group = `decide-ch-${id}`;
  const admin = ctx.kafka.admin();
  await admin.connect();
  try {
    await startAtLatest(admin, `${group}-ingest`, [TOPICS.queries.name]);
    await startAtLatest(admin, `${group}-decide`, [TOPICS.forecasts.name, TOPICS.aggregates.name, TOPICS.results.name]);
  } finally {
    await admin.disconnect();
  }
  collector = await startClickHouseCollector(cfg, { source: SOURCE, pollMs: 1_000, flushLogs: true });
  ingest = await startIngest(ctx, { groupId: `${group}-ingest`, idleFlushMs: 2_000, partitionIdleMs: 1_000 });
  const planned: AnyCommand[] = [];
  decide = await startDecide(ctx, {
    groupId: `${group}-decide`,
    source: `pg_${id}`,
    kafka: false,
    clickhouse: { source: SOURCE, minCount: 5, minLatencyMs: 0 },
    controlScope: id,
    onDecision: (cmds) => planned.push(...cmds.filter((c) => 'table' in c && c.table === T)),
  });

  const wanted = (action: string) => planned.find((c) => c.action === action);
  await eventually(
    async () => {
      // two date-range reports per aggregate one: the range filter stays above the repartition's
      // 50% share in every window, whatever a window's cut (at 1:1 a window may fall just under it)
      for (let i = 0; i < 12; i++) {
        await report(`SELECT toYYYYMM(created) AS m, sum(amount) FROM ${DB}.${T} GROUP BY m ORDER BY m`);
        for (const month of [1 + (i % 3), 1 + ((i + 1) % 3)])
          await report(
            `SELECT count() FROM ${DB}.${T} WHERE created >= toDate('2024-0${month}-01') AND created < toDate('2024-0${month + 1}-01')`,
          );
      }
      return wanted('precompute') && wanted('repartition') ? true : undefined;
    },
    200_000,
    'a precomputation and a repartition planned from the query log',
  );
  const pre = wanted('precompute')!;
  const rep = wanted('repartition')!;
  assert.deepEqual(
    [pre.store, pre.params.template, pre.params.groupBy, pre.params.value],
    ['clickhouse', 'daily_sum', 'created', 'amount'],
  );
  assert.deepEqual([rep.params.partitionBy, rep.params.partitionColumn, rep.requiresApproval], ['toYYYYMM', 'created', true]);
  assert.equal(pre.params.dependsOn, rep.commandId, "the table's views would keep reading the old table: the repartition goes first");

  ledger = await CommandLedger.open(cfg.pgNodes[0]!);
  const results: CommandResult[] = [];
  const engine = new ExecutorEngine({
    executorName: 'exec-ch-decided-test',
    adapters: [ClickHouseAdapter.open(cfg, { databases: [DB] })],
    ledger,
    emit: async (r) => void results.push(r),
    bytesPerSecond: 1e12,
    approvals: 'ignore',
  });
  for (const c of [rep, pre]) {
    const reason = () => results.filter((r) => r.commandId === c.commandId).at(-1)?.reason ?? '';
    assert.equal(await engine.run(c), 'SUCCEEDED', `${c.action}: ${reason()}`);
  }
  const key = await one<{ k: string }>(`SELECT partition_key AS k FROM system.tables WHERE database = '${DB}' AND name = '${T}'`);
  assert.equal(key.k, 'toYYYYMM(created)');
  const after_ = await one<{ n: string; s: number }>(`SELECT count() AS n, sum(amount) AS s FROM ${DB}.${T}`);
  assert.equal(after_.n, before.n, 'no row lost or doubled by the repartition');
  assert.ok(Math.abs(after_.s - before.s) < 1e-6);
  const pc = await one<{ s: number }>(`SELECT sum(sc_total) AS s FROM ${DB}.${T}__pc_${pre.params.name}`);
  assert.ok(Math.abs(pc.s - before.s) < 1e-3, `precomputed ${pc.s} vs ${before.s}`);
});
