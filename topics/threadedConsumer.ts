/**
 * A consumer group on its own worker thread, seen from the main thread as the same TopicSource
 * that `consumeTopics` returns.
 *
 * Why: kafkajs turns every fetch into message objects (record decoding, 64-bit offsets and
 * timestamps through long.js, a Buffer per key and value) on the thread that consumes. On the
 * ingest pipeline that was about a fifth of the main thread, and those message objects were the
 * largest part of what young-generation GCs copied and promoted. On a second thread it runs
 * beside ingest's decode → featurize → windows instead of before it. Each handed-over chunk is
 * packed once on the thread into four buffers that move to the main thread without a copy, and
 * the main thread makes no per-message object until it unpacks them.
 *
 * Group membership, heartbeats, fetching and commits all happen on the thread (commits are
 * asked for from the main thread and answered when the broker acknowledged them), so the
 * at-least-once contract is the one `consumeTopics` gives. Backpressure: after each fetched
 * batch the thread waits while more than `aheadMessages` handed-over messages are not yet taken
 * (a chunk counts as taken once the pipeline's own `gate` let it through).
 */
import { Worker } from 'node:worker_threads';
import { ReplaySubject, Subject } from 'rxjs';
import { kafkaSettingsOf, type KafkaSettings } from './kafka.js';
import { ConfigError } from '../lib/config.js';
import { StateError, UnavailableError } from '../lib/errors.js';
import { logger } from '../lib/log.js';
import type { Envelope, SourcePosition } from '../schemas/envelope.js';
import { topicSource, type ConsumeOptions, type FetchBytes, type SourceProgress, type TopicSource } from './consumer.js';

/**
 * One handed-over chunk of one partition, in transferable form: every key and value back to
 * back in `bytes`, their lengths (−1 for null) and offsets in typed arrays.
 */
export interface PackedBatch {
  topic: string;
  partition: number;
  bytes: Uint8Array;
  keyLengths: Int32Array;
  valueLengths: Int32Array;
  /** Offsets as numbers when every one is below 2^53 (always, in practice); else as strings. */
  offsets: Float64Array | string[];
}

/** Packs one partition's chunk of messages; `transfer` lists the buffers to move, not copy. */
export function packBatch(envs: readonly Envelope<Buffer | null>[]): { batch: PackedBatch; transfer: ArrayBuffer[] } {
  const n = envs.length;
  let size = 0;
  let exact = true;
  for (let i = 0; i < n; i++) {
    const e = envs[i]!;
    size += (e.key?.length ?? 0) + (e.value?.length ?? 0);
    if (exact && !(Number(e.offset) <= Number.MAX_SAFE_INTEGER)) exact = false;
  }
  const bytes = new Uint8Array(size);
  const keyLengths = new Int32Array(n);
  const valueLengths = new Int32Array(n);
  const offsets = exact ? new Float64Array(n) : new Array<string>(n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const e = envs[i]!;
    if (e.key) {
      bytes.set(e.key, at);
      at += e.key.length;
      keyLengths[i] = e.key.length;
    } else keyLengths[i] = -1;
    if (e.value) {
      bytes.set(e.value, at);
      at += e.value.length;
      valueLengths[i] = e.value.length;
    } else valueLengths[i] = -1;
    offsets[i] = exact ? Number(e.offset) : e.offset;
  }
  const transfer = [bytes.buffer as ArrayBuffer, keyLengths.buffer as ArrayBuffer, valueLengths.buffer as ArrayBuffer];
  if (offsets instanceof Float64Array) transfer.push(offsets.buffer as ArrayBuffer);
  return { batch: { topic: envs[0]?.topic ?? '', partition: envs[0]?.partition ?? 0, bytes, keyLengths, valueLengths, offsets }, transfer };
}

