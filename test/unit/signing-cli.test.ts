/** `shardcast command send`: an operator's JSON becomes a full command, checked against its schema. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InputError } from '../../lib/errors.js';
import { commandFromJson } from '../../bin/commands/command.js';

test('bookkeeping fields are filled; the rest is checked against the topic schema', () => {
  const c = commandFromJson(
    {
      kind: 'shard',
      action: 'move',
      store: 'pg-shards',
      storeKind: 'postgres',
      table: 'orders',
      partition: 's1',
      sourceNode: 'node0',
      targetNode: 'node1',
    },
    1_000,
  );
  assert.equal(c.kind, 'shard');
  assert.match(c.commandId, /^manual-/);
  assert.equal(c.issuedAt, 1_000);
  assert.equal(c.deadline, 3_601_000);
  assert.equal(c.policy, 'manual');
  const own = commandFromJson({ kind: 'resource', commandId: 'mine-1', action: 'scale_out', store: 'pg-shards', storeKind: 'postgres' }, 0);
  assert.equal(own.commandId, 'mine-1');
  assert.throws(
    () => commandFromJson({ kind: 'shard', action: 'move' }, 0),
    (e: unknown) => e instanceof InputError && /store = undefined/.test(e.message),
  );
  assert.throws(() => commandFromJson({ kind: 'nope' }, 0), /"kind" must be one of partition, shard, resource/);
  assert.throws(
    () => commandFromJson({ kind: 'partition', action: 'split', store: 'x', storeKind: 'postgres', table: 't', deadline: 'soon' }, 0),
    /deadline = "soon"/,
  );
  assert.throws(() => commandFromJson([1], 0), /expected a JSON object/);
});
