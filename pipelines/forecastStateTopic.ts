/**
 * The scaled-out forecast stage's saved partition states, read back from the compacted topic
 * shardcast.internal.forecast.state: every instance reads the topic from its start (read
 * committed, a group of its own that commits nothing) and keeps the newest state per
 * (group, input topic, partition), as Kafka Streams restores a store from its changelog. A state
 * is written in the transaction that commits its partition's offsets, so the state to load for a
 * partition is the one whose `nextOffset` is the offset the group committed.
 */
import { randomUUID } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Subscription } from 'rxjs';
import type { ForecastPartitionState } from '../schemas/types.js';
import { consumeTopics, type TopicSource } from '../topics/consumer.js';
import type { OutRecord } from '../topics/producer.js';
import { failureAction } from './failure.js';
import type { PipelineContext } from './context.js';

export const stateKey = (group: string, topic: string, partition: number) => `${group}|${topic}|${partition}`;

/** The record that saves a partition's state (checkpoint text) as of `nextOffset`. */
export function stateRecord(
  group: string,
  topic: string,
  partition: number,
  nextOffset: string,
  text: string,
): OutRecord<ForecastPartitionState> {
  return {
    key: stateKey(group, topic, partition),
    value: { group, topic, partition, nextOffset: Number(nextOffset), state: gzipSync(text) },
  };
}

/** What `load` found: the state that matches the committed offset, or the newest there is (`matched` false). */
export interface LoadedState {
  text: string | null;
  matched: boolean;
  /** The input offset the loaded state stands for (null: none loaded). */
  nextOffset: string | null;
}

/** Decodes a state record, waiting out a registry that does not answer (bad bytes throw). */
async function retryDecode(ctx: PipelineContext, topic: string, value: Buffer | null): Promise<ForecastPartitionState> {
  for (let delay = 200; ; delay = Math.min(delay * 2, 10_000)) {
    try {
      return await ctx.serde.decode<ForecastPartitionState>(topic, value);
    } catch (err) {
      if (failureAction(err) !== 'retry') throw err;
      await sleep(delay);
    }
  }
}

export class ForecastStateReader {
  private readonly newest = new Map<string, { nextOffset: string; state: Buffer }>();
  private readonly subscription: Subscription;

  private constructor(
    private readonly source: TopicSource,
    ctx: PipelineContext,
    stateTopic: string,
  ) {
    // in offset order: a later state of a partition must not be overwritten by an earlier one
    let chain = Promise.resolve();
    this.subscription = source.batches$.subscribe((batch) => {
      chain = chain.then(async () => {
        for (const m of batch) {
          try {
            const s = await retryDecode(ctx, stateTopic, m.value);
            this.newest.set(stateKey(s.group, s.topic, s.partition), { nextOffset: String(s.nextOffset), state: s.state });
          } catch (err) {
            // only the stage's own transactional producers write here
            ctx.log.warn({ offset: m.offset, err: (err as Error).message }, 'unreadable forecast state record skipped');
          }
        }
      });
    });
  }

  static async start(ctx: PipelineContext, stateTopic: string): Promise<ForecastStateReader> {
    const source = await consumeTopics(ctx.kafka, {
      groupId: `shardcast-forecast-state-reader-${randomUUID()}`,
      topics: [stateTopic],
      fromBeginning: true,
    });
    return new ForecastStateReader(source, ctx, stateTopic);
  }

  /**
   * The saved state of a partition as of the committed offset `nextOffset` (null: nothing
   * committed, start empty). Waits up to `waitMs` for this reader to reach it; then takes the
   * newest state there is (a group whose offsets were reset, a state topic emptied).
   */
  async load(key: string, nextOffset: string | null, waitMs: number, signal?: AbortSignal): Promise<LoadedState> {
    if (nextOffset === null) return { text: null, matched: true, nextOffset: null };
    const until = Date.now() + waitMs;
    for (;;) {
      const s = this.newest.get(key);
      if (s && s.nextOffset === nextOffset) return { text: gunzipSync(s.state).toString('utf8'), matched: true, nextOffset };
      if (Date.now() >= until || signal?.aborted)
        return s
          ? { text: gunzipSync(s.state).toString('utf8'), matched: false, nextOffset: s.nextOffset }
          : { text: null, matched: false, nextOffset: null };
      await sleep(20);
    }
  }

  async stop(): Promise<void> {
    this.subscription.unsubscribe();
    await this.source.stop();
  }
}
