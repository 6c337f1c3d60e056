/**
 * The stage failure policy on the real stack: undecodable bytes and a message the handler
 * rejects with an InputError go to the DLQ while the rest is handled; a retriable failure is
 * retried and shows in the stage's health; any other error stops the stage without committing.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { InputError, StateError, UnavailableError } from '../../lib/errors.js';
import { openContext, type PipelineContext } from '../../pipelines/context.js';
import { startStage, type StageOutput } from '../../pipelines/stage.js';
import { TOPICS } from '../../schemas/topics.js';
import type { DeadLetter, QueryEvent } from '../../schemas/types.js';
import { provisionTopics } from '../../topics/admin.js';
import { committedOffsets } from '../../topics/consumer.js';
import { cfg, eventually, queryEvent, uniq } from './helpers.js';

const topic = uniq('stage-failures');
const event = (eventId: string): QueryEvent => queryEvent(eventId, 'stage-failures-test');

let ctx: PipelineContext;
/** Dead letters the stages sent, seen on their way to the producer. */
const letters: DeadLetter[] = [];

after(async () => {
  await ctx?.close();
});

test('bad input is dead-lettered, a retriable failure retried, anything else stops the stage', { timeout: 120_000 }, async () => {
  const opened = await openContext('stage-failures-test', cfg);
  const spec = { ...TOPICS.queries, name: topic, partitions: 1 };
  await provisionTopics(opened.kafka, [spec]);
  await opened.serde.registerTopic(spec);
  const producer = Object.create(opened.producer) as typeof opened.producer;
  producer.sendMany = async (batches: StageOutput[]) => {
    for (const b of batches) if (b.topic === TOPICS.dlq.name) letters.push(...b.records.map((r) => r.value as DeadLetter));
    await opened.producer.sendMany(batches);
  };
  ctx = { ...opened, producer };
  await opened.producer.send(topic, [{ key: 'a', value: event('good-1') }]);
  await opened.producer.sendRaw(topic, [{ key: 'b', value: Buffer.from('not avro') }]);
  await opened.producer.send(topic, [
    { key: 'c', value: event('bad-input') },
    { key: 'd', value: event('flaky') },
  ]);

  const handled: string[] = [];
  let flakyFailures = 0;
  const stage = await startStage<QueryEvent>(ctx, {
    name: 'stage-failures-test',
    groupId: uniq('stage-failures-ok'),
    topics: [topic],
    batchMs: 200,
    backoff: { initialMs: 20, maxMs: 100 },
    handle: async (batch) => {
      const ids = batch.map((m) => m.value.eventId);
      if (ids.includes('bad-input')) throw new InputError('bad-input: rejected by the test handler');
      if (ids.includes('flaky') && flakyFailures++ < 2) throw new UnavailableError('the test store did not answer');
      handled.push(...ids);
      return [];
    },
  });
  try {
    await eventually(async () => (stage.stats.handled + stage.stats.deadLettered === 4 ? true : undefined), 60_000, 'all four messages');
    assert.deepEqual(handled.sort(), ['flaky', 'good-1']);
    assert.equal(stage.stats.handled, 2);
    assert.equal(stage.stats.deadLettered, 2);
    const mine = letters.filter((l) => l.sourceTopic === topic);
    assert.deepEqual(mine.map((l) => l.stage).sort(), ['decode', 'handle']);
    assert.match(mine.find((l) => l.stage === 'handle')!.reason, /rejected by the test handler/);
    assert.equal(stage.health?.retries, 2);
    assert.equal(stage.health?.state, 'running');
  } finally {
    await stage.stop();
  }

  const failingGroup = uniq('stage-failures-fatal');
  const failing = await startStage<QueryEvent>(ctx, {
    name: 'stage-failures-test',
    groupId: failingGroup,
    topics: [topic],
    batchMs: 200,
    handle: async () => {
      throw new StateError('a broken invariant in the test handler');
    },
  });
  try {
    await assert.rejects(failing.done, StateError);
    assert.equal(failing.health?.state, 'failed');
  } finally {
    await failing.stop();
  }
  const committed = await committedOffsets(ctx.kafka, failingGroup, [topic]);
  assert.ok(
    committed.every((c) => Number(c.offset) < 0),
    `nothing committed: ${JSON.stringify(committed)}`,
  );

  // A store that never answers: the stage retries (and says so) until it is stopped.
  const stalledGroup = uniq('stage-failures-stalled');
  const stalled = await startStage<QueryEvent>(ctx, {
    name: 'stage-failures-test',
    groupId: stalledGroup,
    topics: [topic],
    batchMs: 200,
    backoff: { initialMs: 20, maxMs: 200 },
    handle: async () => {
      throw new UnavailableError('the test store never answers');
    },
  });
  await eventually(async () => ((stalled.health?.retries ?? 0) >= 3 ? true : undefined), 30_000, 'three retries');
  assert.equal(stalled.health?.state, 'retrying');
  assert.match(stalled.health?.lastError ?? '', /^handle: the test store never answers/);
  const t0 = Date.now();
  await stalled.stop();
  assert.ok(Date.now() - t0 < 10_000, 'stop ends the retrying');
  await assert.rejects(stalled.done, UnavailableError);
  const none = await committedOffsets(ctx.kafka, stalledGroup, [topic]);
  assert.ok(
    none.every((c) => Number(c.offset) < 0),
    `nothing committed: ${JSON.stringify(none)}`,
  );
});
