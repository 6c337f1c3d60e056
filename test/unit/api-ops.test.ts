/** The operations layer's pure parts: a ledger row as operators read it, parameter checks. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyticsSql, MAX_ANALYTICS_LIMIT } from '../../console/ops/analytics.js';
import { checkCommandId, commandView } from '../../console/ops/commands.js';
import { NotFoundError, ParameterError } from '../../console/ops/errors.js';
import type { LedgerRecord } from '../../executors/ledger.js';

const row = (over: Partial<LedgerRecord> = {}): LedgerRecord => ({
  commandId: 'c-1',
  action: 'split',
  status: 'ACCEPTED',
  state: {},
  attempts: 0,
  approval: 'pending',
  approvedBy: null,
  approvedAt: null,
  stopRequestedBy: null,
  command: { store: 'pg-shards', table: 'orders', partition: 's0', explanation: 'hot range' },
  createdAt: new Date(1_700_000_000_000),
  updatedAt: new Date(1_700_000_001_000),
  ...over,
});

test('a pending command is waiting for approval, has no outcome, and names its target', () => {
  const v = commandView(row());
  assert.equal(v.waitingForApproval, true);
  assert.equal(v.outcome, null);
  assert.equal(v.target, 'orders/s0');
  assert.equal(v.store, 'pg-shards');
  assert.equal(v.explanation, 'hot range');
  assert.equal(v.createdAt, '2023-11-14T22:13:20.000Z');
});

test('a running command shows its checkpointed phase; a finished one its outcome and reason', () => {
  const running = commandView(row({ status: 'RUNNING', approval: null, attempts: 1, state: { phase: 'copying', copied: '300' } }));
  assert.equal(running.waitingForApproval, false);
  assert.deepEqual(running.progress, { phase: 'copying', attempts: 1, checkpoint: { phase: 'copying', copied: '300' } });
  assert.equal(running.outcome, null);
  const denied = commandView(
    row({ status: 'REJECTED', approval: 'denied', approvedBy: 'ann', approvedAt: new Date(0), state: { reason: 'denied by ann' } }),
  );
  assert.deepEqual(denied.outcome, { status: 'REJECTED', reason: 'denied by ann' });
  assert.equal(denied.approvedAt, '1970-01-01T00:00:00.000Z');
  assert.equal(denied.waitingForApproval, false);
});

test('a command without a stored body (claimed by an old executor) still reads', () => {
  const v = commandView(row({ command: null, approval: null, status: 'SUCCEEDED' }));
  assert.equal(v.target, '');
  assert.equal(v.store, null);
  assert.deepEqual(v.outcome, { status: 'SUCCEEDED', reason: null });
});

test('command ids are checked and the parameter is named', () => {
  assert.equal(checkCommandId('split-orders-1:2'), 'split-orders-1:2');
  for (const bad of ['', 'a b', "x'; drop", 'x'.repeat(129)])
    assert.throws(
      () => checkCommandId(bad),
      (e: unknown) => e instanceof ParameterError && e.parameter === 'id',
    );
});

test('analytics: unknown query is not found; limit, since and until out of range name the parameter', () => {
  assert.match(analyticsSql('db', 'hot-ranges', { limit: 5 }), /LIMIT 5/);
  assert.throws(() => analyticsSql('db', 'nope', {}), NotFoundError);
  const param = (p: object) => (e: unknown) => e instanceof ParameterError && Object.entries(p).every(([k, v]) => (e as never)[k] === v);
  assert.throws(() => analyticsSql('db', 'hot-ranges', { limit: 0 }), param({ parameter: 'limit' }));
  assert.throws(() => analyticsSql('db', 'hot-ranges', { limit: MAX_ANALYTICS_LIMIT + 1 }), param({ parameter: 'limit' }));
  assert.throws(() => analyticsSql('db', 'hot-ranges', { limit: 1.5 }), param({ parameter: 'limit' }));
  assert.throws(() => analyticsSql('db', 'hot-ranges', { since: -1 }), param({ parameter: 'since' }));
  assert.throws(() => analyticsSql('db', 'hot-ranges', { since: 10, until: 10 }), param({ parameter: 'until' }));
  assert.match(analyticsSql('db', 'migrations', { since: 10, until: 20 }), /ts_ms >= 10 AND ts_ms < 20/);
});
