/**
 * Commands as the decision engine plans them, not built by hand, run on the real PostgreSQL
 * nodes: a cold replica is dropped (dereplicate), a hot aggregate is precomputed from the
 * template statistics' group-by and summed column, two cold neighbours are merged, and the table
 * is re-keyed on the column most queries filter on (rekey), then on the hash of its key when inserts
 * pile onto its newest ids (rekey with keyHash), whose hot hash range is then split and moved.
 * Each is planned by `decide`, named in the executor's terms, and must reach SUCCEEDED with the
 * change visible in the store.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { dropShardedTable } from '../../stores/postgres/tables.js';
import { loadRoutes } from '../../stores/postgres/routing.js';
import { createOrdersTable } from '../../demo/ordersTable.js';
import { readAll, rowsChecksum, seedRows } from '../../demo/workload.js';
import { loadDesigns } from '../../stores/postgres/designs.js';
import { PgPools } from '../../stores/postgres/nodes.js';
import { PostgresShardAdapter } from '../../executors/postgres/adapter.js';
import { CommandLedger } from '../../executors/ledger.js';
import { ExecutorEngine } from '../../executors/engine.js';
import { decide, type ClusterStateInput, type TemplateStat } from '../../processors/decide/index.js';
import { toStoreCommands } from '../../processors/decide/postgres/commands.js';
import type { CommandResult } from '../../schemas/types.js';
import { hashInt8 } from '../../schemas/keyHash.js';
import { currentKeys } from '../../schemas/keyBuckets.js';
import { stateFromRouting } from '../../processors/decide/postgres/state.js';
import { routingSnapshot } from '../../stores/postgres/snapshot.js';
import { loadTableKeys } from '../../stores/postgres/tableKeys.js';
import { inRange } from '../../stores/postgres/keys.js';
import { testCommand } from './commands.js';
import { aggregateOf, assertPrecomputedSums, cfg, ledgerUnreachable, uniq } from './helpers.js';

const id = uniq('xplan').replace(/[^a-z0-9]/g, '_');
const T = `t_${id}`.slice(0, 40);
const STORE = 'pg-shards';

let adapter: PostgresShardAdapter;
let ledger: CommandLedger;
const pools = new PgPools({ executor: false, max: 2 });
const results: CommandResult[] = [];
// recommendations (precompute) need approval; this test is the operator
const engine = () =>
  new ExecutorEngine({
    executorName: 'exec-planned-test',
    adapters: [adapter],
    ledger,
    emit: async (r) => void results.push(r),
    bytesPerSecond: 1e12,
    approvals: 'ignore',
  });
const reasonOf = (commandId: string) => results.filter((r) => r.commandId === commandId).at(-1)?.reason ?? '';

before(async () => {
  const down = await ledgerUnreachable();
  if (down) assert.fail(down);
  await createOrdersTable(cfg, T, [
    { shard: 's0', lo: null, hi: 1000, node: 'node0' },
    { shard: 's1', lo: 1000, hi: null, node: 'node1' },
  ]);
  await seedRows(cfg, T, 0, 1500);
  adapter = await PostgresShardAdapter.open(cfg, { batchRows: 200, defaultGraceMs: 100 });
  ledger = await CommandLedger.open(cfg.pgNodes[0]!);
});

after(async () => {
  await adapter?.close();
  await ledger?.close();
  await pools.end();
  await dropShardedTable(cfg, T).catch(() => undefined);
});

/** The planning state from the routing map (replicas included); sizes large enough to matter. */
async function planningState(extra: Partial<ClusterStateInput> = {}): Promise<ClusterStateInput> {
  const routes = await loadRoutes(adapter.coord, T);
  assert.ok(routes, 'the table is in the routing map');
  return {
    tables: [{ name: T, store: STORE, storeKind: 'postgres', keyColumns: ['id'] }],
    nodes: ['node0', 'node1', 'node2'].map((n) => ({ id: n, store: STORE, storeKind: 'postgres' as const, capacity: 100 })),
    partitions: routes.shards.map((s) => ({
      id: `${T}/${s.shard}`,
      table: T,
      store: STORE,
      lo: s.lo === null ? null : Number(s.lo),
      hi: s.hi === null ? null : Number(s.hi),
      sizeBytes: 8 * 1024 ** 3,
      rows: 1000,
      node: s.node,
      replicas: s.replicas,
    })),
    ...extra,
  };
}

