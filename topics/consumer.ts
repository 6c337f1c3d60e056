/**
 * A consumer group turned into an Observable of raw messages, with the commit left to the
 * pipeline: offsets are committed only when the pipeline says every output derived from them
 * was acknowledged (at-least-once). Backpressure: after each fetched batch the consumer waits
 * for the pipeline's `gate` before fetching more.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Consumer, Kafka, PartitionAssigner } from '../lib/kafkajs.js';
import { mergeMap, ReplaySubject, Subject, type Observable } from 'rxjs';
import type { Envelope, SourcePosition } from '../schemas/envelope.js';
import { logger } from '../lib/log.js';
import { StateError, UnavailableError } from '../lib/errors.js';

/** Most bytes one fetch asks for, per partition and in all. */
export interface FetchBytes {
  perPartition: number;
  total: number;
}

/** The consumer's fetch sizes unless a pipeline asks for others: 4 MiB per partition, 10 MiB per fetch. */
export const DEFAULT_FETCH_BYTES: Readonly<FetchBytes> = { perPartition: 4 * 1024 * 1024, total: 10 * 1024 * 1024 };

export interface ConsumeOptions {
  groupId: string;
  topics: string[];
  fromBeginning?: boolean;
  /** Resolves when the pipeline can take more input (e.g. pending sends below a bound). */
  gate?: () => Promise<void>;
  sessionTimeoutMs?: number;
  /**
   * Fetch sizes (default DEFAULT_FETCH_BYTES). kafkajs decodes a whole fetch response into
   * message objects before handing any over, so this also bounds how many messages are alive at
   * once.
   */
  fetchBytes?: FetchBytes;
  /** Called once, when the first fetch request goes out (see TopicSource.firstFetchAt). */
  onFirstFetch?: (at: number) => void;
  /** How the group shares partitions (default: kafkajs' round robin). */
  partitionAssigners?: PartitionAssigner[];
  /** kafkajs crashed the consumer and restarts it (a broker away): nothing is fetched meanwhile. */
  onRestart?: (reason: string) => void;
  /** The consumer (re)joined its group. */
  onJoin?: () => void;
}

export interface TopicSource {
  /** One message at a time (subscribe to this or to `batches$`, not both). */
  messages$: Observable<Envelope<Buffer | null>>;
  /** The messages of each fetched batch as one array: hot paths avoid a notification per message. */
  batches$: Observable<Envelope<Buffer | null>[]>;
  /** The partitions this member owns, after each (re)join of the group; replays the latest. */
  assignments$: Observable<{ topic: string; partition: number }[]>;
  /** Commits each position (the next fetch starts after it), with optional offset metadata. */
  commit(positions: readonly (SourcePosition & { metadata?: string })[]): Promise<void>;
  /**
   * Fetches `partition` of `topic` again from `offset` (kafkajs's seek): the rest of a batch in
   * hand is not handed over, but batches handed over before are still on their way downstream.
   */
  seek(topic: string, partition: number, offset: string): void;
  /**
   * Graceful end: pauses fetching and completes `messages$`, leaving the consumer in its group
   * so the pipeline can still commit what it flushes. Call `stop()` after the pipeline is done.
   */
  drain(): void;
  /** Stops fetching, then disconnects; `messages$` completes only if `complete` is true. */
  stop(opts?: { complete?: boolean }): Promise<void>;
  /** Messages handed to the pipeline so far. */
  readonly received: number;
  /**
   * performance.now() when the first fetch request went out (null before). Throughput is timed
   * from here, not from the first message handed over: kafkajs decodes a whole fetch before
   * handing any of it over, so timing from the first message would leave out the first fetch,
   * which with large fetch sizes is a large part of the work.
   */
  readonly firstFetchAt: number | null;
}

/** How far a source got: messages handed over and when the first fetch went out. */
export interface SourceProgress {
  received: number;
  firstFetchAt: number | null;
}

/**
 * A TopicSource from its streams, its progress and its controls: the part every consumer
 * (here, or on a thread in threadedConsumer.ts) presents the same way.
 */
