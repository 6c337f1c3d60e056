/**
 * Physical design from the live workload, on the real stack: SQL query events on
 * shardcast.telemetry.queries → the real ingest stage (template profiles on the source's total
 * series) → the real decide stage, which plans a composite index for the hot two-column range
 * template and a precomputation for the hot aggregate from those statistics alone → the
 * executor takes both to SUCCEEDED on the PostgreSQL nodes → the index is on every shard table,
 * the precomputed sums match the rows, the designs registry holds both, and the next rounds
 * plan neither again (a fresh decide stage, which reads both from the designs registry).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import pg from 'pg';
import { readPrecomputed } from '../../executors/postgres/design.js';
import { PostgresShardAdapter } from '../../executors/postgres/adapter.js';
import { CommandLedger } from '../../executors/ledger.js';
import { ExecutorEngine } from '../../executors/engine.js';
import { readAll } from '../../demo/workload.js';
import { openContext, type PipelineContext } from '../../pipelines/context.js';
import { type RunningDecide, startDecide } from '../../pipelines/decide.js';
import { startIngest } from '../../pipelines/ingest.js';
import type { RunningStage } from '../../pipelines/stage.js';
import { TOPICS } from '../../schemas/topics.js';
import type { AnyCommand, CommandResult, QueryEvent } from '../../schemas/types.js';
import { loadTableDesigns } from '../../stores/postgres/designs.js';
import { listNodes } from '../../stores/postgres/routing.js';
import { PgPools } from '../../stores/postgres/nodes.js';
import { CAPACITY, type ConsoleFixture, fixtureDecideOptions, openConsoleFixture, risingForecast, STEP } from './console-fixture.js';
import { queryEvent } from '../fixtures/records.js';
import { decideFromLatest, eventually, startAtLatest } from './helpers.js';

let fx: ConsoleFixture | undefined;
let ctx: PipelineContext | undefined;
let ingest: RunningStage | undefined;
let decide: RunningDecide | undefined;
let adapter: PostgresShardAdapter | undefined;
let ledger: CommandLedger | undefined;
const pools = new PgPools({ executor: false, max: 2 });

after(async () => {
  await decide?.stop().catch(() => undefined);
  await ingest?.stop().catch(() => undefined);
  await ctx?.close();
  await adapter?.close();
  await ledger?.close();
  await pools.end();
  await fx?.cleanup();
});

let seq = 0;
function query(source: string, sql: string, durationMs: number, rowsRead: number, ts = Date.now()): QueryEvent {
  return queryEvent(`${source}-${seq++}`, source, { ts, sql, durationMs, rowsRead, operation: null, node: 'node0' });
}

test('hot templates seen by ingest become a composite index and a precomputation, executed and not planned twice', {
  timeout: 240_000,
}, async () => {
  fx = await openConsoleFixture('dstats');
  const T = fx.table;
  ctx = await openContext('decide-stats-test', fx.cfg);
  const group = `decide-stats-${fx.id}`;
  const admin = ctx.kafka.admin();
  await admin.connect();
  try {
    await startAtLatest(admin, `${group}-ingest`, [TOPICS.queries.name]);
    await startAtLatest(admin, `${group}-decide`, [TOPICS.forecasts.name, TOPICS.aggregates.name, TOPICS.results.name]);
  } finally {
    await admin.disconnect();
  }
  ingest = await startIngest(ctx, {
    groupId: `${group}-ingest`,
    partitionKeys: fx.cfg.partitionKeys,
    idleFlushMs: 2_000,
    partitionIdleMs: 1_000,
  });
  const planned: AnyCommand[] = [];
  decide = await startDecide(ctx, {
    ...fixtureDecideOptions(fx, group),
    decide: { ...fx.decide, actions: ['composite_index', 'precompute', 'derived_attribute'], template: { minCount: 50, minLatencyMs: 10 } },
    onDecision: (cmds) => planned.push(...cmds.filter((c) => 'table' in c && c.table === T)),
  });

  // one window of the workload: a two-column range lookup and an aggregate, both slow and frequent
  const send = async () => {
    const now = Date.now();
    const events: QueryEvent[] = [];
    for (let i = 0; i < 120; i++) {
      events.push(
        query(fx!.source, `SELECT * FROM ${T} WHERE customer_id = ${i % 40} AND updated_at > '2026-01-0${1 + (i % 9)}'`, 40, 30, now),
      );
      events.push(query(fx!.source, `SELECT customer_id, sum(amount) FROM ${T} GROUP BY customer_id`, 60, 1_000, now));
      events.push(query(fx!.source, `SELECT id, amount FROM ${T} WHERE lower(payload) = 'p${i}'`, 30, 1_000, now));
    }
    await ctx!.producer.send(
      TOPICS.queries.name,
      events.map((e) => ({ key: e.source, value: e })),
    );
    // forecasts below capacity: they make a round due and plan no placement change
    const origin = Math.floor(now / STEP) * STEP - STEP;
    await ctx!.producer.send(
      TOPICS.forecasts.name,
      ['k0', 'k1'].map((b) => {
        const f = risingForecast(`${fx!.source}|${T}|${b}`, origin, now, 1, 0);
        return { key: f.seriesId, value: f };
      }),
    );
  };
  const wanted = (action: string) => planned.find((c) => c.action === action);
  await eventually(
    async () => {
      await send();
      return wanted('composite_index') && wanted('precompute') && wanted('derived_attribute') ? true : undefined;
    },
    150_000,
    'a composite index, a precomputation and a derived attribute planned from the live statistics',
  );
  const index = wanted('composite_index')!;
  const mv = wanted('precompute')!;
  const attr = wanted('derived_attribute')!;
  assert.equal(attr.params.expression, 'lower(payload)');
  assert.equal(index.params.columns, 'customer_id,updated_at', 'equality column first');
  assert.deepEqual([mv.params.template, mv.params.groupBy, mv.params.value], ['sum_by', 'customer_id', 'amount']);

  // the operator approves (approvals ignored here): the executor runs both on the real nodes
  adapter = await PostgresShardAdapter.open(fx.cfg, { batchRows: 200, defaultGraceMs: 100 });
  ledger = await CommandLedger.open(fx.cfg.pgNodes[0]!);
  const results: CommandResult[] = [];
  const engine = new ExecutorEngine({
    executorName: 'exec-stats-test',
    adapters: [adapter],
    ledger,
    emit: async (r) => void results.push(r),
    bytesPerSecond: 1e12,
    approvals: 'ignore',
  });
  for (const c of [index, mv, attr]) {
    const reason = () => results.filter((r) => r.commandId === c.commandId).at(-1)?.reason ?? '';
    assert.equal(await engine.run(c), 'SUCCEEDED', `${c.action}: ${reason()}`);
  }

  const nodes = await listNodes(adapter.coord);
  const urlOf = async (node: string) => nodes.find((n) => n.node === node)!.url;
  for (const [node, shard] of [
    ['node0', 's0'],
    ['node1', 's1'],
  ] as const) {
    const pool = new pg.Pool({ connectionString: await urlOf(node), max: 1 });
    try {
      const { rows } = await pool.query<{ def: string }>('SELECT indexdef AS def FROM pg_indexes WHERE tablename = $1', [`${T}__${shard}`]);
      assert.ok(
        rows.some((r) => /\(customer_id, updated_at\)/.test(r.def)),
        `${node}: ${rows.map((r) => r.def).join('; ')}`,
      );
      const generated = await pool.query<{ expr: string }>(
        `SELECT generation_expression AS expr FROM information_schema.columns WHERE table_name = $1 AND column_name = $2`,
        [`${T}__${shard}`, attr.params.name],
      );
      assert.match(generated.rows[0]?.expr ?? '', /lower\(/, `${node}: the derived column ${attr.params.name}`);
    } finally {
      await pool.end();
    }
  }
  const sums = await readPrecomputed({ pools, coord: adapter.coord, urlOf }, T, mv.params.name!);
  const want = new Map<string, number>();
  for (const r of (await readAll(fx.cfg, T)).rows.values()) want.set(r.customer_id!, (want.get(r.customer_id!) ?? 0) + Number(r.amount));
  assert.equal(sums.size, want.size);
  for (const [g, total] of want) assert.ok(Math.abs((sums.get(g)?.total ?? 0) - total) < 1e-6, `sum of group ${g}`);
  const designs = (await loadTableDesigns(adapter.coord, [T])).get(T) ?? [];
  assert.deepEqual(designs.map((d) => d.kind).sort(), ['derived', 'index', 'precompute']);

  // a fresh decide stage (no memory of what it issued; the catalog never saw these commands) reads
  // both designs from the registry: nothing planned again for these templates
  await decide.stop();
  const again: AnyCommand[] = [];
  await decideFromLatest(ctx.kafka, `${group}-decide2`);
  decide = await startDecide(ctx, {
    groupId: `${group}-decide2`,
    source: fx.source,
    nodeCapacity: CAPACITY,
    warmupWindows: 1,
    decide: { ...fx.decide, actions: ['composite_index', 'precompute', 'derived_attribute'], template: { minCount: 50, minLatencyMs: 10 } },
    controlScope: fx.id,
    onDecision: (cmds) => again.push(...cmds.filter((c) => 'table' in c && c.table === T)),
  });
  await eventually(
    async () => {
      await send();
      return decide!.stats.batches >= 6 ? true : undefined;
    },
    90_000,
    'six rounds of a fresh decide stage',
  );
  assert.deepEqual(
    again.map((c) => c.action),
    [],
    'the index, the precomputation and the derived column exist: not planned again',
  );
});