/** The envelopes of a packed chunk; keys and values are views of its one buffer, not copies. */
export function unpackBatch(b: PackedBatch): Envelope<Buffer | null>[] {
  const buf = Buffer.from(b.bytes.buffer, b.bytes.byteOffset, b.bytes.byteLength);
  const n = b.valueLengths.length;
  const out: Envelope<Buffer | null>[] = new Array(n);
  const offs = b.offsets;
  let at = 0;
  for (let i = 0; i < n; i++) {
    const kl = b.keyLengths[i]!;
    const key = kl >= 0 ? buf.subarray(at, at + kl) : null;
    if (kl > 0) at += kl;
    const vl = b.valueLengths[i]!;
    const value = vl >= 0 ? buf.subarray(at, at + vl) : null;
    if (vl > 0) at += vl;
    out[i] = { topic: b.topic, partition: b.partition, offset: String(offs[i]), key, value, raw: value };
  }
  return out;
}

/** What the thread is started with (structured-cloned). */
export interface ThreadInit {
  /** The brokers and their TLS/SASL settings. */
  kafka: KafkaSettings;
  clientId: string;
  groupId: string;
  topics: string[];
  fromBeginning: boolean;
  sessionTimeoutMs: number;
  fetchBytes?: FetchBytes;
  aheadMessages: number;
}

/** Thread → main thread. */
export type FromThread =
  | { t: 'ready' }
  | { t: 'batch'; batch: PackedBatch }
  | { t: 'assigned'; owned: { topic: string; partition: number }[] }
  | { t: 'fetchStart'; epochMs: number }
  | { t: 'restarting'; reason: string }
  | { t: 'joined' }
  | { t: 'committed'; id: number; error?: string; retriable?: boolean }
  | { t: 'stopped' }
  | { t: 'failed'; error: string; retriable?: boolean; configKey?: string };

/** Main thread → thread. */
export type ToThread =
  | { t: 'taken'; n: number }
  | { t: 'commit'; id: number; positions: (SourcePosition & { metadata?: string })[] }
  | { t: 'seek'; topic: string; partition: number; offset: string }
  | { t: 'drain' }
  | { t: 'stop' };

export interface ThreadedConsumeOptions extends ConsumeOptions {
  clientId: string;
  /**
   * Messages handed over but not yet taken (see the module comment). Default 100,000: the next
   * fetch has to go out while the main thread still has a fetch's worth of work queued (one
   * default-sized fetch can hold about 120,000 messages); figures in decision 0051.
   */
  aheadMessages?: number;
}

/** An error the thread reported, as retriable as the thread judged the original; a configuration error stays one (exit 2). */
export const threadError = (message: string, retriable = false, configKey?: string): Error =>
  configKey !== undefined
    ? new ConfigError(configKey, message.replace(`config: ${configKey}: `, ''))
    : retriable
      ? new UnavailableError(message)
      : new StateError(message);

/** How long `stop()` waits for the thread to leave its group before ending it anyway. */
const STOP_TIMEOUT_MS = 30_000;

