/**
 * The wiring shared by the stateless stages (forecast, decide, execute, sink): consume topics in
 * a consumer group, decode each message with the registry, hand micro-batches to the stage's
 * handler, send what it returns (outputs and dead letters), and only then commit the batch's
 * offsets. A message that cannot be decoded goes to the DLQ with its bytes, position and reason.
 */
import { bufferTime, mergeMap, filter, from, lastValueFrom, defaultIfEmpty } from 'rxjs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DeadLetter } from '../schemas/types.js';
import { TOPICS } from '../schemas/topics.js';
import { consumeTopics, latestPositions, type TopicSource } from '../topics/consumer.js';
import { deadLetter, type Envelope } from '../schemas/envelope.js';
import type { OutRecord } from '../topics/producer.js';
import type { PipelineContext } from './context.js';
import { CommitChain } from './commitChain.js';
import type { IngestStats } from '../processors/ingest/processor.js';

export interface StageOutput {
  topic: string;
  records: OutRecord<unknown>[];
}

export interface StageSpec<T> {
  name: string;
  groupId: string;
  topics: string[];
  fromBeginning?: boolean;
  /** Largest micro-batch and longest wait before a partial batch is handled. */
  batchSize?: number;
  batchMs?: number;
  /**
   * Batches handled at the same time (default 1). Above 1 a batch is decoded and handled while
   * the one before it waits on its store, but offsets are still committed in batch order and
   * never past a batch that failed: only for handlers whose effects are idempotent and need no
   * order (the ClickHouse sink).
   */
  concurrency?: number;
  /** Handles decoded messages; returns what to send. Throwing stops the stage (nothing committed). */
  handle(batch: Envelope<T>[]): Promise<StageOutput[]>;
}

export interface StageStats {
  consumed: number;
  /** Records sent to output topics (dead letters not included). */
  produced: number;
  handled: number;
  deadLettered: number;
  batches: number;
}

export interface RunningStage {
  stats: StageStats;
  /** The consumer group and input topics (for lag metrics). */
  groupId: string;
  topics: string[];
  /** Ingest's detailed counters, for the stage that has them. */
  ingest?: IngestStats;
  source: TopicSource;
  /** Resolves when the stage stopped (after `stop()` or an error). */
  done: Promise<void>;
  /** Stops fetching, finishes the batch in hand, commits it, disconnects. */
  stop(): Promise<void>;
}

export async function startStage<T>(ctx: PipelineContext, spec: StageSpec<T>): Promise<RunningStage> {
  const stats: StageStats = { consumed: 0, produced: 0, handled: 0, deadLettered: 0, batches: 0 };
  const maxPending = (spec.batchSize ?? 1000) * 4;
  let stopping = false;
  // Backpressure: the consumer fetches again only when fewer than maxPending messages wait.
  const gate = async () => {
    while (!stopping && source.received - stats.handled - stats.deadLettered > maxPending) await sleep(10);
  };
  const source: TopicSource = await consumeTopics(ctx.kafka, {
    groupId: spec.groupId,
    topics: spec.topics,
    fromBeginning: spec.fromBeginning ?? true,
    gate,
  });

  const chain = new CommitChain();
  const processBatch = (raw: Envelope<Buffer | null>[]) => chain.run((earlier) => handleBatch(raw, earlier));

  const handleBatch = async (raw: Envelope<Buffer | null>[], before: Promise<void>) => {
    stats.consumed += raw.length;
    const good: Envelope<T>[] = [];
    const letters: DeadLetter[] = [];
    for (const m of raw) {
      try {
        // Synchronously when the writer schema is known (the common case): no promise per message.
        const value = ctx.serde.decodeSync<T>(m.topic, m.value) ?? (await ctx.serde.decode<T>(m.topic, m.value));
        good.push({ ...m, value });
      } catch (err) {
        letters.push(deadLetter(m, 'decode', (err as Error).message, spec.name, Date.now()));
      }
    }
    const outputs = good.length > 0 ? await spec.handle(good) : [];
    if (letters.length > 0) outputs.push({ topic: TOPICS.dlq.name, records: letters.map((l) => ({ key: l.sourceTopic, value: l })) });
    await ctx.producer.sendMany(outputs);
    await before;
    await source.commit(latestPositions(raw));
    for (const o of outputs) if (o.topic !== TOPICS.dlq.name) stats.produced += o.records.length;
    stats.handled += good.length;
    stats.deadLettered += letters.length;
    stats.batches++;
  };

  const done = lastValueFrom(
    source.messages$.pipe(
      bufferTime(spec.batchMs ?? 500, null, spec.batchSize ?? 1000),
      filter((b) => b.length > 0),
      mergeMap(
        (b) =>
          from(
            processBatch(b).catch((err: unknown) => {
              ctx.log.error({ err, stage: spec.name }, 'stage failed; its batch was not committed');
              throw err;
            }),
          ),
        spec.concurrency ?? 1,
      ),
      defaultIfEmpty(undefined),
    ),
  ).then(() => undefined);

  return {
    stats,
    groupId: spec.groupId,
    topics: spec.topics,
    source,
    done,
    async stop() {
      stopping = true;
      // Complete the stream first so what it flushes is still sent and committed, then leave.
      source.drain();
      await done;
      await source.stop();
    },
  };
}
