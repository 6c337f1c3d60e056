/**
 * The command contract (schemas/commandParams.ts) against both of its sides: every planner of
 * the decide stage, on a scenario that makes it plan, plans commands that fit it; and the
 * executor engine rejects a command that does not fit, with the field and what was expected,
 * before any adapter is asked about it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GiB, NOW, fc, flat, scenario, twoNodes } from './decide-helpers.js';
import {
  type Candidate,
  type PlanContext,
  type PlannedOp,
  decide,
  planColocations,
  planDereplicas,
  planMerges,
  planMoves,
  planRekeys,
  planReplicas,
  planScaleIn,
  planScaleOut,
  planSplits,
  planTemplateAdaptations,
} from '../../processors/decide/index.js';
import { toStoreCommands } from '../../processors/decide/postgres/commands.js';
import { commandActions, commandParamsReason } from '../../schemas/commandParams.js';
import { ExecutorEngine } from '../../executors/engine.js';
import { handMadeFields } from '../../schemas/handMadeCommand.js';
import { memoryLedger } from './memoryLedger.js';
import type { StoreAdapter } from '../../executors/types.js';
import type { AnyCommand, CommandResult } from '../../schemas/types.js';

function ctx(...args: Parameters<typeof scenario>): PlanContext {
  const { s, profile, cfg, state } = scenario(...args);
  return { s, profile, cfg, state, now: NOW };
}

/** The ops of every candidate, after running it on a copy of its scenario (some planners fill ops then). */
function opsOf(cx: PlanContext, cands: Candidate[]): PlannedOp[] {
  assert.ok(cands.length > 0, 'the scenario makes the planner plan');
  return cands.flatMap((c) => {
    c.run(cx.s.clone());
    return c.ops;
  });
}

const hotN1 = [fc('t/p0', flat(500)), fc('t/p1', flat(300)), fc('t/p2', flat(300)), fc('t/p3', flat(100))];
const hotTemplate = { table: 't', count: 1000, meanLatencyMs: 50, indexed: false };

/** One scenario per planner that makes it plan. */
function plannedOps(): { planner: string; ops: PlannedOp[] }[] {
  const out: { planner: string; ops: PlannedOp[] }[] = [];
  const run = (planner: string, cx: PlanContext, plan: (c: PlanContext) => Candidate[]) => out.push({ planner, ops: opsOf(cx, plan(cx)) });

  run('move', ctx(twoNodes(), hotN1, { risk: 0 }), planMoves);
  const buckets = [0, 1, 2, 3].map((i) => ({ seriesId: `b${i}`, table: 't', lo: i * 25, hi: (i + 1) * 25 }));
  const split = [fc('b0', flat(100)), fc('b1', flat(300)), fc('b2', flat(400)), fc('b3', flat(200)), fc('t/p1', flat(100))];
  run('split', ctx(twoNodes({ buckets }), split, { risk: 0 }), planSplits);
  run('merge', ctx(twoNodes(), [fc('t/p0', flat(10)), fc('t/p1', flat(10)), fc('t/p2', flat(500))], { risk: 0 }), planMerges);
  run('replicate', ctx(twoNodes(), [fc('t/p0', flat(900)), fc('t/p1', flat(100))], { risk: 0, readFractionDefault: 0.9 }), planReplicas);
  const withReplica = twoNodes();
  withReplica.partitions = withReplica.partitions.map((p) => (p.id === 'p1' ? { ...p, replicas: ['n2'] } : p));
  run('dereplicate', ctx(withReplica, [fc('t/p1', flat(20))], { risk: 0 }), planDereplicas);
  const coAccess = twoNodes({ coAccess: [{ a: 'p0', b: 'p3', weight: 200 }] });
  coAccess.partitions = coAccess.partitions.map((p) => (p.id === 'p3' ? { ...p, sizeBytes: GiB } : p));
  run('colocate', ctx(coAccess, [], { risk: 0 }), planColocations);
  const busy = [0, 1, 2, 3].map((i) => fc(`t/p${i}`, flat(600)));
  run('scale_out', ctx(twoNodes(), busy, { risk: 0, provisioningMs: 300_000 }), planScaleOut);
  // n3 holds a replica of p0: draining it drops that replica first
  const drain = twoNodes();
  drain.nodes = [...drain.nodes, { id: 'n3', store: 'pg', capacity: 1000 }];
  drain.partitions = drain.partitions.map((p) => (p.id === 'p0' ? { ...p, replicas: ['n3'] } : p));
  run(
    'scale_in',
    ctx(
      drain,
      [0, 1, 2, 3].map((i) => fc(`t/p${i}`, flat(100))),
      { risk: 0 },
    ),
    planScaleIn,
  );
  const predicates = [
    { table: 't', columns: ['tenant'], count: 900 },
    { table: 't', columns: ['id'], count: 100 },
  ];
  run('rekey', ctx(twoNodes({ predicates }), [], {}), planRekeys);
  const templates = [
    { ...hotTemplate, templateId: 'pt', columns: ['x', 'y'], kind: 'point' as const },
    { ...hotTemplate, templateId: 'ex', columns: ['email'], kind: 'expression' as const, expression: 'lower(email)' },
    { ...hotTemplate, templateId: 'agg', columns: [], kind: 'aggregate' as const, groupBy: 'region', sumOf: 'amount' },
    { ...hotTemplate, templateId: 'cnt', columns: [], kind: 'aggregate' as const, groupBy: 'status', sumOf: null },
  ];
  run('templates', ctx(twoNodes({ templates }), [], {}), planTemplateAdaptations);
  return out;
}

