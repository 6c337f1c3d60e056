/**
 * What a scaled-out stage concludes about a failed transaction from the committed offset once
 * the broker ended it: committed (answer lost; not redone), not committed (redone), or overtaken
 * by another owner (dropped, never redone on top of the other owner's commits).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFenced, transactionOutcome } from '../../topics/transactionOutcome.js';

const at = (offset: string, metadata: string | null = null) => ({ offset, metadata });

test('the try went through when the committed position is the one it would commit, metadata included', () => {
  assert.equal(transactionOutcome(at('100', 'm1'), at('180', 'm2'), at('180', 'm2')), 'committed');
  assert.equal(transactionOutcome(at('100', 'm1'), at('180', 'm2'), at('180', 'm3')), 'overtaken');
});

test('nothing moved since the base: redo; a partition never committed before counts as its own base', () => {
  assert.equal(transactionOutcome(at('100', 'm1'), at('180', 'm2'), at('100', 'm1')), 'not-committed');
  assert.equal(transactionOutcome(null, at('180'), null), 'not-committed');
  assert.equal(transactionOutcome(null, at('180'), at('-1')), 'not-committed', 'the broker reports "none" as -1');
});

test('another owner committed since the base, before or beyond the try: overtaken', () => {
  assert.equal(transactionOutcome(at('100'), at('180'), at('150')), 'overtaken');
  assert.equal(transactionOutcome(at('100'), at('180'), at('220')), 'overtaken');
  assert.equal(transactionOutcome(null, at('180'), at('40')), 'overtaken');
});

test('empty metadata is no metadata (how the broker returns a commit made without any)', () => {
  assert.equal(transactionOutcome(at('100'), at('180'), at('180', '')), 'committed');
  assert.equal(transactionOutcome(at('100', ''), at('180'), at('100')), 'not-committed');
});

test('isFenced: a newer producer with the same transactional id, however kafkajs wraps it', () => {
  assert.equal(isFenced({ type: 'INVALID_PRODUCER_EPOCH' }), true);
  assert.equal(isFenced({ type: 'PRODUCER_FENCED' }), true);
  assert.equal(isFenced(Object.assign(new Error('retries exceeded'), { originalError: { type: 'INVALID_PRODUCER_EPOCH' } })), true);
  assert.equal(isFenced(new Error('outer', { cause: { name: 'KafkaJSProducerFencedError' } })), true);
  assert.equal(isFenced({ type: 'CONCURRENT_TRANSACTIONS' }), false);
  assert.equal(isFenced(new Error('connection refused')), false);
  assert.equal(isFenced(null), false);
  const loop: { cause?: unknown } = {};
  loop.cause = loop;
  assert.equal(isFenced(loop), false);
});
