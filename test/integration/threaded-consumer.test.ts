import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { provisionTopics } from '../../topics/admin.js';
import { TOPICS } from '../../schemas/topics.js';
import { consumeTopics, latestPositions } from '../../topics/consumer.js';
import { createKafka } from '../../topics/kafka.js';
import { consumeTopicsOnThread } from '../../topics/threadedConsumer.js';
import type { Envelope } from '../../schemas/envelope.js';
import { cfg, uniq } from './helpers.js';

const kafka = createKafka(cfg, 'test-threaded-consumer');

/** One message as compared: where it is and its exact bytes. */
const fingerprint = (e: Envelope<Buffer | null>) =>
  `${e.partition}:${e.offset}:${e.key === null ? '-' : e.key.toString('hex')}:${e.value === null ? '-' : e.value.toString('hex')}`;

async function topicWith(n: number): Promise<string> {
  const name = uniq('shardcast.test.thread');
  await provisionTopics(kafka, [{ ...TOPICS.queries, name, partitions: 3 }]);
  const producer = kafka.producer();
  await producer.connect();
  // null keys, binary keys, empty values and tombstones (null values) among ordinary messages
  const messages = Array.from({ length: n }, (_, i) => ({
    partition: i % 3,
    key: i % 7 === 0 ? null : Buffer.from([i & 0xff, (i >> 8) & 0xff, 0, 0xff]),
    value: i % 11 === 0 ? null : i % 13 === 0 ? Buffer.alloc(0) : Buffer.from(`message ${i} ${'x'.repeat(i % 50)}`),
  }));
  for (let i = 0; i < n; i += 500) await producer.send({ topic: name, messages: messages.slice(i, i + 500) });
  await producer.disconnect();
  return name;
}

async function collect(source: Awaited<ReturnType<typeof consumeTopics>>, n: number): Promise<Envelope<Buffer | null>[]> {
  return firstValueFrom(source.messages$.pipe(take(n), toArray()));
}

test('the consumer thread hands over exactly what Kafka holds: every message once, bytes and offsets intact', async () => {
  const n = 6000;
  const topic = await topicWith(n);
  const plain = await consumeTopics(kafka, { groupId: uniq('plain'), topics: [topic] });
  const expected = (await collect(plain, n)).map(fingerprint).sort();
  await plain.stop();

  const onThread = await consumeTopicsOnThread(cfg, {
    groupId: uniq('thread'),
    topics: [topic],
    clientId: 'test-thread',
    aheadMessages: 1000,
  });
  const assigned = firstValueFrom(onThread.assignments$);
  const got = await collect(onThread, n);
  assert.deepEqual((await assigned).map((p) => p.partition).sort(), [0, 1, 2]);
  assert.ok(onThread.firstFetchAt !== null && onThread.firstFetchAt <= performance.now());
  await onThread.stop();
  assert.equal(got.length, n);
  assert.deepEqual(got.map(fingerprint).sort(), expected, 'same messages, none missing, none twice');
  assert.equal(onThread.received, n);
});

test('commits made through the thread hold: a restarted group gets exactly the uncommitted rest', async () => {
  const n = 3000;
  const topic = await topicWith(n);
  const group = uniq('thread-commit');
  const first = await consumeTopicsOnThread(cfg, { groupId: group, topics: [topic], clientId: 'test-thread' });
  const head = await collect(first, 1200);
  await first.commit(latestPositions(head).map((p) => ({ ...p, metadata: 'resume-state' })));
  await first.stop();

  const committed = kafka.admin();
  await committed.connect();
  const offsets = await committed.fetchOffsets({ groupId: group, topics: [topic] });
  await committed.disconnect();
  const next = new Map(offsets[0]!.partitions.map((p) => [p.partition, p]));
  for (const p of latestPositions(head)) {
    assert.equal(
      next.get(p.partition)?.offset,
      String(Number(p.offset) + 1),
      `partition ${p.partition} resumes after its last handled offset`,
    );
    assert.equal(next.get(p.partition)?.metadata, 'resume-state');
  }

  // the rest: everything past what was committed, per partition
  const handled = new Map(latestPositions(head).map((p) => [p.partition, Number(p.offset)]));
  const plain = await consumeTopics(kafka, { groupId: uniq('plain'), topics: [topic] });
  const rest = (await collect(plain, n)).filter((e) => Number(e.offset) > (handled.get(e.partition) ?? -1));
  await plain.stop();
  const second = await consumeTopicsOnThread(cfg, { groupId: group, topics: [topic], clientId: 'test-thread' });
  const again = await collect(second, rest.length);
  await second.stop();
  assert.deepEqual(again.map(fingerprint).sort(), rest.map(fingerprint).sort());
});

test('drain completes the stream and commits still go through until stop', async () => {
  const topic = await topicWith(900);
  const source = await consumeTopicsOnThread(cfg, {
    groupId: uniq('thread-drain'),
    topics: [topic],
    clientId: 'test-thread',
    aheadMessages: 100,
  });
  const seen: Envelope<Buffer | null>[] = [];
  const done = lastValueFrom(source.batches$, { defaultValue: [] });
  source.batches$.subscribe((b) => seen.push(...b));
  while (seen.length === 0) await new Promise((r) => setTimeout(r, 20));
  source.drain();
  await done; // completes: the pipeline can flush what it has
  await source.commit(latestPositions(seen));
  await source.stop();
  await assert.rejects(source.commit(latestPositions(seen)), /ended|stopped/);
});

test('a consumer thread that cannot reach Kafka fails with the reason, it does not hang', async () => {
  await assert.rejects(
    consumeTopicsOnThread(
      { kafkaBrokers: ['127.0.0.1:1'] },
      { groupId: uniq('nowhere'), topics: ['shardcast.nothing'], clientId: 'test-thread' },
    ),
    /consumer thread failed: .*(ECONNREFUSED|Connection|connect)/i,
  );
});
