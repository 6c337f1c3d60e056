/**
 * The wiring shared by the stateless stages (forecast, decide, execute, sink): consume topics in
 * a consumer group, decode each message with the registry, hand micro-batches to the stage's
 * handler, send what it returns (outputs and dead letters), and only then commit the batch's
 * offsets. Failures follow one policy (failure.ts): a message that cannot be decoded, whose values
 * fail the record checks (schemas/recordChecks.ts: NaN, negative counts, bad text), or that
 * the handler rejects with an InputError, goes to the DLQ with its bytes, position and reason; a
 * retriable failure of decode, handle, send or commit is retried with backoff (health shows the
 * stage stalled meanwhile); any other error stops the stage once the batches before it committed.
 */
import { bufferTime, mergeMap, filter, from, lastValueFrom, defaultIfEmpty } from 'rxjs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DeadLetter } from '../schemas/types.js';
import type { SourcePosition } from '../schemas/envelope.js';
import { TOPICS } from '../schemas/topics.js';
import { recordProblem } from '../schemas/recordChecks.js';
import { DecodeError } from '../schemas/serde.js';
import { consumeTopics, latestPositions, settledCommittedOffsets, type TopicSource } from '../topics/consumer.js';
import { deadLetter, type Envelope } from '../schemas/envelope.js';
import { TopicProducer, type OutRecord } from '../topics/producer.js';
import { transactionOutcome } from '../topics/transactionOutcome.js';
import { StateError } from '../lib/errors.js';
import type { PipelineContext } from './context.js';
import { CommitChain } from './commitChain.js';
import type { IngestStats } from '../processors/ingest/processor.js';
import { consumerHealth, failureAction, initialHealth, stageRetrying, type BackoffOptions, type StageHealth } from './failure.js';

/**
 * Decoded messages, and dead letters for those that are not messages of their topic: bytes that
 * do not decode, values that fail the record checks or the stage's own `check`.
 */
export async function decodeBatch<T>(
  ctx: PipelineContext,
  raw: readonly Envelope<Buffer | null>[],
  stage: string,
  check?: (topic: string, value: T) => string | null,
): Promise<{ good: Envelope<T>[]; letters: DeadLetter[] }> {
  // Dead letters themselves are not checked again: the sink stores them as they came.
  const checked = (topic: string) => topic !== TOPICS.dlq.name && ctx.serde.readerType(topic) !== undefined;
  const good: Envelope<T>[] = [];
  const letters: DeadLetter[] = [];
  for (const m of raw) {
    try {
      // Synchronously when the writer schema is known (the common case): no promise per message.
      const value = ctx.serde.decodeSync<T>(m.topic, m.value) ?? (await ctx.serde.decode<T>(m.topic, m.value));
      const problem = checked(m.topic) ? (recordProblem(ctx.serde.readerType(m.topic)!, value) ?? check?.(m.topic, value) ?? null) : null;
      if (problem) throw new DecodeError(problem);
      good.push({ ...m, value });
    } catch (err) {
      if (failureAction(err) !== 'dead-letter') throw err;
      letters.push(deadLetter(m, 'decode', (err as Error).message, stage, Date.now()));
    }
  }
  return { good, letters };
}

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
  /**
   * Handles decoded messages; returns what to send. An InputError puts the messages it is about
   * on the DLQ: the batch is handled again one message at a time to find them, so a handler
   * throws it before it changes state. A retriable error retries the batch (handlers already
   * see messages again after a restart: at-least-once); any other error stops the stage.
   */
  handle(batch: Envelope<T>[]): Promise<StageOutput[]>;
  /** Delays between retries of a failed step (see backoffDelayMs). */
  backoff?: BackoffOptions;
  /**
   * Exactly once for a stage with state (forecast): a batch's outputs and the input offsets
   * are committed in one Kafka transaction, and only together with the state they stand for.
   * A batch without outputs is not committed on its own: its positions wait for the next
   * batch with outputs, so after a crash Kafka delivers it again onto the state saved before
   * it. Needs `concurrency` 1.
   */
  exactlyOnce?: ExactlyOnce;
  /** A stage's own check of a decoded record beyond the record checks: why it is refused, or null. */
  check?: (topic: string, value: T) => string | null;
  /** How long the group waits for a silent member before giving its partitions to others (default 30 s). */
  sessionTimeoutMs?: number;
}