export function topicSource(
  batches: Subject<Envelope<Buffer | null>[]>,
  assignments: ReplaySubject<{ topic: string; partition: number }[]>,
  progress: Readonly<SourceProgress>,
  control: Pick<TopicSource, 'commit' | 'seek' | 'drain' | 'stop'>,
): TopicSource {
  return {
    messages$: batches.pipe(mergeMap((b) => b)),
    batches$: batches.asObservable(),
    assignments$: assignments.asObservable(),
    get received() {
      return progress.received;
    },
    get firstFetchAt() {
      return progress.firstFetchAt;
    },
    commit: control.commit,
    seek: control.seek,
    drain: control.drain,
    stop: control.stop,
  };
}

export async function consumeTopics(kafka: Kafka, opts: ConsumeOptions): Promise<TopicSource> {
  const log = logger('consumer');
  const consumer: Consumer = kafka.consumer({
    groupId: opts.groupId,
    sessionTimeout: opts.sessionTimeoutMs ?? 30_000,
    rebalanceTimeout: 30_000,
    allowAutoTopicCreation: false,
    maxBytesPerPartition: (opts.fetchBytes ?? DEFAULT_FETCH_BYTES).perPartition,
    maxBytes: (opts.fetchBytes ?? DEFAULT_FETCH_BYTES).total,
    ...(opts.partitionAssigners ? { partitionAssigners: opts.partitionAssigners } : {}),
  });
  const subject = new Subject<Envelope<Buffer | null>[]>();
  const assignments = new ReplaySubject<{ topic: string; partition: number }[]>(1);
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    const owned = Object.entries(payload.memberAssignment as Record<string, number[]>).flatMap(([topic, parts]) =>
      parts.map((partition) => ({ topic, partition })),
    );
    assignments.next(owned);
    opts.onJoin?.();
  });
  const progress: SourceProgress = { received: 0, firstFetchAt: null };
  consumer.on(consumer.events.FETCH_START, () => {
    if (progress.firstFetchAt !== null) return;
    progress.firstFetchAt = performance.now();
    opts.onFirstFetch?.(progress.firstFetchAt);
  });
  let stopped = false;
  let disconnected = false;
  // kafkajs restarts itself after a retriable crash; after any other it stops for good, and a
  // pipeline waiting on `messages$` would sit idle: it ends with the error instead.
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (payload.restart && !stopped) opts.onRestart?.(payload.error.message);
    if (payload.restart || stopped || subject.closed) return;
    const err = new StateError(`consumer of ${opts.groupId} crashed: ${payload.error.message}`, { cause: payload.error });
    subject.error(err);
    if (!assignments.closed) assignments.error(err);
  });

  await consumer.connect();
  for (const topic of opts.topics) await consumer.subscribe({ topic, fromBeginning: opts.fromBeginning ?? true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 1,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      // Hand the batch over in chunks of 500: what a chunk allocates (decoded events, features)
      // is still alive while it is processed, so it is what a young-generation GC in the middle
      // has to copy; bigger chunks were slower (decision 0051).
      const chunk = 500;
      for (let i = 0; i < batch.messages.length; i += chunk) {
        if (!isRunning() || isStale() || stopped) return;
        const part = batch.messages.slice(i, i + chunk);
        const envs: Envelope<Buffer | null>[] = new Array(part.length);
        for (let j = 0; j < part.length; j++) {
          const m = part[j]!;
          envs[j] = {
            topic: batch.topic,
            partition: batch.partition,
            offset: m.offset,
            key: m.key,
            value: m.value,
            raw: m.value,
            headers: hasHeaders(m.headers) ? m.headers : undefined,
          };
        }
        progress.received += envs.length;
        subject.next(envs);
        resolveOffset(part[part.length - 1]!.offset);
        await heartbeat();
      }
      if (opts.gate) await whileHeartbeating(opts.gate(), heartbeat);
    },
  });

  return topicSource(subject, assignments, progress, {
    async commit(positions) {
      if (positions.length === 0) return;
      await consumer
        .commitOffsets(
          positions.map((p) => ({
            topic: p.topic,
            partition: p.partition,
            offset: (BigInt(p.offset) + 1n).toString(),
            metadata: p.metadata ?? null,
          })),
        )
        .catch((err: unknown) => {
          throw commitFailure(err);
        });
    },
    seek(topic, partition, offset) {
      consumer.seek({ topic, partition, offset });
    },
    drain() {
      stopped = true;
      try {
        consumer.pause(opts.topics.map((topic) => ({ topic })));
      } catch (err) {
        log.warn({ err }, 'consumer pause failed');
      }
      subject.complete();
      assignments.complete();
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
      if (!assignments.closed) assignments.complete();
    },
  });
}

