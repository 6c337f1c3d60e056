/**
 * The decide stage's history when its catalog is down: the executors' ledger on the real
 * coordinator, read back as the catalog would list the commands (finished with their result
 * time, taken ones in flight, other stores' left out).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import pg from 'pg';
import { CommandLedger } from '../../executors/ledger.js';
import { ledgerCommands } from '../../processors/decide/postgres/state.js';
import { RunningMoves, ledgerCommandsSince } from '../../stores/postgres/ledger.js';
import { testCommand } from './commands.js';
import { cfg, uniq } from './helpers.js';

const coord = new pg.Pool({ connectionString: cfg.pgNodes[0]!, max: 1 });
after(async () => {
  await coord.end();
});

test("the ledger's commands since a time, as the fallback plans against them", async () => {
  const ledger = await CommandLedger.open(cfg.pgNodes[0]!);
  const since = Date.now() - 1_000;
  const table = uniq('t_hist').replace(/[^a-z0-9]/g, '_');
  const moved = testCommand('hist-move', table, 'shard', 'move', { partition: 's0', sourceNode: 'node0', targetNode: 'node1' });
  const splitting = testCommand('hist-split', table, 'partition', 'split', { partition: 's1' }, { splitAt: '10' });
  const elsewhere = { ...testCommand('hist-ch', table, 'partition', 'precompute', {}), store: 'clickhouse' };
  try {
    for (const c of [moved, splitting, elsewhere]) await ledger.claim(c.commandId, c.action, c);
    await ledger.setStatus(moved.commandId, 'SUCCEEDED');
    await ledger.setStatus(splitting.commandId, 'RUNNING');
    const ours = new Set([moved.commandId, splitting.commandId, elsewhere.commandId]);
    const rows = (await ledgerCommandsSince(coord, since)).filter((r) => ours.has((r.command as { commandId: string }).commandId));
    assert.equal(rows.length, 3, 'every command taken since then');
    const listed = ledgerCommands(rows).sort((a, b) => a.action.localeCompare(b.action));
    assert.deepEqual(
      listed.map((c) => [c.id, c.action, c.table, c.partition, c.sourceNode, c.targetNode, c.status, c.deadline]),
      [
        [moved.commandId, 'move', table, 's0', 'node0', 'node1', 'SUCCEEDED', moved.deadline],
        [splitting.commandId, 'split', table, 's1', null, null, 'RUNNING', splitting.deadline],
      ],
    );
    const done = listed.find((c) => c.id === moved.commandId)!;
    assert.ok(done.resultTs !== null && Math.abs(done.resultTs - Date.now()) < 60_000, 'finished: its result time is its last change');
    assert.equal(listed.find((c) => c.id === splitting.commandId)!.resultTs, null, 'running: no result yet');
    // nothing changed since now
    const later = (await ledgerCommandsSince(coord, Date.now() + 60_000)).filter((r) =>
      ours.has((r.command as { commandId: string }).commandId),
    );
    assert.equal(later.length, 0);
  } finally {
    await coord.query('DELETE FROM shardcast_exec.ledger WHERE command_id = ANY($1)', [
      [moved.commandId, splitting.commandId, elsewhere.commandId],
    ]);
    await ledger.close();
  }
});

test('the data moves running, as a held move would run beside them: taken or approved ones, and those sent but not yet taken', async () => {
  const ledger = await CommandLedger.open(cfg.pgNodes[0]!);
  const table = uniq('t_slots').replace(/[^a-z0-9]/g, '_');
  // an action name of this test's own: other tests' moves in the shared ledger do not count
  const moveAction = `move_${table}`;
  const move = (prefix: string) =>
    testCommand(prefix, table, 'shard', moveAction, { partition: 's0', sourceNode: 'node0', targetNode: 'node1' });
  const [accepted, running, done, pending, approved, sentNow, sentStale] = ['acc', 'run', 'done', 'pend', 'appr', 'sent', 'stale'].map(
    move,
  );
  const other = testCommand('slots-split', table, 'partition', 'split', { partition: 's1' }, { splitAt: '10' });
  const all = [accepted, running, done, pending, approved, sentNow, sentStale, other].map((c) => c!.commandId);
  const moves = new RunningMoves(coord, new Set([moveAction]));
  try {
    await ledger.claim(accepted!.commandId, moveAction, accepted);
    await ledger.claim(running!.commandId, moveAction, running);
    await ledger.setStatus(running!.commandId, 'RUNNING');
    await ledger.claim(done!.commandId, moveAction, done);
    await ledger.setStatus(done!.commandId, 'SUCCEEDED');
    await ledger.holdForApproval(pending!.commandId, moveAction, pending);
    await ledger.holdForApproval(approved!.commandId, moveAction, approved);
    assert.ok(await ledger.decideApproval(approved!.commandId, 'approved', 'test'));
    await ledger.claim(other.commandId, 'split', other);
    await ledger.setStatus(other.commandId, 'RUNNING');
    // accepted, running, approved: finished, pending approval and other actions do not count
    assert.equal(await moves.count(Date.now()), 3);
    // sent by this stage and not taken yet: counted until taken, or until its deadline passed
    moves.sending([sentNow!, { ...sentStale!, deadline: Date.now() - 1 }, other]);
    assert.equal(await moves.count(Date.now()), 4);
    await ledger.claim(sentNow!.commandId, moveAction, sentNow);
    assert.equal(await moves.count(Date.now()), 4, 'taken: counted once, from the ledger');
    await ledger.setStatus(accepted!.commandId, 'ROLLED_BACK');
    assert.equal(await moves.count(Date.now()), 3);
  } finally {
    await coord.query('DELETE FROM shardcast_exec.ledger WHERE command_id = ANY($1)', [all]);
    await ledger.close();
  }
  // an unreadable ledger: unknown, not zero
  const closed = new pg.Pool({ connectionString: cfg.pgNodes[0]!, max: 1 });
  await closed.end();
  assert.equal(await new RunningMoves(closed, new Set([moveAction])).count(Date.now()), null);
});