test('every planned command fits the command contract of its action', () => {
  const seen = new Set<string>();
  const misfits: string[] = [];
  for (const { planner, ops } of plannedOps()) {
    for (const op of ops) {
      seen.add(`${op.kind}/${op.action}`);
      const reason = commandParamsReason(op);
      if (reason) misfits.push(`${planner}: ${reason}`);
    }
  }
  assert.deepEqual(misfits, []);
  // every action a planner of the decide stage plans was seen (the store-specific ones, repartition
  // and add_topic_partitions, are not planned by these planners)
  for (const a of ['move', 'split', 'merge', 'replicate', 'dereplicate', 'colocate', 'scale_out', 'scale_in', 'rekey']) {
    assert.ok(
      [...seen].some((s) => s.endsWith(`/${a}`)),
      `${a} was planned`,
    );
  }
  for (const a of ['composite_index', 'derived_attribute', 'precompute']) assert.ok(seen.has(`partition/${a}`), `${a} was planned`);
});

test('a precomputation is planned only from the aggregate shape the statistics give', () => {
  const templates = [{ ...hotTemplate, templateId: 'agg', columns: [], kind: 'aggregate' as const }];
  const c = planTemplateAdaptations(ctx(twoNodes({ templates }), [], {}));
  assert.deepEqual(
    c.map((x) => x.action),
    [],
    'no group-by column known: nothing to precompute',
  );
  const sum = planTemplateAdaptations(ctx(twoNodes({ templates: [{ ...templates[0]!, groupBy: 'region', sumOf: 'amount' }] }), [], {}))[0]!
    .ops[0]!;
  assert.equal(sum.params.template, 'sum_by');
  assert.equal(sum.params.groupBy, 'region');
  assert.equal(sum.params.value, 'amount');
});

test('the contract names the field and what was expected', () => {
  const base = { table: 't', partition: 's0', sourceNode: null, targetNode: null, node: null };
  assert.equal(commandParamsReason({ ...base, kind: 'shard', action: 'move', targetNode: 'node1', params: {} }), null);
  assert.match(
    commandParamsReason({ ...base, kind: 'shard', action: 'dereplicate', sourceNode: 'node1', params: {} }) ?? '',
    /targetNode: missing: targetNode, the node whose replica is dropped/,
  );
  assert.match(
    commandParamsReason({ ...base, kind: 'partition', action: 'precompute', params: { templateId: 'x', name: 'sc_mv_x' } }) ?? '',
    /params\.template: missing: template \(one of count_by, sum_by, daily_sum\).*params\.groupBy: missing/,
  );
  assert.match(
    commandParamsReason({ ...base, kind: 'partition', action: 'precompute', params: { template: 'sum_by', groupBy: 'g' } }) ?? '',
    /params\.value: missing/,
  );
  assert.match(
    commandParamsReason({ ...base, kind: 'partition', action: 'split', params: { splitAt: '1; DROP TABLE t' } }) ?? '',
    /params\.splitAt: expected splitAt \(an integer key\)/,
  );
  assert.match(commandParamsReason({ ...base, kind: 'shard', action: 'teleport' as never, params: {} }) ?? '', /not an action/);
  assert.ok(commandActions().length >= 14);
});

