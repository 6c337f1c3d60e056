/**
 * A transaction whose commit fails without telling whether it took effect, on the real broker:
 * the broker's UNKNOWN_SERVER_ERROR on EndTxn (not retriable for kafkajs) arrives once after the
 * commit went through (its answer lost) and once instead of the commit. The exactly-once stage
 * (pipelines/stage.ts) and the scaled-out stage (pipelines/partitionedStage.ts) must settle the
 * transaction, keep running and forward every event exactly once: stopping there, as they did,
 * stalls the pipeline; redoing a commit that went through repeats its records.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs, { type Kafka, type Producer, type ProducerConfig, type Transaction } from '../../lib/kafkajs.js';
import { openContext, type PipelineContext } from '../../pipelines/context.js';
import { startStage, type RunningStage } from '../../pipelines/stage.js';
import type { QueryEvent } from '../../schemas/types.js';
import { consumeTopics } from '../../topics/consumer.js';
import { forwardingTopics, removeTopics, startForwardingStage } from './forwardingStage.js';
import { cfg, eventually, queryEvent, uniq } from './helpers.js';

/** Events per round: one round per fault, then one without. */
const PER_ROUND = 20;

/** How the next commits fail: after they went through, or instead of them. */
type Fault = 'answer-lost' | 'not-committed';

const unknownServerError = () =>
  new kafkajs.KafkaJSProtocolError({
    type: 'UNKNOWN_SERVER_ERROR',
    code: -1,
    retriable: false,
    message: 'The server experienced an unexpected error when processing the request',
  } as unknown as Error);

/**
 * The context's Kafka, whose transactional producers fail their next commits as `faults` says
 * (taken in order, one per commit; the real broker does everything else).
 */
function faultyCommits(kafka: Kafka, faults: Fault[]): Kafka {
  const faulty = Object.create(kafka) as Kafka;
  faulty.producer = (config?: ProducerConfig): Producer => {
    const producer = kafka.producer(config);
    if (!config?.transactionalId) return producer;
    const wrapped = Object.create(producer) as Producer;
    wrapped.transaction = async (): Promise<Transaction> => {
      const txn = await producer.transaction();
      const faultyTxn = Object.create(txn) as Transaction;
      faultyTxn.commit = async () => {
        const fault = faults.shift();
        if (fault === 'not-committed') throw unknownServerError();
        await txn.commit();
        if (fault === 'answer-lost') throw unknownServerError();
      };
      return faultyTxn;
    };
    return wrapped;
  };
  return faulty;
}

for (const kind of ['exactly-once stage', 'partitioned stage'] as const)
  test(`a commit that fails without telling its outcome is settled, not repeated, in the ${kind}`, { timeout: 120_000 }, () =>
    settledOnce(kind),
  );

async function settledOnce(kind: 'exactly-once stage' | 'partitioned stage'): Promise<void> {
  const id = uniq('outcome').replace(/[^a-z0-9]/g, '_');
  const opened = await openContext('commit-outcome-test', cfg);
  const { input, output } = await forwardingTopics(opened, 'outcome', id, 1);
  const faults: Fault[] = ['answer-lost', 'not-committed'];
  const ctx: PipelineContext = { ...opened, kafka: faultyCommits(opened.kafka, faults) };

  const seen: string[] = [];
  const reader = await consumeTopics(opened.kafka, { groupId: `${id}-reader`, topics: [output] });
  const reading = reader.batches$.subscribe(async (ms) => {
    for (const m of ms) seen.push((await opened.serde.decode<QueryEvent>(output, m.value)).eventId);
  });
  const publish = (from: number, to: number) =>
    opened.producer.send(
      input,
      Array.from({ length: to - from }, (_, i) => ({ key: `k${from + i}`, value: queryEvent(`${id}-${from + i}`, `outcome_${id}`) })),
    );
  const stage =
    kind === 'exactly-once stage'
      ? await exactlyOnceStage(ctx, id, input, output)
      : await startForwardingStage(ctx, input, output, {
          name: 'commit-outcome',
          groupId: `${id}-stage`,
          transactionalPrefix: `shardcast-test-${id}`,
          flushMs: 100,
          backoff: { initialMs: 20, maxMs: 200 },
        });
  try {
    // one round per fault, then one without: each round's commit is a separate transaction
    for (let round = 0; round < 3; round++) {
      await publish(round * PER_ROUND, (round + 1) * PER_ROUND);
      await eventually(
        async () => (seen.length >= (round + 1) * PER_ROUND ? true : undefined),
        60_000,
        `round ${round} forwarded (${kind}, health ${JSON.stringify(stage.health)})`,
      );
    }
    await new Promise((r) => setTimeout(r, 1_500)); // a repeated commit would have arrived by now
    assert.deepEqual(faults, [], 'both faults were met');
    const expected = Array.from({ length: 3 * PER_ROUND }, (_, i) => `${id}-${i}`).sort();
    assert.deepEqual([...seen].sort(), expected, 'every event forwarded exactly once');
    assert.equal(stage.health?.state, 'running', 'the stage runs on');
    assert.ok((stage.health?.retries ?? 0) >= 2, `each failed commit was retried (retries ${stage.health?.retries})`);
  } finally {
    reading.unsubscribe();
    await stage.stop();
    await reader.stop();
    await removeTopics(opened, [input, output]);
    await opened.close();
  }
}

/** Forwards each event, in one transaction with its input offset (as forecast and decide do). */
function exactlyOnceStage(ctx: PipelineContext, id: string, input: string, output: string): Promise<RunningStage> {
  return startStage<QueryEvent>(ctx, {
    name: 'commit-outcome',
    groupId: `${id}-stage`,
    topics: [input],
    batchMs: 100,
    backoff: { initialMs: 20, maxMs: 200 },
    exactlyOnce: { transactionalId: `shardcast-test-${id}`, beforeCommit: async () => undefined, afterCommit: async () => undefined },
    handle: async (batch) => [{ topic: output, records: batch.map((m) => ({ key: m.value.eventId, value: m.value })) }],
  });
}