export interface ExactlyOnce {
  /** Stable across restarts of this stage: a restarted producer fences its predecessor. */
  transactionalId: string;
  /** Saves the state as of `positions` (this commit's last offsets), before the transaction commits. */
  beforeCommit(positions: SourcePosition[]): Promise<void>;
  /** After the commit: makes the saved state the current one. */
  afterCommit(): Promise<void>;
  /**
   * A batch without outputs commits its positions on its own (an offsets-only transaction), for
   * a stage with no saved state to keep in step (decide): its consumer lag stays true.
   */
  commitAlone?: boolean;
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
  /** Whether the stage makes progress or retries a failed step (for the metrics). */
  health?: StageHealth;
  source: TopicSource;
  /** Resolves when the stage stopped after `stop()`; rejects with the error that stopped it. */
  done: Promise<void>;
  /** Stops fetching, finishes the batch in hand, commits it, disconnects (a step being retried gives up). */
  stop(): Promise<void>;
}

export async function startStage<T>(ctx: PipelineContext, spec: StageSpec<T>): Promise<RunningStage> {
  const stats: StageStats = { consumed: 0, produced: 0, handled: 0, deadLettered: 0, batches: 0 };
  const maxPending = (spec.batchSize ?? 1000) * 4;
  const health = initialHealth();
  let stopping = false;
  const stopped = new AbortController();
  const retrying = stageRetrying(spec.name, { health, backoff: spec.backoff, signal: stopped.signal, log: ctx.log });
  // Backpressure: the consumer fetches again only when fewer than maxPending messages wait.
  const gate = async () => {
    while (!stopping && source.received - stats.handled - stats.deadLettered > maxPending) await sleep(10);
  };
  const eo = spec.exactlyOnce;
  if (eo && (spec.concurrency ?? 1) !== 1) throw new StateError(`stage ${spec.name}: exactly-once needs concurrency 1`);
  // Before the consumer: connecting fences the instance this one replaces (a round trip to the
  // broker), and messages the consumer hands over before the pipeline below subscribes are lost.
  const txProducer = eo ? await TopicProducer.connect(ctx.kafka, ctx.serde, { transactionalId: eo.transactionalId }) : null;
  const source: TopicSource = await consumeTopics(ctx.kafka, {
    groupId: spec.groupId,
    topics: spec.topics,
    fromBeginning: spec.fromBeginning ?? true,
    ...(spec.sessionTimeoutMs ? { sessionTimeoutMs: spec.sessionTimeoutMs } : {}),
    gate,
    ...consumerHealth(health),
  });
  /** Exactly-once: positions handled since the last commit, per topic-partition. */
  const uncommitted = new Map<string, SourcePosition>();
  /** Sends the outputs and commits the batch's positions: in one transaction when exactly once. */
  const sendAndCommit = async (raw: Envelope<Buffer | null>[], outputs: StageOutput[], before: Promise<void>) => {
    if (!eo || !txProducer) {
      await retrying('send', () => ctx.producer.sendMany(outputs));
      await before;
      await retrying('commit', () => source.commit(latestPositions(raw)));
      return;
    }
    await before;
    for (const p of latestPositions(raw))
      uncommitted.set(`${p.topic}:${p.partition}`, { topic: p.topic, partition: p.partition, offset: p.offset });
    if (!eo.commitAlone && !outputs.some((o) => o.records.length > 0)) return;
    const positions = [...uncommitted.values()];
    let attempt = 0;
    await retrying('send', async () => {
      // a try whose commit went through though it failed is not redone: its records would repeat
      if (attempt++ > 0 && (await committedAlready(txProducer, positions))) return;
      await txProducer.sendInTransaction(outputs, { groupId: spec.groupId, positions }, () => eo.beforeCommit(positions));
    });
    uncommitted.clear();
    await eo.afterCommit();
  };

  /**
   * Whether a failed transaction committed `positions` after all, asked once it was settled. This
   * stage's instances share one transactional id, so no other instance commits meanwhile.
   */
  const committedAlready = async (producer: TopicProducer, positions: SourcePosition[]) => {
    await producer.settle();
    const committed = await settledCommittedOffsets(ctx.kafka, spec.groupId, spec.topics);
    return positions.every((p) => {
      const c = committed.find((x) => x.topic === p.topic && x.partition === p.partition);
      const tried = { offset: (BigInt(p.offset) + 1n).toString(), metadata: null };
      return transactionOutcome(null, tried, c ? { offset: c.offset, metadata: c.metadata } : null) === 'committed';
    });
  };

  const chain = new CommitChain();
  const processBatch = (raw: Envelope<Buffer | null>[]) => chain.run((earlier) => handleBatch(raw, earlier));
  const decode = (raw: Envelope<Buffer | null>[]) => decodeBatch<T>(ctx, raw, spec.name, spec.check);
  /** The handler's outputs; on an InputError, message by message, the rejected ones as dead letters. */
  const handle = async (good: Envelope<T>[]): Promise<{ outputs: StageOutput[]; letters: DeadLetter[] }> => {
    try {
      return { outputs: await retrying('handle', () => spec.handle(good)), letters: [] };
    } catch (err) {
      if (failureAction(err) !== 'dead-letter') throw err;
      const reject = (m: Envelope<T>, e: unknown) => deadLetter(m, 'handle', (e as Error).message, spec.name, Date.now());
      if (good.length === 1) return { outputs: [], letters: [reject(good[0]!, err)] };
      const outputs: StageOutput[] = [];
      const letters: DeadLetter[] = [];
      for (const m of good) {
        try {
          outputs.push(...(await retrying('handle', () => spec.handle([m]))));
        } catch (e) {
          if (failureAction(e) !== 'dead-letter') throw e;
          letters.push(reject(m, e));
        }
      }
      return { outputs, letters };
    }
  };

  const handleBatch = async (raw: Envelope<Buffer | null>[], before: Promise<void>) => {
    try {
      stats.consumed += raw.length;
      const decoded = await retrying('decode', () => decode(raw));
      const handled = decoded.good.length > 0 ? await handle(decoded.good) : { outputs: [], letters: [] };
      const letters = [...decoded.letters, ...handled.letters];
      const outputs = handled.outputs;
      if (letters.length > 0) outputs.push({ topic: TOPICS.dlq.name, records: letters.map((l) => ({ key: l.sourceTopic, value: l })) });
      await sendAndCommit(raw, outputs, before);
      for (const o of outputs) if (o.topic !== TOPICS.dlq.name) stats.produced += o.records.length;
      stats.handled += raw.length - letters.length;
      stats.deadLettered += letters.length;
      stats.batches++;
    } catch (err) {
      // Flush what can be: the batches before this one still commit, then the stage stops.
      await before.catch(() => undefined);
      throw err;
    }
  };

  const done = lastValueFrom(
    source.messages$.pipe(
      bufferTime(spec.batchMs ?? 500, null, spec.batchSize ?? 1000),
      filter((b) => b.length > 0),
      mergeMap(
        (b) =>
          from(
            processBatch(b).catch((err: unknown) => {
              if (stopping && failureAction(err) === 'retry') {
                ctx.log.warn({ err: (err as Error).message, stage: spec.name }, 'stopped while retrying; the batch was not committed');
              } else {
                Object.assign(health, { state: 'failed', lastError: (err as Error).message ?? String(err), since: Date.now() });
                ctx.log.error({ err, stage: spec.name }, 'stage failed; its batch was not committed');
              }
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
    health,
    groupId: spec.groupId,
    topics: spec.topics,
    source,
    done,
    async stop() {
      stopping = true;
      stopped.abort();
      // Complete the stream first so what it flushes is still sent and committed, then leave.
      source.drain();
      // A failure was logged and is reported through `done`; stopping still disconnects.
      await done.catch(() => undefined);
      await source.stop();
      await txProducer?.disconnect();
    },
  };
}