test('a cold replica: planned dereplicate → SUCCEEDED, the routing map has no replica left', { timeout: 180_000 }, async () => {
  const setup = testCommand('exec-planned', T, 'shard', 'replicate', { partition: 's1', targetNode: 'node2' });
  assert.equal(await engine().run(setup), 'SUCCEEDED', reasonOf(setup.commandId));
  const state = await planningState();
  assert.deepEqual(state.partitions.find((p) => p.id === `${T}/s1`)?.replicas, ['node2']);

  // Storage priced so that dropping an 8 GiB copy pays for a command within the horizon (with the
  // default weights only copies of ~80 GiB and more do).
  const d = decide(state, [], [], Date.now(), {
    actions: ['dereplicate'],
    stepMs: 60_000,
    horizonSteps: 30,
    weights: { storageGbMinute: 0.05 },
  });
  const cmds = toStoreCommands(d.commands, state);
  assert.equal(cmds.length, 1, d.explanations.join('\n'));
  const cmd = cmds[0]!;
  assert.ok(cmd.kind === 'shard' && cmd.action === 'dereplicate');
  assert.deepEqual([cmd.partition, cmd.targetNode], ['s1', 'node2']);
  assert.equal(await engine().run(cmd), 'SUCCEEDED', reasonOf(cmd.commandId));
  const routes = await loadRoutes(adapter.coord, T);
  assert.deepEqual(routes!.shards.find((s) => s.shard === 's1')!.replicas, []);
});

test('a hot aggregate template: planned precompute → SUCCEEDED, the precomputed sums match the rows', { timeout: 180_000 }, async () => {
  const hot: TemplateStat = {
    table: T,
    templateId: 'sum_amount_by_customer',
    count: 1000,
    meanLatencyMs: 50,
    columns: [],
    kind: 'aggregate',
    indexed: false,
    groupBy: 'customer_id',
    sumOf: 'amount',
  };
  const state = await planningState({ templates: [hot] });
  const d = decide(state, [], [], Date.now(), { actions: ['precompute'], stepMs: 10_000, horizonSteps: 6 });
  const cmds = toStoreCommands(d.commands, state);
  assert.equal(cmds.length, 1, d.explanations.join('\n'));
  const cmd = cmds[0]!;
  assert.equal(cmd.action, 'precompute');
  assert.equal(cmd.requiresApproval, true, 'a recommendation waits for an operator');
  assert.deepEqual([cmd.params.template, cmd.params.groupBy, cmd.params.value], ['sum_by', 'customer_id', 'amount']);
  assert.equal(await engine().run(cmd), 'SUCCEEDED', reasonOf(cmd.commandId));
  await assertPrecomputedSums(pools, adapter.coord, T, cmd.params.name!);
});