/** Whether a record has any header, without allocating (telemetry has none, and this is per message). */
function hasHeaders(h: Record<string, unknown> | undefined): h is NonNullable<typeof h> {
  for (const _ in h) return true;
  return false;
}

/**
 * Waits for `wait` while heartbeating the group: the gate stays closed as long as the pipeline
 * retries a failed step, and without heartbeats the member would be dropped after the session
 * timeout, its partitions given away and its commit refused.
 */
async function whileHeartbeating(wait: Promise<void>, heartbeat: () => Promise<void>, everyMs = 3_000): Promise<void> {
  const timer = setInterval(() => void heartbeat().catch(() => undefined), everyMs);
  try {
    await wait;
  } finally {
    clearInterval(timer);
  }
}

/** The offsets and metadata a consumer group last committed for `topics` (before it starts). */
export async function committedOffsets(
  kafka: Kafka,
  groupId: string,
  topics: string[],
): Promise<{ topic: string; partition: number; offset: string; metadata: string | null }[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const got = await admin.fetchOffsets({ groupId, topics });
    return got.flatMap((t) =>
      t.partitions.map((p) => ({ topic: t.topic, partition: p.partition, offset: p.offset, metadata: p.metadata ?? null })),
    );
  } finally {
    await admin.disconnect();
  }
}

/**
 * The committed offsets once they have settled, for a member taking partitions over. Kafka writes
 * a finished transaction's offsets into the group's cache asynchronously, after the transaction's
 * markers: right after a takeover fenced the previous owner (its last transaction complete), a
 * plain read can still return the offsets from before that transaction, and the new owner would
 * redo it. OffsetFetch's require_stable (KIP-447) waits for exactly this, but kafkajs speaks
 * OffsetFetch only up to v4, which cannot ask for it; so this reads until two reads `settleMs`
 * apart agree (at most `maxReads`).
 */
export async function settledCommittedOffsets(
  kafka: Kafka,
  groupId: string,
  topics: string[],
  opts: { settleMs?: number; maxReads?: number } = {},
): Promise<{ topic: string; partition: number; offset: string; metadata: string | null }[]> {
  const settleMs = opts.settleMs ?? 400;
  const maxReads = opts.maxReads ?? 8;
  const fingerprint = (xs: { topic: string; partition: number; offset: string; metadata: string | null }[]) =>
    JSON.stringify(xs.map((x) => [x.topic, x.partition, x.offset, x.metadata]).sort());
  let last = await committedOffsets(kafka, groupId, topics);
  for (let read = 1; read < maxReads; read++) {
    await sleep(settleMs);
    const now = await committedOffsets(kafka, groupId, topics);
    if (fingerprint(now) === fingerprint(last)) return now;
    last = now;
  }
  return last;
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

/** Group errors a commit meets when the member was dropped (frozen past its session) or the group is rebalancing. */
const REJOIN_ERRORS = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID']);
/** Their messages: kafkajs's retrier re-wraps a refused commit and the wrapper keeps only the message. */
const REJOIN_MESSAGES = [
  'The group is rebalancing, so a rejoin is needed',
  'Specified group generation id is not valid',
  'The coordinator is not aware of this member',
];

function rejoinErrorOf(err: unknown): string | null {
  for (
    let e = err as { type?: unknown; message?: unknown; cause?: unknown } | null, depth = 0;
    e && depth < 5;
    e = e.cause as typeof e, depth++
  ) {
    if (typeof e.type === 'string' && REJOIN_ERRORS.has(e.type)) return e.type;
    if (typeof e.message === 'string' && REJOIN_MESSAGES.some((m) => (e!.message as string).includes(m))) return e.message;
  }
  return null;
}

/**
 * A commit that failed because the group moved on (kafkajs marks these not retriable) is
 * retriable for the stage: kafkajs rejoins by itself, and the same offsets committed again
 * under the new generation are still right (the stage skips what it is fetched again).
 */
export function commitFailure(err: unknown): unknown {
  const why = rejoinErrorOf(err);
  return why === null
    ? err
    : new UnavailableError(`commit: the consumer group moved on (${why}); retried after the rejoin`, { cause: err });
}
