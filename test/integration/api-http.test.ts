/**
 * The HTTP API on the real stack, served on an ephemeral port: tokens and roles, parameters
 * refused by name, unknown ids, oversized bodies, and an approval through the API that reaches
 * the executor's ledger on PostgreSQL and the audit topic on Kafka; refusals change nothing.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { parseTokens } from '../../console/http/auth.js';
import { type RunningServer, startServer } from '../../console/http/server.js';
import { openOperations, type Operations } from '../../console/ops/operations.js';
import { CommandLedger } from '../../executors/ledger.js';
import { consumeAudit } from './api-helpers.js';
import { testCommand } from './commands.js';
import { cfg, uniq } from './helpers.js';

const VIEWER = `v-${uniq('token')}-0123456789`;
const OPERATOR = `o-${uniq('token')}-0123456789`;
const operatorName = uniq('api-op').replace(/[^A-Za-z0-9._@-]/g, '');
const table = `t_${uniq('apihttp').replace(/[^a-z0-9]/g, '_')}`.slice(0, 40);

let ledger: CommandLedger;
let ops: Operations;
let server: RunningServer;
const held: string[] = [];

before(async () => {
  ledger = await CommandLedger.open(cfg.pgNodes[0]!);
  ops = openOperations(cfg, { log: pino({ level: 'silent' }) });
  const tokens = parseTokens(`viewer1:viewer:${VIEWER},${operatorName}:operator:${OPERATOR}`);
  server = await startServer({ ops, tokens, log: pino({ level: 'silent' }), port: 0 });
});

after(async () => {
  // settled here, so a running executor or another test's settleApprovals never picks them up
  for (const id of held) await ledger.setStatus(id, 'REJECTED', { reason: 'test command, settled by the test' });
  await server?.close();
  await ops?.close();
  await ledger?.close();
});

async function call(method: string, path: string, token?: string, body?: string) {
  const res = await fetch(`${server.url}${path}`, { method, body, headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function hold(): Promise<string> {
  const cmd = testCommand('api-http', table, 'partition', 'split', { partition: 's0', requiresApproval: true }, { splitAt: '5' });
  await ledger.holdForApproval(cmd.commandId, cmd.action, cmd);
  held.push(cmd.commandId);
  return cmd.commandId;
}

test('an approval through the API reaches the executor ledger and the audit topic; a second one is a 409', {
  timeout: 90_000,
}, async () => {
  const id = await hold();
  const queue = await call('GET', '/api/commands?waiting=true&limit=1000', VIEWER);
  assert.equal(queue.status, 200);
  assert.ok(
    (queue.body.commands as { commandId: string }[]).some((c) => c.commandId === id),
    'the held command is in the queue',
  );

  const audited = consumeAudit(cfg, (e) => e.actor === operatorName && e.target === id);
  const r = await call('POST', `/api/commands/${id}/approve`, OPERATOR);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.approval, 'approved');
  assert.equal(r.body.approvedBy, operatorName, 'who decides is the token, not the request');
  assert.equal((await ledger.get(id))?.approval, 'approved');
  const ev = await audited;
  assert.deepEqual([ev.action, ev.role, ev.via, ev.outcome], ['command.approve', 'operator', 'api', 'approved']);

  const again = await call('POST', `/api/commands/${id}/deny`, OPERATOR, '{}');
  assert.equal(again.status, 409);
  assert.equal((await ledger.get(id))?.approval, 'approved', 'the refused verdict changed nothing');

  const one = await call('GET', `/api/commands/${encodeURIComponent(id)}`, VIEWER);
  assert.equal(one.status, 200);
  assert.equal(one.body.approvedBy, operatorName);
});

test('a denial through the API is recorded; the viewer cannot decide, and nothing changes', { timeout: 60_000 }, async () => {
  const id = await hold();
  assert.equal((await call('POST', `/api/commands/${id}/deny`)).status, 401);
  assert.equal((await call('POST', `/api/commands/${id}/deny`, VIEWER)).status, 403);
  assert.equal((await call('POST', `/api/commands/${id}/deny`, OPERATOR, '{"x":')).status, 400);
  const big = await call('POST', `/api/commands/${id}/deny`, OPERATOR, JSON.stringify({ pad: 'x'.repeat(64 * 1024) }));
  assert.equal(big.status, 413);
  assert.equal((await ledger.get(id))?.approval, 'pending', 'refused requests changed nothing');
  const r = await call('POST', `/api/commands/${id}/deny`, OPERATOR);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal((await ledger.get(id))?.approval, 'denied');
});

test('unknown ids are 404 and bad parameters 400 naming the parameter', { timeout: 30_000 }, async () => {
  const ghost = uniq('no-such-command');
  assert.equal((await call('GET', `/api/commands/${ghost}`, VIEWER)).status, 404);
  assert.equal((await call('POST', `/api/commands/${ghost}/approve`, OPERATOR)).status, 404);
  assert.equal(await ledger.get(ghost), null, 'an approval of an unknown id created nothing');
  assert.equal((await call('GET', '/api/analytics/no-such-query', VIEWER)).status, 404);
  for (const [path, parameter] of [
    ['/api/commands?limit=5000', 'limit'],
    ['/api/commands?waiting=maybe', 'waiting'],
    ['/api/analytics/migrations?since=100&until=50', 'until'],
    ['/api/catalog/placement?source=bad%20source&table=orders', 'source'],
  ] as const) {
    const r = await call('GET', path, VIEWER);
    assert.equal(r.status, 400, path);
    assert.equal(r.body.parameter, parameter, `${path}: ${JSON.stringify(r.body)}`);
  }
});

test('reads answer from the real servers: the commands list, catalog placement, analytics', { timeout: 60_000 }, async () => {
  const list = await call('GET', '/api/commands?status=REJECTED,SUCCEEDED&limit=5', VIEWER);
  assert.equal(list.status, 200);
  for (const c of list.body.commands as { status: string }[]) assert.ok(['REJECTED', 'SUCCEEDED'].includes(c.status));
  const placement = await call('GET', `/api/catalog/placement?table=${table}`, VIEWER);
  assert.equal(placement.status, 200, JSON.stringify(placement.body));
  assert.deepEqual(placement.body.partitions, []);
  const queries = await call('GET', '/api/analytics', VIEWER);
  assert.ok((queries.body.queries as { name: string }[]).some((q) => q.name === 'decisions'));
  const rows = await call('GET', '/api/analytics/decisions?limit=2', VIEWER);
  assert.equal(rows.status, 200, JSON.stringify(rows.body));
  assert.ok((rows.body.rows as unknown[]).length <= 2);
});
