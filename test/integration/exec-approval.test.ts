/**
 * Approval mode through the executor engine and its ledger on the real PostgreSQL nodes: a
 * command that requires approval changes nothing until an operator approves it (a redelivery
 * does not run it either); approved, it runs and is verified; denied, it is REJECTED with who
 * denied it; a verdict on an id that is not waiting is refused.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { dropShardedTable } from '../../stores/postgres/tables.js';
import { loadRoutes } from '../../stores/postgres/routing.js';
import { createOrdersTable } from '../../demo/ordersTable.js';
import { seedRows } from '../../demo/workload.js';
import { PostgresShardAdapter } from '../../executors/postgres/adapter.js';
import { CommandLedger } from '../../executors/ledger.js';
import { ExecutorEngine } from '../../executors/engine.js';
import type { CommandResult } from '../../schemas/types.js';
import { testCommand } from './commands.js';
import { cfg, uniq } from './helpers.js';

const T = `t_${uniq('appr').replace(/[^a-z0-9]/g, '_')}`.slice(0, 40);
let adapter: PostgresShardAdapter;
let ledger: CommandLedger;
let engine: ExecutorEngine;
const results: CommandResult[] = [];
const last = (id: string) => results.filter((r) => r.commandId === id).at(-1);

before(async () => {
  await createOrdersTable(cfg, T, [{ shard: 's0', lo: null, hi: null, node: 'node0' }]);
  await seedRows(cfg, T, 0, 1000);
  adapter = await PostgresShardAdapter.open(cfg, { batchRows: 200, defaultGraceMs: 100 });
  ledger = await CommandLedger.open(cfg.pgNodes[0]!);
  engine = new ExecutorEngine({
    executorName: 'exec-approval-test',
    adapters: [adapter],
    ledger,
    emit: async (r) => void results.push(r),
    bytesPerSecond: 1e12,
  });
});

after(async () => {
  await adapter?.close();
  await ledger?.close();
  await dropShardedTable(cfg, T).catch(() => undefined);
});

test('a command that requires approval waits, then runs when approved', { timeout: 120_000 }, async () => {
  const split = testCommand('exec-approval', T, 'partition', 'split', { partition: 's0', requiresApproval: true }, { splitAt: '500' });
  const version = (await loadRoutes(adapter.coord, T))!.version;
  assert.equal(await engine.run(split), 'ACCEPTED');
  assert.equal(last(split.commandId)?.details.awaiting, 'approval');
  assert.equal(await engine.run(split), 'ACCEPTED', 'a redelivery while waiting runs nothing');
  assert.equal(await engine.settleApprovals(), 0, 'nothing decided yet');
  assert.equal((await loadRoutes(adapter.coord, T))!.version, version, 'nothing changed while waiting');
  assert.ok((await ledger.pendingApprovals()).some((p) => p.commandId === split.commandId));

  assert.equal(await ledger.decideApproval(split.commandId, 'approved', 'tester'), true);
  assert.equal(await ledger.decideApproval(split.commandId, 'approved', 'tester'), false, 'decided once');
  assert.equal(await engine.settleApprovals(), 1);
  assert.equal(last(split.commandId)?.status, 'SUCCEEDED', last(split.commandId)?.reason ?? '');
  assert.equal((await loadRoutes(adapter.coord, T))!.shards.length, 2);
  assert.equal(await engine.run(split), 'REJECTED', 'a later redelivery is a duplicate');
});

test('a denied command is REJECTED with who denied it and changes nothing; unknown ids are refused', { timeout: 60_000 }, async () => {
  const move = testCommand('exec-approval', T, 'shard', 'move', {
    partition: 's0',
    sourceNode: 'node0',
    targetNode: 'node1',
    requiresApproval: true,
  });
  const version = (await loadRoutes(adapter.coord, T))!.version;
  assert.equal(await engine.run(move), 'ACCEPTED');
  assert.equal(await ledger.decideApproval(move.commandId, 'denied', 'tester'), true);
  assert.equal(await engine.settleApprovals(), 1);
  assert.equal(last(move.commandId)?.status, 'REJECTED');
  assert.equal(last(move.commandId)?.reason, 'denied by tester');
  assert.equal((await loadRoutes(adapter.coord, T))!.version, version);
  assert.equal(await ledger.decideApproval('no-such-command', 'approved', 'tester'), false);
});

test("an operator's stop aborts the command in hand: the adapter rolls back and the routing map is unchanged", {
  timeout: 120_000,
}, async () => {
  const T2 = `${T}_stop`.slice(0, 40);
  await createOrdersTable(cfg, T2, [{ shard: 's0', lo: null, hi: null, node: 'node0' }]);
  try {
    await seedRows(cfg, T2, 0, 4000);
    // throttled hard, so the copy is still going when the stop arrives
    const slow = new ExecutorEngine({
      executorName: 'exec-stop-test',
      adapters: [adapter],
      ledger,
      emit: async (r) => void results.push(r),
      bytesPerSecond: 20_000,
    });
    const split = testCommand('exec-stop', T2, 'partition', 'split', { partition: 's0' }, { splitAt: '2000' });
    const version = (await loadRoutes(adapter.coord, T2))!.version;
    const run = slow.run(split);
    const deadline = Date.now() + 30_000;
    while (last(split.commandId)?.status !== 'RUNNING' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(last(split.commandId)?.status, 'RUNNING', 'the split started');
    assert.equal(slow.stop('another-command', 'stopped by tester'), false, 'only the command in hand can be stopped');
    assert.equal(slow.stop(split.commandId, 'stopped by tester'), true);
    assert.equal(await run, 'ROLLED_BACK');
    assert.match(last(split.commandId)?.reason ?? '', /stopped by tester/);
    assert.equal((await ledger.get(split.commandId))?.status, 'ROLLED_BACK');
    assert.equal((await loadRoutes(adapter.coord, T2))!.version, version, 'the routing map never switched');
  } finally {
    await dropShardedTable(cfg, T2).catch(() => undefined);
  }
});
