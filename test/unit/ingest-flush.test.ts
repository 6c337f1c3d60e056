/**
 * Ingest's decode and flush under the stages' failure policy, with fake Kafka steps that fail the way a
 * broker that does not answer makes them fail: retried with backoff (health `retrying`), the
 * commit never before the send, every output sent once per successful try, anything that is not
 * retriable thrown at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InputError, StateError, UnavailableError } from '../../lib/errors.js';
import { initialHealth, retryWhileRetriable, type StageHealth } from '../../pipelines/failure.js';
import { decodeQueryEvents, type EventDecoder, flushIngestOutputs, type FlushSteps } from '../../pipelines/ingest.js';
import type { Envelope } from '../../schemas/envelope.js';
import type { IngestOutput } from '../../processors/ingest/processor.js';
import type { WorkloadAggregate } from '../../schemas/types.js';

const aggregate = { seriesId: 's1', windowStart: 0 } as WorkloadAggregate;
const outputs: IngestOutput[] = [
  { kind: 'out', value: aggregate },
  { kind: 'progress', safeOffsets: { 'q:0': '41' } },
];

const retryingWith =
  (health: StageHealth, signal?: AbortSignal) =>
  <R>(step: string, work: () => Promise<R>) =>
    retryWhileRetriable(work, { step, health, backoff: { initialMs: 1, maxMs: 4 }, ...(signal ? { signal } : {}) });

/** Steps that fail `failures[step]` times with `err`, then succeed; a log of what was called. */
function fakeSteps(failures: { send?: number; commit?: number }, err: () => unknown, health: StageHealth) {
  const calls: string[] = [];
  const left = { send: failures.send ?? 0, commit: failures.commit ?? 0 };
  const steps: FlushSteps = {
    async send(batches) {
      calls.push(`send ${batches.map((b) => b.records.length).join('+')} while ${health.state}`);
      if (left.send-- > 0) throw err();
    },
    async commit(positions) {
      calls.push(`commit ${positions.map((p) => `${p.topic}:${p.partition}@${p.offset}`).join(',')} while ${health.state}`);
      if (left.commit-- > 0) throw err();
    },
  };
  return { steps, calls };
}

test('a broker that does not answer is retried: send, then commit, health retrying until they succeed', async () => {
  const health = initialHealth();
  const { steps, calls } = fakeSteps({ send: 2, commit: 1 }, () => new UnavailableError('Kafka did not answer'), health);
  const n = await flushIngestOutputs(outputs, steps, retryingWith(health));
  assert.deepEqual(n, { aggregates: 1, letters: 0 });
  assert.deepEqual(calls, [
    'send 1+0 while running',
    'send 1+0 while retrying',
    'send 1+0 while retrying',
    'commit q:0@41 while running',
    'commit q:0@41 while retrying',
  ]);
  assert.equal(health.state, 'running');
  assert.equal(health.retries, 3);
});

test("kafkajs's own retriable errors are retried as well", async () => {
  const health = initialHealth();
  const kafkaErr = () => Object.assign(new Error('Request Produce(key: 0, version: 7) timed out'), { retriable: true });
  const { steps, calls } = fakeSteps({ send: 1 }, kafkaErr, health);
  await flushIngestOutputs(outputs, steps, retryingWith(health));
  assert.equal(calls.length, 3);
});

test('a failure that is not retriable stops the flush at once, nothing committed', async () => {
  const health = initialHealth();
  const { steps, calls } = fakeSteps({ send: 1 }, () => new StateError('producer fenced'), health);
  await assert.rejects(flushIngestOutputs(outputs, steps, retryingWith(health)), StateError);
  assert.deepEqual(calls, ['send 1+0 while running']);
  assert.equal(health.retries, 0);
});

test('stopping while the broker is away ends the retrying with its error, nothing committed', async () => {
  const health = initialHealth();
  const stop = new AbortController();
  const { steps, calls } = fakeSteps({ send: 1_000 }, () => new UnavailableError('Kafka did not answer'), health);
  const flushed = flushIngestOutputs(outputs, steps, retryingWith(health, stop.signal));
  setTimeout(() => stop.abort(), 30);
  await assert.rejects(flushed, UnavailableError);
  assert.ok(calls.every((c) => c.startsWith('send')));
  assert.equal(health.state, 'retrying');
  assert.match(health.lastError ?? '', /^send: Kafka did not answer/);
});

test('a flush without progress sends and commits nothing further', async () => {
  const health = initialHealth();
  const { steps, calls } = fakeSteps({}, () => undefined, health);
  await flushIngestOutputs([{ kind: 'out', value: aggregate }], steps, retryingWith(health));
  assert.deepEqual(calls, ['send 1+0 while running']);
});

const envelope = (offset: number, bytes: string): Envelope<Buffer | null> => {
  const value = Buffer.from(bytes);
  return { topic: 'q', partition: 0, offset: String(offset), key: null, value, raw: value };
};

/** A serde whose schemas are unknown here (each decode asks the registry), failing as told. */
function fakeRegistry(fail: (bytes: string, calls: number) => unknown): { serde: EventDecoder; calls: () => number } {
  let calls = 0;
  return {
    calls: () => calls,
    serde: {
      decodeSync: () => undefined,
      async decode<T>(_topic: string, buf: Buffer | null): Promise<T> {
        calls++;
        const err = fail(String(buf), calls);
        if (err) throw err;
        return { eventId: String(buf) } as T;
      },
    },
  };
}

test('a registry that does not answer is retried: good events are decoded, not dead-lettered', async () => {
  const health = initialHealth();
  const { serde, calls } = fakeRegistry((_b, n) => (n <= 2 ? new UnavailableError('schema registry did not answer') : undefined));
  const batch = [envelope(0, 'a'), envelope(1, 'b')];
  assert.equal(await decodeQueryEvents(batch, serde, retryingWith(health)), 2);
  assert.deepEqual(
    batch.map((m) => m.value as unknown),
    [{ eventId: 'a' }, { eventId: 'b' }],
  );
  assert.equal(calls(), 4);
  assert.equal(health.retries, 2);
  assert.equal(health.state, 'running');
});

test('bad bytes become a decode failure (a dead letter later) and the batch goes on', async () => {
  const health = initialHealth();
  const { serde } = fakeRegistry((b) => (b === 'bad' ? new InputError('not Confluent wire format') : undefined));
  const batch = [envelope(0, 'bad'), envelope(1, 'ok')];
  assert.equal(await decodeQueryEvents(batch, serde, retryingWith(health)), 1);
  assert.deepEqual(batch[0]!.value as unknown, { decodeFailure: 'not Confluent wire format' });
  assert.deepEqual(batch[1]!.value as unknown, { eventId: 'ok' });
  assert.equal(health.retries, 0);
});

test('a decode error that is neither bad input nor retriable stops ingest', async () => {
  const { serde } = fakeRegistry(() => new StateError('serde: schema not registered'));
  await assert.rejects(decodeQueryEvents([envelope(0, 'a')], serde, retryingWith(initialHealth())), StateError);
});
