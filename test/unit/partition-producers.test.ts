import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFenced } from '../../pipelines/partitionProducers.js';

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
