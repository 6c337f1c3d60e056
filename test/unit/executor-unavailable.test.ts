import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExecutorEngine } from '../../executors/engine.js';
import type { StoreAdapter } from '../../executors/types.js';
import { UnavailableError } from '../../lib/errors.js';
import type { AnyCommand, CommandResult } from '../../schemas/types.js';
import { memoryLedger } from './memoryLedger.js';
import { handMadeFields } from '../../schemas/handMadeCommand.js';

const move = (commandId: string): AnyCommand =>
  ({
    kind: 'shard',
    commandId,
    ...handMadeFields(0, 60_000, 'test', 'unit test'),
    store: 'pg-shards',
    storeKind: 'postgres',
    table: 't',
    partition: 's1',
    sourceNode: 'node0',
    targetNode: 'node1',
    action: 'move',
  }) as AnyCommand;

/** An adapter whose store does not answer for the first `outages` attempts, then resumes from the checkpoint. */
function flakyStore(outages: number) {
  const resumedFrom: (Record<string, string> | null)[] = [];
  const adapter: StoreAdapter = {
    name: 'flaky',
    handles: () => true,
    validate: async () => null,
    execute: async (_c, ctx) => {
      resumedFrom.push(ctx.resumeFrom);
      await ctx.checkpoint({ phase: 'copied' });
      if (resumedFrom.length <= outages) throw new UnavailableError('connect ECONNREFUSED 127.0.0.1:5434');
      return { status: 'SUCCEEDED', verified: true, rowsCopied: 10 };
    },
  };
  return { adapter, resumedFrom };
}

const engineWith = (adapter: StoreAdapter, maxStoreAttempts?: number) => {
  const results: CommandResult[] = [];
  const engine = new ExecutorEngine({
    executorName: 'unit',
    adapters: [adapter],
    ledger: memoryLedger(),
    emit: async (r) => {
      results.push(r);
    },
    bytesPerSecond: 1e9,
    ...(maxStoreAttempts ? { maxStoreAttempts } : {}),
  });
  return { engine, results };
};

test('a store that does not answer leaves the command running: the retry resumes from its checkpoint', async () => {
  const { adapter, resumedFrom } = flakyStore(2);
  const { engine, results } = engineWith(adapter);
  await assert.rejects(engine.run(move('m1')), UnavailableError);
  await assert.rejects(engine.run(move('m1')), UnavailableError);
  assert.equal(await engine.run(move('m1')), 'SUCCEEDED');
  assert.deepEqual(resumedFrom, [null, { phase: 'copied' }, { phase: 'copied' }]);
  assert.deepEqual(
    results.map((r) => r.status).filter((s) => s !== 'ACCEPTED'),
    ['RUNNING', 'RUNNING', 'SUCCEEDED'],
    'no FAILED while the store was away',
  );
  assert.match(results.find((r) => r.status === 'RUNNING')!.reason ?? '', /store unavailable \(attempt 1\), will retry/);
});

test('a store that stays away fails the command after the attempts allowed', async () => {
  const { adapter } = flakyStore(100);
  const { engine, results } = engineWith(adapter, 3);
  await assert.rejects(engine.run(move('m2')), UnavailableError);
  await assert.rejects(engine.run(move('m2')), UnavailableError);
  assert.equal(await engine.run(move('m2')), 'FAILED');
  assert.match(results.at(-1)!.reason ?? '', /store unavailable after 3 attempts/);
});

test('an error that is not about availability fails at once', async () => {
  const adapter: StoreAdapter = {
    name: 'broken',
    handles: () => true,
    validate: async () => null,
    execute: async () => {
      throw new Error('checksum mismatch after copy');
    },
  };
  const { engine } = engineWith(adapter);
  assert.equal(await engine.run(move('m3')), 'FAILED');
});
