/**
 * colocate, live on the real PostgreSQL nodes: two shards of one table, on different nodes, are
 * queried together; the decision engine plans the smaller one next to the other; the command,
 * in the executor's names, runs through the executor engine to SUCCEEDED; every row is still
 * there (count and checksum), and the routing map puts both shards on one node. A colocation
 * whose partner has moved away meanwhile is REJECTED as stale and changes nothing.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { dropShardedTable } from '../../stores/postgres/tables.js';
import { loadRoutes } from '../../stores/postgres/routing.js';
import { createOrdersTable } from '../../demo/ordersTable.js';
import { readAll, rowsChecksum, seedRows } from '../../demo/workload.js';
import { PostgresShardAdapter } from '../../executors/postgres/adapter.js';
import { CommandLedger } from '../../executors/ledger.js';
import { ExecutorEngine } from '../../executors/engine.js';
import { decide, type ClusterStateInput } from '../../processors/decide/index.js';
import { toStoreCommands } from '../../processors/decide/postgres/commands.js';
import type { CommandResult } from '../../schemas/types.js';
import { testCommand } from './commands.js';
import { cfg, ledgerUnreachable, uniq } from './helpers.js';

const id = uniq('xcolo').replace(/[^a-z0-9]/g, '_');
const T = `t_${id}`.slice(0, 40);
const STORE = 'pg-shards';

let adapter: PostgresShardAdapter;
let ledger: CommandLedger;
const results: CommandResult[] = [];
const engine = () =>
  new ExecutorEngine({
    executorName: 'exec-colocate-test',
    adapters: [adapter],
    ledger,
    emit: async (r) => void results.push(r),
    bytesPerSecond: 1e12,
  });
const last = (commandId: string) => results.filter((r) => r.commandId === commandId).at(-1);

before(async () => {
  const down = await ledgerUnreachable();
  if (down) assert.fail(down);
  // s0 holds 1000 rows on node0, s1 500 on node1: s1 is the smaller, it is the one that moves
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
  await dropShardedTable(cfg, T).catch(() => undefined);
});

/** The planning state from the routing map, with queries joining s0 and s1 across nodes. */
async function planningState(coAccess: number): Promise<ClusterStateInput> {
  const routes = await loadRoutes(adapter.coord, T);
  assert.ok(routes, 'the table is in the routing map');
  const nodes = [...new Set(['node0', 'node1', 'node2', ...routes.shards.map((s) => s.node)])];
  return {
    tables: [{ name: T, store: STORE, storeKind: 'postgres', keyColumns: ['id'] }],
    nodes: nodes.map((n) => ({ id: n, store: STORE, storeKind: 'postgres', capacity: 100 })),
    partitions: routes.shards.map((s) => ({
      id: `${T}/${s.shard}`,
      table: T,
      store: STORE,
      lo: s.lo === null ? null : Number(s.lo),
      hi: s.hi === null ? null : Number(s.hi),
      // bytes in proportion to the rows seeded: the planner moves the smaller end
      sizeBytes: s.shard === 's0' ? 200_000 : 100_000,
      rows: s.shard === 's0' ? 1000 : 500,
      node: s.node,
    })),
    coAccess: [{ a: `${T}/s0`, b: `${T}/s1`, weight: coAccess }],
  };
}

test('co-accessed shards on two nodes: planned, executed, verified, and placed together', { timeout: 180_000 }, async () => {
  const state = await planningState(190);
  const now = Date.now();
  const d = decide(state, [], [], now, { actions: ['colocate'], stepMs: 10_000, horizonSteps: 6, decideEveryMs: 10_000 });
  const cmds = toStoreCommands(d.commands, state);
  assert.equal(cmds.length, 1, d.explanations.join('\n'));
  const cmd = cmds[0]!;
  assert.equal(cmd.kind, 'shard');
  assert.equal(cmd.action, 'colocate');
  assert.ok(cmd.kind === 'shard');
  assert.deepEqual([cmd.partition, cmd.sourceNode, cmd.targetNode, cmd.params.with], ['s1', 'node1', 'node0', 's0']);

  const rows0 = await readAll(cfg, T);
  assert.equal(rows0.rows.size, 1500);
  assert.equal(await engine().run(cmd), 'SUCCEEDED', last(cmd.commandId)?.reason ?? '');
  const done = last(cmd.commandId)!;
  assert.equal(done.verified, true, 'the moved rows were verified by count and checksum');
  assert.equal(done.details.colocatedWith, 's0');
  assert.equal(done.details.node, 'node0');

  const rows1 = await readAll(cfg, T);
  assert.equal(rows1.rows.size, rows0.rows.size, 'no row lost or duplicated');
  assert.deepEqual(rows1.duplicates, []);
  assert.equal(rows1.misplaced, 0);
  assert.equal(rowsChecksum(rows1.rows.values()), rowsChecksum(rows0.rows.values()));
  const routes = await loadRoutes(adapter.coord, T);
  assert.deepEqual(
    routes!.shards.map((s) => [s.shard, s.node]).sort(),
    [
      ['s0', 'node0'],
      ['s1', 'node0'],
    ],
    'the routing map puts both shards on node0',
  );
  // planned again from the new placement: nothing left to co-locate
  const again = decide(await planningState(190), [], [], now + 60_000, { actions: ['colocate'], stepMs: 10_000, horizonSteps: 6 });
  assert.equal(again.commands.length, 0, again.explanations.join('\n'));
});

test('a colocation whose partner has moved away is rejected as stale and changes nothing', { timeout: 120_000 }, async () => {
  const routes0 = await loadRoutes(adapter.coord, T);
  const node = (s: string) => routes0!.shards.find((x) => x.shard === s)!.node;
  // s0 is on node0: a colocation of s1 "with s0 on node2" was planned against an older map
  const stale = testCommand(
    'exec-colocate',
    T,
    'shard',
    'colocate',
    { partition: 's1', sourceNode: node('s1'), targetNode: 'node2' },
    { with: 's0' },
  );
  assert.equal(await engine().run(stale), 'REJECTED');
  assert.match(last(stale.commandId)?.reason ?? '', /^stale command: shard s0 is on node0, not node2/);
  const routes1 = await loadRoutes(adapter.coord, T);
  assert.equal(routes1!.version, routes0!.version, 'routing unchanged');
  // a colocation naming no target node does not fit the command contract
  const bare = testCommand('exec-colocate', T, 'shard', 'colocate', { partition: 's1' }, { with: 's0' });
  assert.equal(await engine().run(bare), 'REJECTED');
  assert.match(last(bare.commandId)?.reason ?? '', /targetNode: missing/);
});
