/**
 * The ingest processor's core: decoded telemetry → validated → featurized → windowed aggregates,
 * pure and synchronous (operator.ts runs it as an RxJS operator). The Kafka edge (consume, Avro
 * decode, send, commit) stays in the pipeline; this is the pure middle, so its counts can be
 * checked exactly: every input ends as part of an aggregate, or as a dead letter (decode failure,
 * invalid event, late event), never nothing.
 *
 * Input: an Envelope whose value is a decoded QueryEvent, or a DecodeFailure carrying the
 * decoder's reason (the envelope's `raw` keeps the original bytes for the dead letter).
 * Output: Routed aggregates (`out`) and dead letters (`dlq`), optional per-query features, and
 * `progress` items with the offsets that are safe to commit (see safeOffsets.ts).
 */
import type { DeadLetter, QueryEvent, QueryFeatures, WorkloadAggregate } from '../../schemas/types.js';
import { deadLetter, type Envelope, type Routed } from '../../schemas/envelope.js';
import { analyze, featuresOf, toQueryFeatures, valuesOf, type Analysis, type FeaturizeConfig } from './sql/featurize.js';
import { TemplateCache } from './sql/templateCache.js';
import { validateQueryEvent } from './validate.js';
import type { WindowInput } from './openWindow.js';
import type { Progress, ResumeState } from './safeOffsets.js';
import { WindowAggregator, type WindowConfig, type WindowOutput } from './window.js';

/** A message the pipeline could not decode; `reason` is the decoder's message. */
export interface DecodeFailure {
  decodeFailure: string;
}

export function decodeFailure(reason: string): DecodeFailure {
  return { decodeFailure: reason };
}

export function isDecodeFailure(v: unknown): v is DecodeFailure {
  return typeof v === 'object' && v !== null && typeof (v as DecodeFailure).decodeFailure === 'string';
}

/** Scaled-out input only: event time of an origin (source partition) reached `ts` (route.ts). */
export interface WatermarkMark {
  mark: { origin: string; ts: number };
}

function isMark(v: object): v is WatermarkMark {
  return (v as Partial<WatermarkMark>).mark !== undefined;
}

export type IngestInput = Envelope<QueryEvent | DecodeFailure | WatermarkMark>;

export type IngestOutput = Routed<WorkloadAggregate> | { kind: 'features'; value: QueryFeatures } | ({ kind: 'progress' } & Progress);

/** A batch of outputs as the pipeline sends and commits them: aggregates, dead letters, and the last progress item. */
export interface OutputBatch {
  aggregates: WorkloadAggregate[];
  letters: DeadLetter[];
  progress: Progress | undefined;
}

export function splitOutputs(outs: readonly IngestOutput[]): OutputBatch {
  const batch: OutputBatch = { aggregates: [], letters: [], progress: undefined };
  for (const o of outs) {
    if (o.kind === 'out') batch.aggregates.push(o.value);
    else if (o.kind === 'dlq') batch.letters.push(o.letter);
    // each progress item is complete on its own (every partition): the last one is what to commit
    else if (o.kind === 'progress') batch.progress = o;
  }
  return batch;
}

export interface IngestStats {
  received: number;
  decodeFailed: number;
  invalid: number;
  featurizeFailed: number;
  unparsed: number;
  late: number;
  lateMerged: number;
  aggregates: number;
  /** Re-read after a restart and already accounted for (skipped, or its dead letter not re-sent). */
  replayed: number;
  /** Fetched again by this process (the consumer went back to its committed offset): skipped. */
  redelivered: number;
}

export interface IngestConfig extends WindowConfig {
  featurize: FeaturizeConfig;
  /** Template cache (shared across restarts of the operator); one is created when absent. */
  cache?: TemplateCache;
  /** Name written into dead letters. Default "ingest". */
  pipeline?: string;
  /** Also emit each query's features (for shardcast.workload.features). Default false. */
  emitFeatures?: boolean;
  /** Also dead-letter statements that do not parse (they are counted in aggregates anyway). */
  dlqUnparsed?: boolean;
  /** Counters updated in place (for the pipeline's Prometheus metrics). */
  stats?: IngestStats;
  /** State committed by a previous run (see ResumeState). */
  resume?: ResumeState;
}

