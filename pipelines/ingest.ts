/**
 * `shardcast run ingest`: shardcast.telemetry.queries → decode → ingest processor (validate,
 * featurize, windows) → shardcast.workload.aggregates, bad input → shardcast.dlq.
 * Offsets are committed only up to the processor's safe offsets (every event at or below them
 * is in an aggregate or a dead letter that Kafka acknowledged), so a restart rebuilds the open
 * windows from Kafka and nothing is lost.
 *
 * Failures follow the stages' policy (failure.ts): undecodable bytes go to the DLQ; a retriable
 * failure (the broker or the registry not answering) of a decode, send or commit is retried with
 * backoff while `health` says `retrying`; anything else stops ingest with the error, after the
 * flushes before it were committed.
 */
import { asyncScheduler, bufferTime, concatMap, defaultIfEmpty, filter, from, lastValueFrom, map, merge, of } from 'rxjs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { QueryEvent } from '../schemas/types.js';
import { TOPICS } from '../schemas/topics.js';
import { committedOffsets, consumeTopics, type FetchBytes } from '../topics/consumer.js';
import { consumeTopicsOnThread } from '../topics/threadedConsumer.js';
import { commitPositions, resumeStateOf } from '../processors/ingest/commitMetadata.js';
import type { Envelope } from '../schemas/envelope.js';
import { ingestBatchProcessor, type IngestBatch } from '../processors/ingest/operator.js';
import { followFeaturizeKeys } from './tableKeys.js';
import {
  decodeFailure,
  newIngestStats,
  splitOutputs,
  type DecodeFailure,
  type IngestInput,
  type IngestOutput,
  type IngestStats,
} from '../processors/ingest/processor.js';
import { initSqlParsers, TemplateCache, type PartitionKeySpec } from '../processors/ingest/sql/index.js';
import type { PipelineContext } from './context.js';
import type { RunningStage, StageStats } from './stage.js';
import { consumerHealth, failureAction, initialHealth, retryWhileRetriable, type BackoffOptions, type StageHealth } from './failure.js';
import type { OutRecord } from '../topics/producer.js';
import type { SourcePosition } from '../schemas/envelope.js';

export interface IngestOptions {
  groupId?: string;
  partitionKeys?: Record<string, PartitionKeySpec>;
  windowMs?: number;
  allowedLatenessMs?: number;
  /** Source topic (benchmarks use a private one). */
  topic?: string;
  /** Close windows after this much wall time without events (demo/live use). */
  idleFlushMs?: number;
  /** Report unparseable SQL on shardcast.dlq as well as counting it (default true). */
  dlqUnparsed?: boolean;
  /** Processing time after which a silent source partition stops holding the watermark. */
  partitionIdleMs?: number;
  /** Consumer fetch sizes in bytes (default: the ingestFetchKiB setting). */
  fetchBytes?: FetchBytes;
  /** Consume on a worker thread (default: the ingestConsumerThread setting). */
  consumerThread?: boolean;
  /** Delays between retries of a failed step (see backoffDelayMs). */
  backoff?: BackoffOptions;
}

/** The ingestFetchKiB setting in bytes, as the consumer takes it. */
export function fetchBytesOf(kib: FetchBytes): FetchBytes {
  return { perPartition: kib.perPartition * 1024, total: kib.total * 1024 };
}

/** What one flush of ingest's outputs needs from Kafka. */
export interface FlushSteps {
  send(batches: { topic: string; records: readonly OutRecord<unknown>[] }[]): Promise<void>;
  commit(positions: readonly (SourcePosition & { metadata?: string })[]): Promise<void>;
}

/**
 * Sends a flush's aggregates and dead letters, then commits what its progress covers, each step
 * retried while it fails retriably (the commit only after the send succeeded). Returns how many
 * aggregates and dead letters were sent.
 */
