/** The live feed: after a first look it sends each changed ledger row once, controls when they change, and stops polling without listeners. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ControlsView } from '../../console/ops/controls.js';
import { type ConsoleEvent, EventFeed } from '../../console/ops/events.js';
import type { CommandLedger, LedgerRecord } from '../../executors/ledger.js';

const row = (id: string, at: number): LedgerRecord => ({
  commandId: id,
  action: 'split',
  status: 'RUNNING',
  state: {},
  attempts: 1,
  approval: null,
  approvedBy: null,
  approvedAt: null,
  stopRequestedBy: null,
  command: { store: 'pg-shards', table: 'orders', partition: 's0' },
  createdAt: new Date(at),
  updatedAt: new Date(at),
});

test('the feed sends changes after its first look, each once, and controls when they change', async () => {
  const rows = [row('a', 1000)];
  const asked: (Date | null)[] = [];
  const ledger = {
    async changedSince(since: Date | null) {
      asked.push(since);
      return since === null ? rows.slice(-1) : rows.filter((r) => r.updatedAt > since);
    },
  } as unknown as CommandLedger;
  let controls: ControlsView = { scope: 'shardcast', deciding: 'running', pausedBy: null, pausedAt: null, approval: [] };
  const feed = new EventFeed(
    async () => ledger,
    async () => controls,
    (err) => assert.fail(String(err)),
    20,
  );
  const got: ConsoleEvent[] = [];
  const off = feed.subscribe((e) => got.push(e));
  await new Promise((r) => setTimeout(r, 70));
  assert.equal(got.length, 0, 'what was there before is not news');
  rows.push(row('b', 2000));
  controls = { ...controls, deciding: 'paused', pausedBy: 'ann' };
  await new Promise((r) => setTimeout(r, 70));
  assert.deepEqual(
    got.map((e) => [e.type, e.type === 'command' ? e.data.commandId : e.type === 'controls' ? e.data.deciding : '']),
    [
      ['command', 'b'],
      ['controls', 'paused'],
    ],
  );
  off();
  const polls = asked.length;
  await new Promise((r) => setTimeout(r, 70));
  assert.equal(asked.length, polls, 'no listener, no polling');
  feed.close();
});
