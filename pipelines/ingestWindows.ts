/**
 * Ingest's second half when it scales out: shardcast.internal.ingest.routed (read committed) →
 * featurize → event-time windows per internal partition (processors/ingest/partitionedIngest.ts)
 * → shardcast.workload.aggregates. Each internal partition's aggregates, dead letters and safe
 * offset (with its resume state as offset metadata, as the single-instance path commits it) go
 * in one transaction, so an aggregate is on the topic exactly when the offsets past its events
 * are committed: no (series, window) twice, whichever instance crashes or takes over.
 *
 * Internal partition p's aggregates go to aggregates partition p (mod the topic's partitions),
 * not by the series key's hash: a series comes from one internal partition (its source and
 * node), so it still lives on one aggregates partition, and with as many aggregates partitions
 * as internal ones (6 and 6) each aggregates partition has one writer at a time, which emits
 * windows in order and a window's series sorted. Its sequence is then the same however many
 * instances run or crash, and so are the forecasts of a scaled forecast stage reading it (0121).
 */
import type { Envelope } from '../schemas/envelope.js';
import type { QueryEvent, RoutedQuery } from '../schemas/types.js';
import { TOPICS } from '../schemas/topics.js';
import { commitPositions, resumeStateOf } from '../processors/ingest/commitMetadata.js';
import { PartitionedIngest } from '../processors/ingest/partitionedIngest.js';
import { originKey } from '../processors/ingest/route.js';
import {
  decodeFailure,
  splitOutputs,
  type DecodeFailure,
  type IngestInput,
  type IngestOutput,
  type IngestStats,
} from '../processors/ingest/processor.js';
import { TemplateCache, type PartitionKeySpec } from '../processors/ingest/sql/index.js';
import { followFeaturizeKeys } from './tableKeys.js';
import { failureAction } from './failure.js';
import type { PipelineContext } from './context.js';
import type { Retrying } from './failure.js';
import { startPartitionedStage, type PartitionedStage } from './partitionedStage.js';

export interface WindowsOptions {
  groupId: string;
  /** The source topic and its partition count: every source partition holds the watermark. */
  sourceTopic: string;
  sourcePartitions: number;
  internalTopic: string;
  /** The output topic (shardcast.workload.aggregates but in tests) and its partitions: internal partition p writes to p mod these. */
  aggregatesTopic: string;
  aggregatesPartitions: number;
  stats: IngestStats;
  partitionKeys: Record<string, PartitionKeySpec>;
  windowMs: number;
  allowedLatenessMs: number;
  partitionIdleMs?: number;
  idleFlushMs?: number;
  sessionTimeoutMs?: number;
}

/** A decoded routed record as the ingest core takes it: the query event, or a mark. */
function fromRouted(m: Envelope<Buffer | null>, r: RoutedQuery, ev: QueryEvent | DecodeFailure | null): IngestInput {
  const at = { topic: m.topic, partition: m.partition, offset: m.offset, key: m.key };
  if (r.event === null) return { ...at, raw: m.raw, value: { mark: { origin: originKey(r), ts: r.markTs ?? Number.NEGATIVE_INFINITY } } };
  return { ...at, raw: r.event, value: ev! };
}

/**
 * A routed record as the ingest core takes it: the query event (or why it does not decode), or a
 * mark; undefined while a writer schema is not known yet (see learnSchemas). Synchronous: no
 * promise per message on the hot path.
 */
function toIngestInput(ctx: PipelineContext, m: Envelope<Buffer | null>): IngestInput | undefined {
  let r: RoutedQuery | undefined;
  try {
    r = ctx.serde.decodeSync<RoutedQuery>(TOPICS.routedQueries.name, m.value);
    if (r === undefined || r.event === null) return r && fromRouted(m, r, null);
    const ev = ctx.serde.decodeSync<QueryEvent>(TOPICS.queries.name, r.event);
    return ev && fromRouted(m, r, ev);
  } catch (err) {
    if (failureAction(err) !== 'dead-letter') throw err;
    const reason = (err as Error).message;
    if (r !== undefined) return fromRouted(m, r, decodeFailure(reason));
    return {
      topic: m.topic,
      partition: m.partition,
      offset: m.offset,
      key: m.key,
      raw: m.raw,
      value: decodeFailure(`routed record: ${reason}`),
    };
  }
}