export async function flushIngestOutputs(
  outs: IngestOutput[],
  steps: FlushSteps,
  retrying: <R>(step: string, work: () => Promise<R>) => Promise<R>,
): Promise<{ aggregates: number; letters: number }> {
  const { aggregates, letters, progress } = splitOutputs(outs);
  await retrying('send', () =>
    steps.send([
      { topic: TOPICS.aggregates.name, records: aggregates.map((a) => ({ key: a.seriesId, value: a })) },
      { topic: TOPICS.dlq.name, records: letters.map((l) => ({ key: l.sourceTopic, value: l })) },
    ]),
  );
  // only after Kafka acknowledged what the progress covers; the resume state rides along as offset metadata
  if (progress) await retrying('commit', () => steps.commit(commitPositions(progress)));
  return { aggregates: aggregates.length, letters: letters.length };
}

/** What decoding needs of the serde: synchronous for known schema ids, via the registry otherwise. */
export interface EventDecoder {
  decodeSync<T>(topic: string, buf: Buffer | null): T | undefined;
  decode<T>(topic: string, buf: Buffer | null): Promise<T>;
}

/**
 * Decodes a fetched batch in place: each envelope takes its decoded event, or a decode failure
 * (a dead letter later) when its bytes are bad. A registry that does not answer is not bad
 * input: the fetch is retried, and its error ends here only when ingest stops. In place because
 * nothing else holds these envelopes (their `raw` keeps the bytes): one object per message
 * rather than two. Returns how many decoded.
 */
export async function decodeQueryEvents(
  batch: Envelope<Buffer | null>[],
  serde: EventDecoder,
  retrying: <R>(step: string, work: () => Promise<R>) => Promise<R>,
): Promise<number> {
  let decoded = 0;
  for (let i = 0; i < batch.length; i++) {
    const m = batch[i]!;
    let value: QueryEvent | DecodeFailure;
    try {
      value =
        serde.decodeSync<QueryEvent>(m.topic, m.value) ?? (await retrying('decode', () => serde.decode<QueryEvent>(m.topic, m.value)));
      decoded++;
    } catch (err) {
      if (failureAction(err) !== 'dead-letter') throw err;
      value = decodeFailure((err as Error).message);
    }
    (m as Envelope<unknown>).value = value;
  }
  return decoded;
}

