/** The stages' failure policy (error → action), the backoff's bounds and the retry loop's health. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import kafkajs from '../../lib/kafkajs.js';
import { ConfigError } from '../../lib/config.js';
import { InputError, ShardcastError, StateError, UnavailableError, UsageError } from '../../lib/errors.js';
import { DecodeError } from '../../schemas/serde.js';
import { backoffDelayMs, failureAction, initialHealth, retryWhileRetriable } from '../../pipelines/failure.js';

const { KafkaJSConnectionError, KafkaJSNonRetriableError } = kafkajs;

test('bad input goes to the dead-letter topic', () => {
  assert.equal(failureAction(new InputError('amount is not a number')), 'dead-letter');
  assert.equal(failureAction(new DecodeError('not Confluent wire format: 3 bytes')), 'dead-letter');
});

test('a server that does not answer is retried: our errors, kafkajs retriable errors, refused connections', () => {
  assert.equal(failureAction(new UnavailableError('ClickHouse did not answer')), 'retry');
  assert.equal(failureAction(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED')), 'retry');
  assert.equal(failureAction(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' })), 'retry');
  const wrapped = new Error('insert failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
  assert.equal(failureAction(wrapped), 'retry');
});

test('anything else stops the stage', () => {
  for (const err of [
    new StateError('offsets went backwards'),
    new UsageError('unknown option'),
    new ConfigError('KAFKA_BROKERS', 'expected a value'),
    new KafkaJSNonRetriableError('topic authorization failed'),
    new TypeError("Cannot read properties of undefined (reading 'x')"),
    new ShardcastError('plain'),
    'a string',
    null,
  ]) {
    assert.equal(failureAction(err), 'exit', String(err));
  }
});

test('an InputError is dead-lettered even when flagged retriable: the same bytes fail the same way', () => {
  assert.equal(failureAction(new InputError('bad', { retriable: true })), 'dead-letter');
});

test('backoff doubles from the initial delay and stays within [initial/2, max]', () => {
  const opts = { initialMs: 100, maxMs: 5_000 };
  assert.equal(
    backoffDelayMs(1, opts, () => 1),
    100,
  );
  assert.equal(
    backoffDelayMs(2, opts, () => 1),
    200,
  );
  assert.equal(
    backoffDelayMs(3, opts, () => 0),
    200,
  );
  assert.equal(
    backoffDelayMs(7, opts, () => 1),
    5_000,
  );
  assert.equal(
    backoffDelayMs(10_000, opts, () => 1),
    5_000,
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 100_000 }),
      fc.integer({ min: 1, max: 10_000 }),
      fc.integer({ min: 1, max: 600_000 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (attempt, initialMs, maxMs, r) => {
        const d = backoffDelayMs(attempt, { initialMs, maxMs }, () => r);
        return Number.isFinite(d) && d >= Math.floor(initialMs / 2) && d <= Math.max(initialMs, maxMs);
      },
    ),
  );
});

test('the defaults: 200 ms first, never above 30 s', () => {
  assert.ok(backoffDelayMs(1) >= 100 && backoffDelayMs(1) <= 200);
  assert.ok(backoffDelayMs(50) >= 15_000 && backoffDelayMs(50) <= 30_000);
});

test('a retriable failure is retried until it succeeds; health says retrying meanwhile', async () => {
  const health = initialHealth();
  const seen: string[] = [];
  let calls = 0;
  const value = await retryWhileRetriable(
    async () => {
      calls++;
      seen.push(health.state);
      if (calls < 3) throw new UnavailableError('Kafka did not answer');
      return 'sent';
    },
    { step: 'send', health, backoff: { initialMs: 1, maxMs: 2 } },
  );
  assert.equal(value, 'sent');
  assert.deepEqual(seen, ['running', 'retrying', 'retrying']);
  assert.equal(health.state, 'running');
  assert.equal(health.retries, 2);
  assert.equal(health.lastError, null);
});

test('a failure that is not retriable is thrown at once', async () => {
  const health = initialHealth();
  let calls = 0;
  await assert.rejects(
    retryWhileRetriable(
      async () => {
        calls++;
        throw new StateError('broken');
      },
      { step: 'handle', health },
    ),
    StateError,
  );
  assert.equal(calls, 1);
  assert.equal(health.retries, 0);
});

test('stopping ends the retrying with the last error', async () => {
  const health = initialHealth();
  const stop = new AbortController();
  const retried = retryWhileRetriable(
    async () => {
      throw new UnavailableError('ClickHouse did not answer');
    },
    { step: 'handle', health, backoff: { initialMs: 60_000 }, signal: stop.signal },
  );
  setTimeout(() => stop.abort(), 10);
  await assert.rejects(retried, /ClickHouse did not answer/);
  assert.equal(health.state, 'retrying');
  assert.match(health.lastError ?? '', /^handle: ClickHouse/);
});