test('the executor rejects a command that does not fit, before any adapter sees it', async () => {
  const asked: string[] = [];
  const adapter: StoreAdapter = {
    name: 'recording',
    handles: () => true,
    validate: async (c) => {
      asked.push(`validate ${c.commandId}`);
      return null;
    },
    execute: async (c) => {
      asked.push(`execute ${c.commandId}`);
      return { status: 'SUCCEEDED', verified: true };
    },
  };
  const results: CommandResult[] = [];
  const engine = new ExecutorEngine({
    executorName: 'unit',
    adapters: [adapter],
    ledger: memoryLedger(),
    emit: async (r) => {
      results.push(r);
    },
    bytesPerSecond: 1e9,
  });
  const cmd = (commandId: string, sourceNode: string | null, targetNode: string | null): AnyCommand => ({
    kind: 'shard',
    commandId,
    ...handMadeFields(NOW, 60_000, 'test', 'unit test'),
    store: 'pg-shards',
    storeKind: 'postgres',
    table: 't',
    partition: 's1',
    sourceNode,
    targetNode,
    action: 'dereplicate',
  });
  assert.equal(await engine.run(cmd('bad-1', 'node2', null)), 'REJECTED');
  assert.deepEqual(asked, [], 'no adapter was asked about a command that does not fit');
  assert.match(results.at(-1)!.reason ?? '', /targetNode: missing/);
  assert.equal(await engine.run(cmd('good-1', null, 'node2')), 'SUCCEEDED');
  assert.deepEqual(asked, ['validate good-1', 'execute good-1']);
});

test("a colocation's partner is named in the executor's terms, like the partition it moves", () => {
  const T = 'orders';
  const state = {
    tables: [{ name: T, store: 'pg-shards', storeKind: 'postgres' as const, keyColumns: ['id'] }],
    nodes: ['node0', 'node1'].map((id) => ({ id, store: 'pg-shards', storeKind: 'postgres' as const, capacity: 100 })),
    partitions: [
      { id: `${T}/s0`, table: T, store: 'pg-shards', lo: null, hi: 1000, sizeBytes: 2e6, rows: 1000, node: 'node0' },
      { id: `${T}/s1`, table: T, store: 'pg-shards', lo: 1000, hi: null, sizeBytes: 1e6, rows: 500, node: 'node1' },
    ],
    coAccess: [{ a: `${T}/s0`, b: `${T}/s1`, weight: 190 }],
  };
  const d = decide(state, [], [], NOW, { actions: ['colocate'], stepMs: 10_000, horizonSteps: 6 });
  const [cmd] = toStoreCommands(d.commands, state);
  assert.ok(cmd && cmd.kind === 'shard', d.explanations.join('\n'));
  assert.deepEqual([cmd.action, cmd.partition, cmd.targetNode, cmd.params.with], ['colocate', 's1', 'node0', 's0']);
  assert.equal(commandParamsReason(cmd), null);
});

test('the decision engine issues no command that does not fit: it reports the candidate blocked, with the reason', () => {
  const odd = { ...hotTemplate, templateId: 'agg', columns: [], kind: 'aggregate' as const, groupBy: 'Region Name', sumOf: null };
  const d = decide(twoNodes({ templates: [odd] }), [], [], NOW, { actions: ['precompute'] });
  assert.deepEqual(d.commands, []);
  assert.equal(d.blocked.length, 1);
  assert.match(d.blocked[0]!, /parameters do not fit partition\/precompute: params\.groupBy: expected groupBy/);
  const fine = decide(twoNodes({ templates: [{ ...odd, groupBy: 'region' }] }), [], [], NOW, { actions: ['precompute'] });
  assert.deepEqual(
    fine.commands.map((c) => [c.action, c.params.template, c.params.groupBy]),
    [['precompute', 'count_by', 'region']],
  );
});
