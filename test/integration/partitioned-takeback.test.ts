/**
 * A partition fenced while the group still assigns it to its instance is taken back, on the real
 * broker (pipelines/partitionedStage.ts). Another instance that applies an assignment already
 * replaced opens the partition's producer and so fences its owner; the group will not move the
 * partition again until the next rebalance. Here a producer with the partition's transactional
 * id plays that instance (it fences, then never handles anything). The stage must take partition
 * 0 back, fetch it again from its committed offset and forward every event exactly once; giving
 * it up instead leaves partition 0's later events unhandled.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openContext } from '../../pipelines/context.js';
import type { QueryEvent } from '../../schemas/types.js';
import { consumeTopics } from '../../topics/consumer.js';
import { TopicProducer } from '../../topics/producer.js';
import { forwardingTopics, removeTopics, startForwardingStage } from './forwardingStage.js';
import { cfg, eventually, queryEvent, uniq } from './helpers.js';

const PER_ROUND = 60;

for (const consumerThread of [false, true])
  test(
    `a partition fenced while still assigned here is taken back and each event forwarded once (consumer ${consumerThread ? 'on a thread' : 'in process'})`,
    { timeout: 180_000 },
    () => fencedAndTakenBack(consumerThread),
  );

async function fencedAndTakenBack(consumerThread: boolean): Promise<void> {
  const id = uniq('takeback').replace(/[^a-z0-9]/g, '_');
  const prefix = `shardcast-test-takeback-${id}`;
  const ctx = await openContext('takeback-test', cfg);
  const { input, output } = await forwardingTopics(ctx, 'takeback', id, 2);

  // the stage: forwards each decoded event, committing its input offset with it
  const stage = await startForwardingStage(ctx, input, output, {
    name: 'takeback',
    groupId: `${id}-stage`,
    transactionalPrefix: prefix,
    sessionTimeoutMs: 10_000,
    consumerThread,
    flushMs: 100,
  });

  const seen: string[] = [];
  const reader = await consumeTopics(ctx.kafka, { groupId: `${id}-reader`, topics: [output] });
  const reading = reader.batches$.subscribe(async (ms) => {
    for (const m of ms) seen.push((await ctx.serde.decode<QueryEvent>(output, m.value)).eventId);
  });
  const publish = (round: number) =>
    ctx.producer.send(
      input,
      Array.from({ length: 2 * PER_ROUND }, (_, i) => ({
        key: `k${i}`,
        partition: i % 2,
        value: queryEvent(`${id}-r${round}-${i}`, `takeback_${id}`),
      })),
    );
  const forwarded = (n: number, what: string) =>
    eventually(async () => (seen.length >= n ? true : undefined), 90_000, what).catch((err: Error) => {
      throw new Error(`${err.message}: ${seen.length} of ${n} forwarded; stage owns ${stage.owned()}, fenced ${stage.fencedCount()}`);
    });

  let stale: TopicProducer | null = null;
  try {
    await eventually(async () => (stage.owned().length === 2 ? true : undefined), 60_000, 'the stage owning both partitions');
    await publish(1);
    await forwarded(2 * PER_ROUND, 'the first round forwarded');

    // the stale instance: opens partition 0's transactional producer, which fences the stage's
    stale = await TopicProducer.connect(ctx.kafka, ctx.serde, { transactionalId: `${prefix}-0` });
    await publish(2);
    await forwarded(4 * PER_ROUND, 'the second round forwarded, partition 0 included');
    await publish(3);
    await forwarded(6 * PER_ROUND, 'the third round forwarded');
    await new Promise((r) => setTimeout(r, 1_500)); // a duplicate would have arrived by now

    assert.ok(stage.fencedCount() >= 1, 'the stage was fenced on partition 0');
    assert.deepEqual(stage.owned().sort(), [0, 1], 'both partitions still owned');
    const expected = [1, 2, 3].flatMap((r) => Array.from({ length: 2 * PER_ROUND }, (_, i) => `${id}-r${r}-${i}`)).sort();
    assert.deepEqual([...seen].sort(), expected, 'every event forwarded exactly once');
  } finally {
    reading.unsubscribe();
    await stale?.disconnect().catch(() => undefined);
    await stage.stop();
    await reader.stop();
    await removeTopics(ctx, [input, output]);
    await ctx.close();
  }
}
