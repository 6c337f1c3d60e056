import { test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs from '../../lib/kafkajs.js';
import { isRetriable } from '../../lib/errors.js';
import { consumerHealth, failureAction, initialHealth } from '../../pipelines/failure.js';
import { commitFailure } from '../../topics/consumer.js';

test('a commit refused because the group moved on is retried by the stage; other refusals keep their class', () => {
  for (const type of ['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID']) {
    const refused = new kafkajs.KafkaJSProtocolError({ message: type, type, code: 0, retriable: false } as never);
    assert.equal(isRetriable(refused), false, `kafkajs marks ${type} not retriable`);
    assert.equal(failureAction(commitFailure(refused)), 'retry', type);
  }
  // kafkajs's retrier re-wraps the refusal: only the message is left
  const rewrapped = new kafkajs.KafkaJSNonRetriableError(new Error('The coordinator is not aware of this member'));
  assert.equal(failureAction(commitFailure(rewrapped)), 'retry');
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

test('a consumer kafkajs restarts shows the stage retrying until it has joined its group again', () => {
  const health = initialHealth();
  const c = consumerHealth(health);
  c.onRestart('Connection error: connect ECONNREFUSED 127.0.0.1:9092');
  assert.equal(health.state, 'retrying');
  assert.equal(health.retries, 1);
  assert.match(health.lastError ?? '', /ECONNREFUSED/);
  c.onJoin();
  assert.equal(health.state, 'running');
  assert.equal(health.lastError, null);
  // a join does not clear a step the stage itself is retrying
  Object.assign(health, { state: 'retrying', lastError: 'send: the broker did not answer' });
  c.onJoin();
  assert.equal(health.state, 'retrying');
});