export function newIngestStats(): IngestStats {
  return {
    received: 0,
    decodeFailed: 0,
    invalid: 0,
    featurizeFailed: 0,
    unparsed: 0,
    late: 0,
    lateMerged: 0,
    aggregates: 0,
    replayed: 0,
    redelivered: 0,
  };
}

/** Carries the original event metrics next to the features (what the window aggregates). */
type Featured = WindowInput;

/**
 * Pure, synchronous core: one input in, its outputs out. `now()` stamps dead letters (from the
 * injected scheduler in the operator).
 */
export class IngestCore {
  readonly window: WindowAggregator<Featured>;
  readonly cache: TemplateCache;
  readonly stats: IngestStats;
  private readonly pipeline: string;
  /** The window's outputs for one event, reused: most events cause none. */
  private readonly scratch: WindowOutput<Featured>[] = [];
  /**
   * The window's input, one object refilled per event rather than two made per event (see
   * docs/decisions/0020-ingest-measurements.md). Safe because
   * the window reads its input only during `add` (series copy what they keep) and the only output
   * that refers to it, a late item, is turned into a dead letter by `fromWindow` before the next
   * event refills it.
   */
  private readonly featured: Featured = {
    ts: 0,
    source: '',
    readWrite: 'read',
    tables: [],
    keyRanges: [],
    parseError: null,
    pointKeys: {},
    durationMs: 0,
    rowsRead: 0,
    rowsWritten: 0,
    status: 'ok',
    node: null,
    partition: null,
    txId: null,
    compiled: null,
    predicateValues: () => (this.analysis ? valuesOf(this.analysis) : []),
  };
  /** The event being added: what `featured.predicateValues` fills its values from. */
  private analysis: Analysis | null = null;
  private readonly wenv: Envelope<Featured> = { topic: '', partition: 0, offset: '0', key: null, raw: null, value: this.featured };

  constructor(
    private readonly cfg: IngestConfig,
    private readonly now: () => number,
  ) {
    this.window = new WindowAggregator<Featured>({ ...cfg, now: cfg.now ?? now });
    if (cfg.resume) this.window.resume(cfg.resume);
    this.cache = cfg.cache ?? new TemplateCache();
    this.stats = cfg.stats ?? newIngestStats();
    this.pipeline = cfg.pipeline ?? 'ingest';
  }

  private letter(env: Envelope<unknown>, stage: string, reason: string): DeadLetter {
    return deadLetter(env, stage, reason, this.pipeline, this.now());
  }

  private fromWindow(xs: WindowOutput<Featured>[], out: IngestOutput[]): void {
    for (const x of xs) {
      if (x.kind === 'aggregate') {
        this.stats.aggregates++;
        out.push({ kind: 'out', value: x.value });
      } else if (x.kind === 'late') {
        this.stats.late++;
        const e = x.envelope;
        out.push({
          kind: 'dlq',
          letter: this.letter(
            e,
            'window',
            `late event: its window [${Math.floor(e.value.ts / this.window.windowMs) * this.window.windowMs}, +${this.window.windowMs}) of ts ${e.value.ts} is closed (every window ending by ${x.closedThrough} is; watermark ${x.watermark})`,
          ),
        });
      } else out.push(x);
    }
  }

  add(env: IngestInput): IngestOutput[] {
    const out: IngestOutput[] = [];
    this.addTo(env, out, true);
    return out;
  }

