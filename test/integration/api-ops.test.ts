/**
 * The operations layer on the real stack: commands read from the executor's ledger on
 * PostgreSQL, an operator's verdict recorded there and audited to `shardcast.audit` on Kafka,
 * unknown ids and commands no longer waiting refused without a change.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { ConflictError, NotFoundError, ParameterError } from '../../console/ops/errors.js';
import { openOperations, type Operations } from '../../console/ops/operations.js';
import { CommandLedger } from '../../executors/ledger.js';
import { consumeAudit } from './api-helpers.js';
import { testCommand } from './commands.js';
import { cfg, uniq } from './helpers.js';

let ledger: CommandLedger;
let ops: Operations;
const held: string[] = [];
const table = `t_${uniq('apiops').replace(/[^a-z0-9]/g, '_')}`.slice(0, 40);

before(async () => {
  ledger = await CommandLedger.open(cfg.pgNodes[0]!);
  ops = openOperations(cfg);
});

after(async () => {
  // settled here, so a running executor or another test's settleApprovals never picks it up
  for (const id of held) await ledger.setStatus(id, 'REJECTED', { reason: 'test command, settled by the test' });
  await ops?.close();
  await ledger?.close();
});

test('a held command is listed as waiting, approved once through the service, audited on Kafka', { timeout: 90_000 }, async () => {
  const cmd = testCommand('api-ops', table, 'partition', 'split', { partition: 's0', requiresApproval: true }, { splitAt: '5' });
  await ledger.holdForApproval(cmd.commandId, cmd.action, cmd);
  held.push(cmd.commandId);
  const commands = await ops.commands();

  const waiting = await commands.list({ waiting: true, limit: 10_000 });
  const mine = waiting.find((c) => c.commandId === cmd.commandId);
  assert.ok(mine, 'the held command is in the approval queue');
  assert.equal(mine.target, `${table}/s0`);
  assert.equal(mine.waitingForApproval, true);
  assert.ok((await commands.list({ status: ['ACCEPTED'], limit: 10_000 })).some((c) => c.commandId === cmd.commandId));

  const actor = { name: uniq('tester'), role: 'operator', via: 'api' as const };
  const audited = consumeAudit(cfg, (e) => e.actor === actor.name);
  const v = await commands.decide(cmd.commandId, 'approved', actor);
  assert.equal(v.approval, 'approved');
  assert.equal(v.approvedBy, actor.name);
  assert.equal((await ledger.get(cmd.commandId))?.approval, 'approved');
  const ev = await audited;
  assert.equal(ev.action, 'command.approve');
  assert.equal(ev.target, cmd.commandId);
  assert.equal(ev.outcome, 'approved');

  await assert.rejects(commands.decide(cmd.commandId, 'denied', actor), ConflictError);
  assert.equal((await ledger.get(cmd.commandId))?.approval, 'approved', 'a refused verdict changes nothing');
});

test('unknown and malformed ids are refused by name', { timeout: 30_000 }, async () => {
  const commands = await ops.commands();
  await assert.rejects(commands.get(uniq('no-such-command')), NotFoundError);
  await assert.rejects(commands.decide(uniq('no-such-command'), 'approved', { name: 't', role: 'operator', via: 'api' }), NotFoundError);
  await assert.rejects(commands.get('bad id'), (e: unknown) => e instanceof ParameterError && e.parameter === 'id');
});

test('analytics and catalog answer through the same layer', { timeout: 60_000 }, async () => {
  const a = await ops.analytics().run('migrations', { limit: 3 });
  assert.ok(Array.isArray(a.rows) && a.rows.length <= 3);
  const p = await ops.catalog().placement({ tables: [table] });
  assert.equal(p.source, 'pg-shards');
  assert.deepEqual(p.partitions, [], 'a table the catalog does not know has no partitions');
  assert.ok(Array.isArray(p.nodes));
});

test('`shardcast approve` lists and decides through the same layer, audited with via cli', { timeout: 90_000 }, async () => {
  const cmd = testCommand('api-ops-cli', table, 'partition', 'split', { partition: 's0', requiresApproval: true }, { splitAt: '7' });
  await ledger.holdForApproval(cmd.commandId, cmd.action, cmd);
  held.push(cmd.commandId);
  const run = (...args: string[]) => promisify(execFile)(process.execPath, ['bin/shardcast.js', 'approve', ...args], { env: process.env });
  const listed = JSON.parse((await run('--json')).stdout) as { commandId: string; target: string }[];
  assert.equal(listed.find((c) => c.commandId === cmd.commandId)?.target, `${table}/s0`);
  const by = uniq('cli-tester');
  const audited = consumeAudit(cfg, (e) => e.actor === by);
  assert.deepEqual(JSON.parse((await run(cmd.commandId, '--deny', '--by', by, '--json')).stdout), {
    commandId: cmd.commandId,
    verdict: 'denied',
    by,
  });
  assert.equal((await ledger.get(cmd.commandId))?.approval, 'denied');
  const ev = await audited;
  assert.deepEqual([ev.action, ev.via, ev.target], ['command.deny', 'cli', cmd.commandId]);
  await assert.rejects(
    run(cmd.commandId, '--by', by),
    (e: { code?: number; stderr?: string }) => e.code === 2 && /not waiting/.test(e.stderr ?? ''),
  );
});
