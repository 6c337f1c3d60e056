import { test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs from 'kafkajs';
import { isRetriable } from '../../lib/errors.js';
import { failureAction } from '../../pipelines/failure.js';
import { commitFailure } from '../../topics/consumer.js';

test('a commit refused because the group moved on is retried by the stage; other refusals keep their class', () => {
  for (const type of ['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID']) {
    const refused = new kafkajs.KafkaJSProtocolError({ message: type, type, code: 0, retriable: false } as never);
    assert.equal(isRetriable(refused), false, `kafkajs marks ${type} not retriable`);
    assert.equal(failureAction(commitFailure(refused)), 'retry', type);
  }
  const denied = new kafkajs.KafkaJSProtocolError({
    message: 'denied',
    type: 'GROUP_AUTHORIZATION_FAILED',
    code: 30,
    retriable: false,
  } as never);
  assert.equal(failureAction(commitFailure(denied)), 'exit');
  const other = new Error('boom');
  assert.equal(commitFailure(other), other);
});