  /** Adds a batch; the safe offsets are computed once at its end rather than per event. */
  addBatch(envs: readonly IngestInput[]): IngestOutput[] {
    const out: IngestOutput[] = [];
    // one clock read per batch: partition idleness is measured in seconds, a batch takes milliseconds
    const at = this.window.clock();
    for (let i = 0; i < envs.length; i++) this.addTo(envs[i]!, out, false, at);
    this.fromWindow(this.window.progressNow(true), out);
    return out;
  }

  /** A dead letter, unless this position was already reported before a restart. */
  private report(env: IngestInput, stage: string, reason: string, out: IngestOutput[]): void {
    if (this.window.isReplay(env)) this.stats.replayed++;
    else out.push({ kind: 'dlq', letter: this.letter(env, stage, reason) });
  }

  private addTo(env: IngestInput, out: IngestOutput[], progress: boolean, at = this.window.clock()): void {
    this.stats.received++;
    if (this.window.isRedelivery(env)) {
      this.stats.redelivered++;
      return;
    }
    const v = env.value;
    if (isMark(v)) {
      this.stats.received--;
      this.fromWindow(this.window.mark(env, v.mark.origin, v.mark.ts, progress, at), out);
      return;
    }
    if (isDecodeFailure(v)) {
      this.stats.decodeFailed++;
      this.report(env, 'decode', v.decodeFailure, out);
      this.fromWindow(this.window.markDone(env, progress), out);
      return;
    }
    const valid = validateQueryEvent(v);
    if (!valid.ok) {
      this.stats.invalid++;
      this.report(env, 'validate', valid.reason, out);
      this.fromWindow(this.window.markDone(env, progress), out);
      return;
    }
    const ev = valid.value;
    let a: Analysis;
    try {
      a = analyze(ev, this.cfg.featurize, this.cache);
    } catch (err) {
      // analyze is written not to throw; this is the belt to its braces
      this.stats.featurizeFailed++;
      this.report(env, 'featurize', (err as Error).message ?? String(err), out);
      this.fromWindow(this.window.markDone(env, progress), out);
      return;
    }
    const c = a.compiled;
    if (c.parseError !== null) {
      this.stats.unparsed++;
      if (this.cfg.dlqUnparsed) this.report(env, 'featurize', `unparseable SQL (counted as unparsed): ${c.parseError}`, out);
    }
    if (this.cfg.emitFeatures) out.push({ kind: 'features', value: toQueryFeatures(featuresOf(ev, a)) });
    const lateBefore = this.window.counters.lateMerged;
    const replayBefore = this.window.counters.replaySkipped;
    const featured = this.featured;
    featured.ts = ev.ts;
    featured.source = ev.source;
    featured.readWrite = c.readWrite;
    featured.tables = c.tables;
    featured.keyRanges = a.keyRanges;
    featured.parseError = c.parseError;
    featured.pointKeys = a.pointKeys;
    featured.compiled = c;
    this.analysis = a;
    featured.durationMs = ev.durationMs;
    featured.rowsRead = ev.rowsRead;
    featured.rowsWritten = ev.rowsWritten;
    featured.status = ev.status;
    featured.node = ev.node;
    featured.partition = ev.partition;
    featured.txId = ev.txId;
    const wenv = this.wenv;
    wenv.topic = env.topic;
    wenv.partition = env.partition;
    wenv.offset = env.offset;
    wenv.key = env.key;
    wenv.raw = env.raw;
    const xs = this.scratch;
    xs.length = 0;
    this.window.add(wenv, progress, xs, at);
    // (at once: a late item refers to the refilled input)
    if (xs.length > 0) this.fromWindow(xs, out);
    this.stats.lateMerged += this.window.counters.lateMerged - lateBefore;
    this.stats.replayed += this.window.counters.replaySkipped - replayBefore;
  }

  advance(ms: number): IngestOutput[] {
    const out: IngestOutput[] = [];
    this.fromWindow(this.window.advance(ms), out);
    return out;
  }

  flush(): IngestOutput[] {
    const out: IngestOutput[] = [];
    this.fromWindow(this.window.flush(), out);
    return out;
  }
}
