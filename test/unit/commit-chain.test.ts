/** Concurrent batches commit in order, and never past a batch that failed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { CommitChain } from '../../pipelines/commitChain.js';

test('a batch whose work finishes first still commits after the one before it', async () => {
  const chain = new CommitChain();
  const commits: string[] = [];
  const job = (name: string, workMs: number) =>
    chain.run(async (earlier) => {
      await sleep(workMs);
      await earlier;
      commits.push(name);
      return name;
    });
  const results = await Promise.all([job('a', 40), job('b', 5), job('c', 1)]);
  assert.deepEqual(results, ['a', 'b', 'c']);
  assert.deepEqual(commits, ['a', 'b', 'c']);
});

test('after a failed batch, later batches do not commit', async () => {
  const chain = new CommitChain();
  const commits: string[] = [];
  const a = chain.run(async () => {
    await sleep(20);
    throw new Error('insert failed');
  });
  const b = chain.run(async (earlier) => {
    await earlier;
    commits.push('b');
  });
  const c = chain.run(async (earlier) => {
    await earlier;
    commits.push('c');
  });
  await assert.rejects(a, /insert failed/);
  await assert.rejects(b, /insert failed/);
  await assert.rejects(c, /insert failed/);
  assert.deepEqual(commits, []);
});