export async function startIngest(
  ctx: PipelineContext,
  opts: IngestOptions = {},
): Promise<RunningStage & { ingest: IngestStats; health: StageHealth; sent: () => number }> {
  await initSqlParsers();
  const topic = opts.topic ?? TOPICS.queries.name;
  const stats: StageStats = { consumed: 0, produced: 0, handled: 0, deadLettered: 0, batches: 0 };
  const ingest = newIngestStats();
  let sent = 0;
  let stopping = false;
  const health = initialHealth();
  const stopped = new AbortController();
  const retrying = <R>(step: string, work: () => Promise<R>) =>
    retryWhileRetriable(work, {
      step,
      health,
      backoff: opts.backoff,
      signal: stopped.signal,
      onRetry: ({ attempt, delayMs, err }) =>
        ctx.log.warn({ stage: 'ingest', step, attempt, delayMs, err: (err as Error).message }, 'step failed; retrying'),
    });
  const groupId = opts.groupId ?? 'shardcast-ingest';
  const resume = resumeStateOf(await committedOffsets(ctx.kafka, groupId, [topic]));
  const consumeOpts = {
    groupId,
    topics: [topic],
    // kafkajs turns a whole fetch into message objects before handing any over, and they stay
    // alive until handled: small fetches bound that at no measured cost in speed
    // (docs/decisions/0020-ingest-measurements.md has the figures).
    fetchBytes: opts.fetchBytes ?? fetchBytesOf(ctx.cfg.ingestFetchKiB),
    // Backpressure: do not fetch further ahead than 50k unhandled messages.
    gate: async () => {
      while (!stopping && source.received - stats.consumed > 50_000) await sleep(5);
    },
    ...consumerHealth(health),
  };
  // On its own thread, the consumer's fetching and record decoding run beside this pipeline
  // instead of before it (topics/threadedConsumer.ts has why and docs/ARCHITECTURE.md the figures).
  const source =
    (opts.consumerThread ?? ctx.cfg.ingestConsumerThread === 'on')
      ? await consumeTopicsOnThread(ctx.cfg, { ...consumeOpts, clientId: `shardcast-ingest-consumer` })
      : await consumeTopics(ctx.kafka, consumeOpts);

  const decodeBatch = async (batch: Envelope<Buffer | null>[]): Promise<IngestInput[]> => {
    stats.handled += await decodeQueryEvents(batch, ctx.serde, retrying);
    stats.consumed += batch.length;
    return batch as Envelope<unknown>[] as IngestInput[];
  };
  // Ownership changes go through the same ordered stream as the batches they precede.
  const decoded = merge(source.assignments$.pipe(map((assigned): IngestBatch => ({ assigned }))), source.batches$).pipe(
    concatMap((b) => (Array.isArray(b) ? decodeBatch(b) : of(b as IngestBatch))),
  );

  // The table keys follow the routing map (a rekey's new key).
  const { featurize, ...keys } = await followFeaturizeKeys(ctx.cfg, ctx.log, opts.partitionKeys ?? ctx.cfg.partitionKeys);
  const processor = ingestBatchProcessor({
    featurize,
    cache: new TemplateCache(10_000),
    windowMs: opts.windowMs ?? ctx.cfg.windowMs,
    allowedLatenessMs: opts.allowedLatenessMs ?? ctx.cfg.allowedLatenessMs,
    pipeline: 'ingest',
    stats: ingest,
    dlqUnparsed: opts.dlqUnparsed ?? true,
    // Stopping is not the end of the stream: open windows are rebuilt from Kafka on restart,
    // so a window is emitted once, complete, rather than in two partial halves.
    flushOnComplete: false,
    resume,
    ...(opts.partitionIdleMs ? { partitionIdleMs: opts.partitionIdleMs } : {}),
    ...(opts.idleFlushMs ? { idleFlushMs: opts.idleFlushMs, scheduler: asyncScheduler } : {}),
  });

  const flushOutputs = async (outs: IngestOutput[]) => {
    const n = await flushIngestOutputs(outs, { send: (b) => ctx.producer.sendMany(b), commit: (p) => source.commit(p) }, retrying);
    sent += n.aggregates;
    stats.produced += n.aggregates;
    stats.deadLettered += n.letters;
    stats.batches++;
  };

  const done = lastValueFrom(
    decoded.pipe(
      processor,
      bufferTime(200, null, 50),
      map((bs) => bs.flat()),
      filter((b) => b.length > 0),
      concatMap((b) => from(flushOutputs(b))),
      defaultIfEmpty(undefined),
    ),
  ).then(
    () => undefined,
    (err: unknown) => {
      if (stopping && failureAction(err) === 'retry') {
        ctx.log.warn({ err: (err as Error).message, stage: 'ingest' }, 'stopped while retrying; the flush was not committed');
      } else {
        Object.assign(health, { state: 'failed', lastError: (err as Error).message ?? String(err), since: Date.now() });
        ctx.log.error({ err, stage: 'ingest' }, 'ingest failed; its last flush was not committed');
      }
      throw err;
    },
  );

  return {
    stats,
    source,
    done,
    ingest,
    health,
    groupId,
    topics: [topic],
    sent: () => sent,
    async stop() {
      stopping = true;
      stopped.abort();
      // Complete the stream first so what it flushes is still sent and committed, then leave.
      source.drain();
      // A failure was logged and is reported through `done`; stopping still disconnects.
      await done.catch(() => undefined);
      await source.stop();
      await keys.stop();
    },
  };
}
