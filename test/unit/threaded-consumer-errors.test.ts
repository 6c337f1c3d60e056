import { test } from 'node:test';
import assert from 'node:assert/strict';
import { threadError } from '../../topics/threadedConsumer.js';
import { ConfigError } from '../../lib/config.js';
import { exitCodeFor, isRetriable } from '../../lib/errors.js';

test("the consumer thread's errors keep their kind across the thread: configuration (exit 2), retriable, other", () => {
  const config = threadError('config: KAFKA_SASL_PASSWORD: the broker refused the credentials', false, 'KAFKA_SASL_PASSWORD');
  assert.ok(config instanceof ConfigError);
  assert.equal((config as ConfigError).key, 'KAFKA_SASL_PASSWORD');
  assert.deepEqual(exitCodeFor(config), { code: 2, message: 'config: KAFKA_SASL_PASSWORD: the broker refused the credentials' });
  assert.ok(isRetriable(threadError('consumer thread failed: connect ECONNREFUSED', true)));
  assert.equal(exitCodeFor(threadError('consumer thread failed: boom')).code, 1);
});
