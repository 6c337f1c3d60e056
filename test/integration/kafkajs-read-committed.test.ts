/**
 * On the real broker: two transactional producers interleave on one partition and both abort,
 * then a committed record follows. A read-committed consumer of the project's Kafka client that
 * starts inside both aborted transactions (as a takeover does, from a committed offset) sees the
 * committed record only. kafkajs's own filter let the second transaction's record through
 * (docs/decisions/0137-kafkajs-read-committed.md).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createKafka } from '../../topics/kafka.js';
import { consumeTopics } from '../../topics/consumer.js';
import { cfg, eventually, uniq } from './helpers.js';

test('a consumer starting inside two aborted transactions sees only what was committed', { timeout: 90_000 }, async () => {
  const id = uniq('rc').replace(/[^a-z0-9]/g, '_');
  const topic = `shardcast.test.read_committed_${id}`;
  const kafka = createKafka(cfg, 'read-committed-test');
  const admin = kafka.admin();
  await admin.connect();
  const producers = [1, 2].map((n) =>
    kafka.producer({ idempotent: true, maxInFlightRequests: 1, transactionalId: `rc-${id}-${n}`, allowAutoTopicCreation: false }),
  );
  const plain = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  let reader: Awaited<ReturnType<typeof consumeTopics>> | null = null;
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
    for (const p of [...producers, plain]) await p.connect();
    const [t1, t2] = [await producers[0]!.transaction(), await producers[1]!.transaction()];
    // offsets 0..3: a1, b1, a2, b2; then the abort markers (4, 5) and the committed record (6)
    await t1.send({ topic, messages: [{ value: 'a1' }] });
    await t2.send({ topic, messages: [{ value: 'b1' }] });
    await t1.send({ topic, messages: [{ value: 'a2' }] });
    await t2.send({ topic, messages: [{ value: 'b2' }] });
    await t1.abort();
    await t2.abort();
    await plain.send({ topic, messages: [{ value: 'committed' }] });
    const end = await admin.fetchTopicOffsets(topic);
    assert.equal(end[0]!.high, '7', 'four records, two markers and the committed record');

    // the group starts at offset 3 (b2): after both aborted transactions began
    const groupId = `${id}-reader`;
    await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '3' }] });
    const seen: string[] = [];
    reader = await consumeTopics(kafka, { groupId, topics: [topic] });
    reader.batches$.subscribe((ms) => {
      for (const m of ms) seen.push(m.value?.toString() ?? '');
    });
    await eventually(async () => (seen.includes('committed') ? true : undefined), 60_000, 'the committed record');
    await sleep(500); // anything after it would have come in the same fetch
    assert.deepEqual(seen, ['committed']);
  } finally {
    await reader?.stop();
    for (const p of [...producers, plain]) await p.disconnect().catch(() => undefined);
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
});