test('two cold neighbours on one node: planned merge → SUCCEEDED, one range in the routing map, every row kept', {
  timeout: 180_000,
}, async () => {
  const split = testCommand('exec-planned', T, 'partition', 'split', { partition: 's1' }, { splitAt: '1250' });
  assert.equal(await engine().run(split), 'SUCCEEDED', reasonOf(split.commandId));
  const before = (await readAll(cfg, T)).rows;
  const state = await planningState();
  // small ranges: merging them is worth a command
  for (const p of state.partitions) p.sizeBytes = 64 * 1024 ** 2;
  const d = decide(state, [], [], Date.now(), { actions: ['merge'], stepMs: 60_000, horizonSteps: 30 });
  const cmds = toStoreCommands(d.commands, state);
  assert.equal(cmds.length, 1, d.explanations.join('\n'));
  const cmd = cmds[0]!;
  assert.ok(cmd.kind === 'partition' && cmd.action === 'merge');
  assert.deepEqual([cmd.partition, cmd.params.with], ['s1', 's2'], 'the two neighbours on node1');
  assert.equal(await engine().run(cmd), 'SUCCEEDED', reasonOf(cmd.commandId));
  const routes = await loadRoutes(adapter.coord, T);
  assert.deepEqual(
    routes!.shards.map((s) => [s.shard, s.lo, s.hi, s.node]),
    [
      ['s0', null, '1000', 'node0'],
      ['s1', '1000', null, 'node1'],
    ],
  );
  const after = (await readAll(cfg, T)).rows;
  assert.equal(after.size, before.size, 'every row kept');
  for (const [k, r] of before) assert.deepEqual(after.get(k), r, `row ${k}`);
});

test('most queries filter on customer_id: planned rekey → SUCCEEDED, the table keyed on it, rows and precomputed sums unchanged', {
  timeout: 180_000,
}, async () => {
  const before0 = (await readAll(cfg, T)).rows;
  const state = await planningState({
    predicates: [
      { table: T, columns: ['customer_id'], count: 900 },
      { table: T, columns: ['id'], count: 100 },
    ],
  });
  const d = decide(state, [], [], Date.now(), { actions: ['rekey'], stepMs: 10_000, horizonSteps: 6 });
  const cmds = toStoreCommands(d.commands, state);
  assert.equal(cmds.length, 1, d.explanations.join('\n'));
  const cmd = cmds[0]!;
  assert.ok(cmd.kind === 'partition' && cmd.action === 'rekey');
  assert.equal(cmd.params.keyColumns, 'customer_id');
  assert.equal(cmd.requiresApproval, true, 'a recommendation waits for an operator');
  assert.equal(await engine().run(cmd), 'SUCCEEDED', reasonOf(cmd.commandId));

  const routes = (await loadRoutes(adapter.coord, T))!;
  assert.equal(routes.keyColumn, 'customer_id');
  const after0 = await readAll(cfg, T);
  assert.equal(after0.rows.size, before0.size);
  assert.equal(rowsChecksum(after0.rows.values()), rowsChecksum(before0.values()));
  assert.deepEqual([after0.duplicates.length, after0.misplaced], [0, 0]);
  // The precomputation made by the test before is rebuilt on the new shard tables.
  const designs = await loadDesigns<{ name: string }>(adapter.coord, T, 'precompute');
  assert.equal(designs.length, 1);
  await assertPrecomputedSums(pools, adapter.coord, T, designs[0]!.name);
});

test('inserts piling onto the newest ids: planned hash of the key → SUCCEEDED, appended ids spread over both shards', {
  timeout: 180_000,
}, async () => {
  const before0 = (await readAll(cfg, T)).rows;
  // key buckets of 250 ids; the load ends at the bucket holding the newest ids, nothing above
  const load = [10, 10, 10, 10, 20, 140, 0, 0];
  const now = Date.now();
  const buckets = load.map((_, i) => ({ seriesId: `planned|${T}|k${i}`, table: T, lo: i * 250, hi: (i + 1) * 250 }));
  const aggregates = load.map((q, i) => {
    const writes = i === 5 ? 60 : Math.round(q * 0.1);
    const window = { windowStart: now - 10_000, windowEnd: now, source: 'planned', table: T, keyBucket: `k${i}` };
    return aggregateOf({ seriesId: `planned|${T}|k${i}`, ...window, queries: q, reads: q - writes, writes });
  });
  const state = await planningState({ buckets });
  const d = decide(state, [], aggregates, now, { actions: ['rekey'], stepMs: 10_000, horizonSteps: 6 });
  const cmds = toStoreCommands(d.commands, state);
  assert.equal(cmds.length, 1, d.explanations.join('\n'));
  const cmd = cmds[0]!;
  assert.ok(cmd.kind === 'partition' && cmd.action === 'rekey');
  assert.deepEqual([cmd.params.keyColumns, cmd.params.keyHash], ['id', 'true']);
  assert.equal(cmd.requiresApproval, true, 'a recommendation waits for an operator');
  assert.equal(await engine().run(cmd), 'SUCCEEDED', reasonOf(cmd.commandId));

  const routes = (await loadRoutes(adapter.coord, T))!;
  assert.deepEqual([routes.keyColumn, routes.keyHash], ['id', true]);
  const after0 = await readAll(cfg, T);
  assert.equal(rowsChecksum(after0.rows.values()), rowsChecksum(before0.values()));
  assert.deepEqual([after0.duplicates.length, after0.misplaced], [0, 0]);
  // the newest ids, which all sat in the top shard, are now on both
  const newest = [...after0.rows.keys()].filter((k) => Number(k) >= 1250);
  const shardOf = (k: string) => routes.shards.findIndex((s) => inRange(String(hashInt8(BigInt(k))), s.lo, s.hi));
  assert.deepEqual([...new Set(newest.map(shardOf))].sort(), [0, 1]);
});

