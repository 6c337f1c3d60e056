/**
 * A consumer group turned into an Observable of raw messages, with the commit left to the
 * pipeline: offsets are committed only when the pipeline says every output derived from them
 * was acknowledged (at-least-once). Backpressure: after each fetched batch the consumer waits
 * for the pipeline's `gate` before fetching more.
 */
import type { Consumer, Kafka } from 'kafkajs';
import { Subject, type Observable } from 'rxjs';
import type { Envelope, SourcePosition } from '../processors/envelope.js';
import { logger } from '../lib/log.js';

export interface ConsumeOptions {
  groupId: string;
  topics: string[];
  fromBeginning?: boolean;
  /** Resolves when the pipeline can take more input (e.g. pending sends below a bound). */
  gate?: () => Promise<void>;
  sessionTimeoutMs?: number;
}

export interface TopicSource {
  messages$: Observable<Envelope<Buffer | null>>;
  /** Commits each position (the next fetch starts after it). */
  commit(positions: readonly SourcePosition[]): Promise<void>;
  /**
   * Graceful end: pauses fetching and completes `messages$`, leaving the consumer in its group
   * so the pipeline can still commit what it flushes. Call `stop()` after the pipeline is done.
   */
  drain(): void;
  /** Stops fetching, then disconnects; `messages$` completes only if `complete` is true. */
  stop(opts?: { complete?: boolean }): Promise<void>;
  /** Messages handed to the pipeline so far. */
  readonly received: number;
}

export async function consumeTopics(kafka: Kafka, opts: ConsumeOptions): Promise<TopicSource> {
  const log = logger('consumer');
  const consumer: Consumer = kafka.consumer({
    groupId: opts.groupId,
    sessionTimeout: opts.sessionTimeoutMs ?? 30_000,
    rebalanceTimeout: 30_000,
    allowAutoTopicCreation: false,
    maxBytesPerPartition: 4 * 1024 * 1024,
  });
  const subject = new Subject<Envelope<Buffer | null>>();
  let received = 0;
  let stopped = false;
  let disconnected = false;

  await consumer.connect();
  for (const topic of opts.topics) await consumer.subscribe({ topic, fromBeginning: opts.fromBeginning ?? true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 1,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      for (const m of batch.messages) {
        if (!isRunning() || isStale() || stopped) return;
        received++;
        subject.next({
          topic: batch.topic,
          partition: batch.partition,
          offset: m.offset,
          key: m.key,
          value: m.value,
          raw: m.value,
        });
        resolveOffset(m.offset);
      }
      await heartbeat();
      if (opts.gate) await opts.gate();
    },
  });

  return {
    messages$: subject.asObservable(),
    get received() {
      return received;
    },
    async commit(positions) {
      if (positions.length === 0) return;
      await consumer.commitOffsets(
        positions.map((p) => ({ topic: p.topic, partition: p.partition, offset: (BigInt(p.offset) + 1n).toString() })),
      );
    },
    drain() {
      stopped = true;
      try {
        consumer.pause(opts.topics.map((topic) => ({ topic })));
      } catch (err) {
        log.warn({ err }, 'consumer pause failed');
      }
      subject.complete();
    },
    async stop({ complete = false } = {}) {
      stopped = true;
      if (disconnected) return;
      disconnected = true;
      try {
        await consumer.stop();
        await consumer.disconnect();
      } catch (err) {
        log.warn({ err }, 'consumer stop failed');
      }
      if (complete && !subject.closed) subject.complete();
    },
  };
}

/** Highest offset per topic-partition among positions (what a commit needs). */
export function latestPositions(positions: Iterable<SourcePosition>): SourcePosition[] {
  const best = new Map<string, SourcePosition>();
  for (const p of positions) {
    const k = `${p.topic}:${p.partition}`;
    const cur = best.get(k);
    if (!cur || BigInt(p.offset) > BigInt(cur.offset)) best.set(k, p);
  }
  return [...best.values()];
}