/** `consumeTopics` with the consumer on a worker thread (see the module comment). */
export async function consumeTopicsOnThread(cfg: KafkaSettings, opts: ThreadedConsumeOptions): Promise<TopicSource> {
  const log = logger('consumer-thread');
  const init: ThreadInit = {
    kafka: kafkaSettingsOf(cfg),
    clientId: opts.clientId,
    groupId: opts.groupId,
    topics: opts.topics,
    fromBeginning: opts.fromBeginning ?? true,
    sessionTimeoutMs: opts.sessionTimeoutMs ?? 30_000,
    ...(opts.fetchBytes ? { fetchBytes: opts.fetchBytes } : {}),
    aheadMessages: opts.aheadMessages ?? 100_000,
  };
  // a JavaScript entry: the thread registers the TypeScript loader itself before loading its body
  const worker = new Worker(new URL('./threadedConsumer.thread.mjs', import.meta.url), { workerData: init });
  const subject = new Subject<Envelope<Buffer | null>[]>();
  const assignments = new ReplaySubject<{ topic: string; partition: number }[]>(1);
  const commits = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  let nextCommit = 0;
  const progress: SourceProgress = { received: 0, firstFetchAt: null };
  let drained = false;
  let stopping = false;
  let exited = false;
  /** Taken notices go out in order, each after the pipeline's gate for its chunk. */
  let taking: Promise<void> = Promise.resolve();
  const send = (m: ToThread) => {
    if (!exited) worker.postMessage(m);
  };

  const fail = (err: Error) => {
    // a thread that failed is ended; the pipeline sees the error and stops (a restart resumes)
    if (!exited) void worker.terminate();
    for (const c of commits.values()) c.reject(err);
    commits.clear();
    if (!subject.closed && !drained) subject.error(err);
    if (!assignments.closed) assignments.error(err);
  };

  let ready!: () => void;
  let notReady!: (e: Error) => void;
  const started = new Promise<void>((res, rej) => {
    ready = res;
    notReady = rej;
  });
  let stopped!: () => void;
  const left = new Promise<void>((res) => (stopped = res));

  worker.on('message', (m: FromThread) => {
    switch (m.t) {
      case 'ready':
        ready();
        break;
      case 'batch': {
        if (drained || subject.closed) break;
        const envs = unpackBatch(m.batch);
        progress.received += envs.length;
        subject.next(envs);
        const n = envs.length;
        taking = taking
          .then(async () => {
            if (opts.gate) await opts.gate();
          })
          .catch((err: unknown) => log.error({ err }, 'backpressure gate failed; taking the chunk anyway'))
          .then(() => send({ t: 'taken', n }));
        break;
      }
      case 'assigned':
        if (!assignments.closed) assignments.next(m.owned);
        break;
      case 'restarting':
        opts.onRestart?.(m.reason);
        break;
      case 'joined':
        opts.onJoin?.();
        break;
      case 'fetchStart':
        // the thread's clock has another origin: carry the instant over as wall time
        progress.firstFetchAt ??= m.epochMs - performance.timeOrigin;
        break;
      case 'committed': {
        const c = commits.get(m.id);
        commits.delete(m.id);
        if (m.error) c?.reject(threadError(`commit failed on the consumer thread: ${m.error}`, m.retriable));
        else c?.resolve();
        break;
      }
      case 'stopped':
        stopped();
        break;
      case 'failed': {
        const err = threadError(m.configKey !== undefined ? m.error : `consumer thread failed: ${m.error}`, m.retriable, m.configKey);
        notReady(err);
        fail(err);
        break;
      }
    }
  });
  worker.on('error', (err) => {
    log.error({ err }, 'consumer thread crashed');
    notReady(err);
    fail(err);
  });
  worker.on('exit', (code) => {
    exited = true;
    stopped();
    if (!stopping) {
      const err = new StateError(
        `consumer thread exited unexpectedly (code ${code}); restart the pipeline, it resumes from the committed offsets`,
      );
      notReady(err);
      fail(err);
    }
  });

  try {
    await started;
  } catch (err) {
    // nothing to stop cleanly: a client that never connected may still hold retry timers
    stopping = true;
    await worker.terminate();
    throw err;
  }

  return topicSource(subject, assignments, progress, {
    commit(positions) {
      if (positions.length === 0) return Promise.resolve();
      if (exited) return Promise.reject(new StateError('commit after the consumer thread ended'));
      const id = nextCommit++;
      return new Promise<void>((resolve, reject) => {
        commits.set(id, { resolve, reject });
        send({
          t: 'commit',
          id,
          positions: positions.map((p) => ({
            topic: p.topic,
            partition: p.partition,
            offset: p.offset,
            ...(p.metadata !== undefined ? { metadata: p.metadata } : {}),
          })),
        });
      });
    },
    seek(topic, partition, offset) {
      send({ t: 'seek', topic, partition, offset });
    },
    drain() {
      drained = true;
      send({ t: 'drain' });
      subject.complete();
      if (!assignments.closed) assignments.complete();
    },
    async stop({ complete = false } = {}) {
      if (stopping) return left;
      stopping = true;
      drained = true;
      send({ t: 'stop' });
      const timer = setTimeout(() => {
        log.warn('consumer thread did not stop in time; ending it');
        void worker.terminate();
      }, STOP_TIMEOUT_MS);
      await left;
      clearTimeout(timer);
      await worker.terminate();
      for (const c of commits.values()) c.reject(new StateError('consumer stopped before the commit was answered'));
      commits.clear();
      if (complete && !subject.closed) subject.complete();
      if (!assignments.closed) assignments.complete();
    },
  });
}