test('a hashed table, planned from the routing map: its hot hash range is split at a bucket of the hash and moved → SUCCEEDED, every row kept', {
  timeout: 180_000,
}, async () => {
  const before0 = (await readAll(cfg, T)).rows;
  // the planning state as `run decide` reads it without its catalog: the routing map, with the
  // key the rekey recorded (16 ranges of the hash)
  const keys = currentKeys({ [T]: { column: 'id', bounds: [] } }, await loadTableKeys(adapter.coord, [T]));
  assert.equal(keys[T]!.hashed, true);
  const state = stateFromRouting(await routingSnapshot(new Map(), adapter.coord, [T]), keys, 'planned', 100);
  for (const p of state.partitions) p.sizeBytes = 64 * 1024 ** 2;
  assert.deepEqual(state.tables[0]!.keyHash, true);
  const buckets = state.buckets ?? [];
  assert.equal(buckets.length, 16);
  // the lower half of the hash (one shard) takes 160 queries a window, three nodes of 100 serve
  const now = Date.now();
  const aggregates = buckets.map((b, i) =>
    aggregateOf({ seriesId: b.seriesId, source: 'planned', table: T, windowStart: now - 10_000, windowEnd: now, queries: i < 8 ? 20 : 2 }),
  );
  const hot = state.partitions.find((p) => p.lo === null)!;
  const d = decide(state, [], aggregates, now, { actions: ['split', 'move'], stepMs: 10_000, horizonSteps: 6 });
  const cmds = toStoreCommands(d.commands, state);
  assert.deepEqual(
    cmds.map((c) => c.action),
    ['split', 'move'],
    d.explanations.join('\n'),
  );
  const [split, move] = cmds as [Extract<(typeof cmds)[0], { kind: 'partition' }>, Extract<(typeof cmds)[0], { kind: 'shard' }>];
  assert.equal(split.partition, hot.id.split('/')[1]);
  const at = Number(split.params.splitAt);
  assert.ok(buckets.some((b) => b.lo === at) && at < 0, `split at a bucket bound inside the hot range: ${at}`);
  for (const c of cmds) assert.equal(await engine().run(c), 'SUCCEEDED', reasonOf(c.commandId));

  const routes = (await loadRoutes(adapter.coord, T))!;
  assert.equal(routes.shards.length, 3);
  // one half of the hot range on the node the move named, the other where it was
  const halves = routes.shards.filter((s) => s.lo === String(at) || s.hi === String(at)).map((s) => s.node);
  assert.deepEqual(halves.sort(), [hot.node, move.targetNode].sort(), JSON.stringify(routes.shards));
  const after0 = await readAll(cfg, T);
  assert.equal(rowsChecksum(after0.rows.values()), rowsChecksum(before0.values()));
  assert.deepEqual([after0.duplicates.length, after0.misplaced], [0, 0]);
});