/** Fetches the writer schemas of a record from the registry (the serde keeps them for toIngestInput). */
async function learnSchemas(ctx: PipelineContext, m: Envelope<Buffer | null>, retrying: Retrying): Promise<void> {
  try {
    const r = await retrying('decode', () => ctx.serde.decode<RoutedQuery>(TOPICS.routedQueries.name, m.value));
    if (r.event !== null) await retrying('decode', () => ctx.serde.decode<QueryEvent>(TOPICS.queries.name, r.event));
  } catch (err) {
    // bad bytes: toIngestInput says why
    if (failureAction(err) !== 'dead-letter') throw err;
  }
}

export async function startIngestWindows(ctx: PipelineContext, opts: WindowsOptions): Promise<PartitionedStage & { sent: () => number }> {
  const origins = Array.from({ length: opts.sourcePartitions }, (_, p) => `${opts.sourceTopic}:${p}`);
  // The table keys follow the routing map (a rekey's new key).
  const { featurize, ...keys } = await followFeaturizeKeys(ctx.cfg, ctx.log, opts.partitionKeys);
  const parts = new PartitionedIngest(
    {
      featurize,
      cache: new TemplateCache(10_000),
      windowMs: opts.windowMs,
      allowedLatenessMs: opts.allowedLatenessMs,
      pipeline: 'ingest',
      stats: opts.stats,
      dlqUnparsed: true,
      ...(opts.partitionIdleMs ? { partitionIdleMs: opts.partitionIdleMs } : {}),
    },
    () => Date.now(),
  );
  const pending = new Map<number, IngestOutput[]>();
  let lastArrival = Date.now();
  let lastAdvance = Date.now();
  const append = (p: number, xs: IngestOutput[] | undefined) => {
    if (!xs || xs.length === 0) return;
    const into = pending.get(p);
    if (into) for (const x of xs) into.push(x);
  };
  const stage = await startPartitionedStage(ctx, {
    name: 'ingest-window',
    groupId: opts.groupId,
    topic: opts.internalTopic,
    transactionalPrefix: `shardcast-ingest-window-${opts.groupId}`,
    ...(opts.sessionTimeoutMs ? { sessionTimeoutMs: opts.sessionTimeoutMs } : {}),
    consumerThread: ctx.cfg.ingestConsumerThread === 'on',
    own(partition, committed) {
      const resume = committed ? resumeStateOf([{ topic: opts.internalTopic, partition, metadata: committed.metadata }]) : undefined;
      parts.own(partition, resume, origins);
      pending.set(partition, []);
    },
    release(partition) {
      parts.release(partition);
      pending.delete(partition);
    },
    async handle(batch, retrying) {
      const inputs: IngestInput[] = new Array(batch.length);
      for (let i = 0; i < batch.length; i++) {
        const m = batch[i]!;
        let input = toIngestInput(ctx, m);
        if (input === undefined) {
          await learnSchemas(ctx, m, retrying);
          input = toIngestInput(ctx, m) ?? { ...m, value: decodeFailure('unknown writer schema id') };
        }
        inputs[i] = input;
      }
      lastArrival = Date.now();
      append(batch[0]!.partition, parts.addBatch(batch[0]!.partition, inputs));
    },
    tick() {
      const idle = opts.idleFlushMs;
      if (!idle) return;
      const now = Date.now();
      if (now - lastArrival < idle || now - lastAdvance < idle) return;
      lastAdvance = now;
      for (const [p, xs] of parts.advance(idle)) append(p, xs);
    },
    take(partition) {
      const outs = pending.get(partition);
      if (!outs || outs.length === 0) return null;
      pending.set(partition, []);
      const { aggregates, letters, progress } = splitOutputs(outs);
      return {
        outputs: [
          {
            topic: opts.aggregatesTopic,
            records: aggregates.map((a) => ({ key: a.seriesId, value: a, partition: partition % opts.aggregatesPartitions })),
          },
          { topic: TOPICS.dlq.name, records: letters.map((l) => ({ key: l.sourceTopic, value: l })) },
        ],
        positions: progress ? commitPositions(progress) : [],
      };
    },
  });
  // aggregates are all it produces besides dead letters, counted once their transaction committed
  return {
    ...stage,
    sent: () => stage.stats.produced,
    async stop() {
      await stage.stop();
      await keys.stop();
    },
  };
}
