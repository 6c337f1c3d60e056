/**
 * Event-time tumbling windows: featurized queries → one WorkloadAggregate per series per window.
 * This is the workload signal the forecaster learns from, so it must be exact in counts, keyed
 * by event time (not arrival time), bounded in memory, and never lose an event.
 *
 * Time: each source partition has its own event-time front (the newest event time it delivered);
 * the watermark is (the slowest active partition's front − allowed lateness), as in Flink, so a
 * consumer that reads one partition ahead of another does not make the other's events late.
 * A partition that delivered nothing for `partitionIdleMs` of processing time (from the injected
 * `now`) stops holding the watermark back until it delivers again. A window [start, end) is
 * closed and emitted once the watermark reaches `end`. An event behind the watermark whose window is still
 * open is merged and counted in `lateMerged`; an event whose window is already closed comes out
 * as a `late` item (for the pipeline to report / dead-letter). Source completion flushes every
 * open window. No wall clock is read: with `idleFlushMs` and a scheduler, a source that goes
 * quiet has its watermark advanced by the scheduler's elapsed time so the last windows close.
 *
 * Series: per source a total series `source|*|*[||node]` that counts every query exactly once,
 * and per table × key-range bucket (× partition × node when known)
 * `source|table|bucket[|partition][|node]`, counting each query that touches it. Multi-table and
 * multi-bucket queries add their metrics to every series they touch.
 *
 * Memory: at most `maxSeriesPerWindow` series per window (beyond it, series overflow into the
 * fixed `~other` series, still counted), Space-Saving sketches of fixed size for hot keys and
 * co-access, a bounded transaction table, bounded quantile sketches, and at most
 * `maxOpenWindows` open windows.
 *
 * Progress: for each source partition, the highest offset such that every event at or below it
 * is reflected in an emitted item: (first offset still held by an open window) − 1, or the
 * highest offset seen when no open window holds any. Offsets are tracked as JS numbers (exact
 * below 2^53).
 */
import { Observable, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';
import type { QueryFeatures, QueryStatus, WorkloadAggregate } from '../../schemas/types.js';
import type { Envelope, SourcePosition } from '../../schemas/envelope.js';
import { LatencySketch } from './latencySketch.js';
import { SpaceSaving } from './spaceSaving.js';

/** What the window needs from a query: the features it reads plus the metrics of the event. */
export interface WindowInput extends Pick<QueryFeatures, 'ts' | 'source' | 'readWrite' | 'tables' | 'keyRanges' | 'parseError'> {
  durationMs: number;
  rowsRead: number;
  rowsWritten: number;
  status: QueryStatus;
  node: string | null;
  partition: string | null;
  txId: string | null;
  /** Partition-key values touched per table (FeaturesWithKeys.pointKeys), for hot keys. */
  pointKeys?: Record<string, string[]>;
}

export type WindowOutput<T extends WindowInput = WindowInput> =
  | { kind: 'aggregate'; value: WorkloadAggregate }
  | { kind: 'late'; envelope: Envelope<T>; watermark: number }
  | { kind: 'progress'; safeOffsets: Record<string, string>; resume?: ResumeState };

/**
 * What a restarted aggregator needs besides the committed offsets to neither lose nor repeat
 * anything (kept in the commit's offset metadata): the event time through which every window was
 * closed (emitted or empty), and per partition the highest offset whose outputs were already
 * sent. Re-read events at or below that offset are skipped if their window is closed (already
 * counted, or already reported late) and re-aggregated if it was still open; their dead letters
 * are not sent twice.
 */
export interface ResumeState {
  closedThrough: number;
  seenThrough: Record<string, number>;
}

export interface WindowConfig {
  /** Tumbling window size in ms (default 10,000). */
  windowMs?: number;
  /** How far behind the newest event time an event may be and still be merged (default 5,000). */
  allowedLatenessMs?: number;
  maxSeriesPerWindow?: number;
  hotKeysPerSeries?: number;
  coAccessPerSeries?: number;
  maxTxPerWindow?: number;
  maxOpenWindows?: number;
  /** DDSketch relative accuracy (default 0.01) and bin limit (default 1024). */
  relativeAccuracy?: number;
  sketchBinLimit?: number;
  /** With a scheduler: advance the watermark by elapsed scheduler time when no event arrives. */
  idleFlushMs?: number;
  /** Processing time after which a silent partition no longer holds the watermark (default 15,000; needs `now`). */
  partitionIdleMs?: number;
  /** Processing-time clock for partition idleness (the operator passes its scheduler's). */
  now?: () => number;
  scheduler?: SchedulerLike;
}

const OTHER = '~other';

interface SeriesState {
  seriesId: string;
  source: string;
  table: string | null;
  keyBucket: string | null;
  partition: string | null;
  node: string | null;
  queries: number;
  reads: number;
  writes: number;
  rowsRead: number;
  rowsWritten: number;
  errors: number;
  unparsed: number;
  lateMerged: number;
  latencySumMs: number;
  latency: LatencySketch;
  hot: SpaceSaving;
  co: SpaceSaving;
}

/** The series of one source × node in one window: its total, and its table × bucket × partition series. */
interface NodeSeries {
  total: SeriesState | undefined;
  buckets: Map<string, Map<string, Map<string, SeriesState>>>;
}

/**
 * (source, node) → (total series, table → bucket → partition → series), as nested maps in front
 * of the id map. Building the "a|b|c|d|e" id string per event (and flattening it for the lookup)
 * was most of the window's garbage; the id is built only on a miss here, and the id map stays
 * the source of truth, so two paths whose ids coincide still share one series. The total and the
 * bucket series of an event share the (source, node) lookup.
 */
class SeriesIndex {
  private readonly root = new Map<string, Map<string, NodeSeries>>();

  at(source: string, node: string): NodeSeries {
    let bySource = this.root.get(source);
    if (!bySource) {
      bySource = new Map();
      this.root.set(source, bySource);
    }
    let n = bySource.get(node);
    if (!n) {
      n = { total: undefined, buckets: new Map() };
      bySource.set(node, n);
    }
    return n;
  }

  bucket(n: NodeSeries, table: string, bucket: string, partition: string): SeriesState | undefined {
    return n.buckets.get(table)?.get(bucket)?.get(partition);
  }

  setBucket(n: NodeSeries, table: string, bucket: string, partition: string, s: SeriesState): void {
    let byTable = n.buckets.get(table);
    if (!byTable) {
      byTable = new Map();
      n.buckets.set(table, byTable);
    }
    let byBucket = byTable.get(bucket);
    if (!byBucket) {
      byBucket = new Map();
      byTable.set(bucket, byBucket);
    }
    byBucket.set(partition, s);
  }
}

/** Index key for "absent": it cannot be a partition or node name. */
const NONE = '\u0000';

interface WindowState {
  start: number;
  end: number;
  series: Map<string, SeriesState>;
  index: SeriesIndex;
  /** txId -> targets (table|bucket) touched in this window, with the series that touched them. */
  tx: Map<string, Map<string, SeriesState>>;
  /** "topic:partition" -> first offset held by this window. */
  firstOffsets: Map<string, number>;
}

const posKey = (p: { topic: string; partition: number }) => `${p.topic}:${p.partition}`;

/** A source partition's event-time front: newest event time delivered, and when it last delivered. */
interface Front {
  ts: number;
  at: number;
}

/**
 * What `add` touches for an event's partition, found once when the partition changes (a fetched
 * batch is one partition) instead of by three map lookups per event.
 */
interface PartitionCursor {
  topic: string;
  partition: number;
  key: string;
  /** Its entry in `front` (null when it has none); the cursors are dropped whenever `front` changes. */
  front: Front | null;
  /** Its entry in `maxSeen`. */
  seen: { max: number };
  /** The newest window known to hold a first offset of this partition. */
  heldIn: WindowState | null;
}

/** Pure, synchronous core of the window operator (also used directly by the ingest processor). */
export class WindowAggregator<T extends WindowInput = WindowInput> {
  readonly windowMs: number;
  readonly latenessMs: number;
  private readonly cfg: Required<Omit<WindowConfig, 'scheduler' | 'idleFlushMs' | 'now'>>;
  private readonly now: (() => number) | null;
  /** Per source partition: newest event time delivered, and when (processing time) it last delivered. */
  private readonly front = new Map<string, Front>();
  private readonly windows = new Map<number, WindowState>();
  /** End of the latest window closed: anything for a window ending at or before it is late. */
  private closedThrough = -Infinity;
  /** Per partition: offsets at or below this were handled before a restart (see ResumeState). */
  private readonly replayThrough = new Map<string, number>();
  private readonly maxSeen = new Map<string, { max: number }>();
  private readonly lastSafe = new Map<string, number>();
  readonly counters = { events: 0, lateMerged: 0, late: 0, windowsClosed: 0, aggregates: 0, overflowed: 0, replaySkipped: 0 };

  constructor(cfg: WindowConfig = {}) {
    this.cfg = {
      windowMs: cfg.windowMs ?? 10_000,
      allowedLatenessMs: cfg.allowedLatenessMs ?? 5_000,
      maxSeriesPerWindow: cfg.maxSeriesPerWindow ?? 10_000,
      hotKeysPerSeries: cfg.hotKeysPerSeries ?? 32,
      coAccessPerSeries: cfg.coAccessPerSeries ?? 16,
      maxTxPerWindow: cfg.maxTxPerWindow ?? 10_000,
      maxOpenWindows: cfg.maxOpenWindows ?? 64,
      relativeAccuracy: cfg.relativeAccuracy ?? 0.01,
      sketchBinLimit: cfg.sketchBinLimit ?? 1024,
      partitionIdleMs: cfg.partitionIdleMs ?? 15_000,
    };
    this.now = cfg.now ?? null;
    this.windowMs = this.cfg.windowMs;
    this.latenessMs = this.cfg.allowedLatenessMs;
  }

  /** Processing time as the aggregator reads it (0 without a `now`). */
  clock(): number {
    return this.now ? this.now() : 0;
  }

  /** Current watermark (−Infinity before the first event). */
  get watermark(): number {
    return this.watermarkFrom(this.slowestFront(this.clock()));
  }

  /**
   * The watermark as `add` last used it, and what it depends on: it changes only when the
   * processing time changes (once per batch), a partition's front appears or goes, the front
   * that holds it back moves, or an idle partition delivers again. Recomputing it per event
   * walked every partition's front for each event.
   */
  private wm = -Infinity;
  private wmAt = NaN;
  private wmStale = true;
  /** The front the watermark was taken from (null: every partition idle, the newest front). */
  private wmFront: Front | null = null;

  /** Recomputes the watermark from every front and remembers it (see `wm`). */
  private watermarkAt(now: number): number {
    this.wmFront = this.slowestFront(now);
    this.wmAt = now;
    this.wmStale = false;
    this.wm = this.watermarkFrom(this.wmFront);
    return this.wm;
  }

  /**
   * The watermark given the slowest active front (null: every partition is idle, and the newest
   * front is the best estimate of event time).
   */
  private watermarkFrom(slowest: Front | null): number {
    return (slowest === null ? this.newestFront() : slowest.ts) - this.latenessMs;
  }

  /** The slowest front of a partition active at `now` (null when every partition is idle). */
  private slowestFront(now: number): Front | null {
    let slowest: Front | null = null;
    // (an assigned partition that delivered nothing has ts −Infinity: it holds everything back)
    const cutoff = this.now ? now - this.cfg.partitionIdleMs : -Infinity;
    for (const f of this.front.values()) if (f.at >= cutoff && (slowest === null || f.ts < slowest.ts)) slowest = f;
    return slowest;
  }

  private newestFront(): number {
    let newest = -Infinity;
    for (const f of this.front.values()) if (f.ts > newest) newest = f.ts;
    return newest;
  }

  /** The watermark `add` used for the last event (it must always equal a fresh `watermark`). */
  get lastWatermark(): number {
    return this.wm;
  }

  get openWindows(): number {
    return this.windows.size;
  }

  /**
   * Adds one event; returns what it caused (aggregates of windows it closed, late item, progress).
   * With `progress` false the safe offsets are not recomputed (batch callers call `progressNow`
   * once per batch instead of once per event). `at` is the processing time (from `now`); batch
   * callers read the clock once per batch.
   */
  add(env: Envelope<T>, progress = true, out: WindowOutput<T>[] = [], at = this.clock()): WindowOutput<T>[] {
    const v = env.value;
    const ts = v.ts;
    this.counters.events++;
    const p = this.cursorOf(env);
    const pk = p.key;
    const off = Number(env.offset);
    const f = p.front;
    if (f === null) {
      p.front = { ts, at };
      this.front.set(pk, p.front);
      this.wmStale = true;
    } else {
      if (ts > f.ts) {
        f.ts = ts;
        if (f === this.wmFront || this.wmFront === null) this.wmStale = true;
      }
      // an idle partition delivering again holds the watermark again
      if (f.at < at - this.cfg.partitionIdleMs) this.wmStale = true;
      f.at = at;
    }
    if (off > p.seen.max) p.seen.max = off;
    const start = Math.floor(ts / this.windowMs) * this.windowMs;
    const end = start + this.windowMs;
    const wm = this.wmStale || at !== this.wmAt ? this.watermarkAt(at) : this.wm;
    // every window ending at or before the watermark is closed, whether or not it had events
    const boundary = Math.floor(wm / this.windowMs) * this.windowMs;
    if (boundary > this.closedThrough) this.closedThrough = boundary;
    if (end <= this.closedThrough) {
      if (this.isReplay(pk, off)) this.counters.replaySkipped++;
      else {
        this.counters.late++;
        out.push({ kind: 'late', envelope: env, watermark: wm });
      }
    } else {
      let w = this.lastWindow !== null && this.lastWindow.start === start ? this.lastWindow : this.windows.get(start);
      if (!w) {
        w = { start, end, series: new Map(), index: new SeriesIndex(), tx: new Map(), firstOffsets: new Map() };
        this.windows.set(start, w);
        if (start < this.oldestStart) this.oldestStart = start;
      }
      this.lastWindow = w;
      if (p.heldIn !== w) {
        if (!w.firstOffsets.has(pk)) w.firstOffsets.set(pk, off);
        p.heldIn = w;
      }
      this.accumulate(w, v, ts < wm);
    }
    // (nothing since the watermark was computed moved a partition's front)
    this.closeUpTo(wm, out);
    while (this.windows.size > this.cfg.maxOpenWindows) this.closeOldest(out);
    if (progress) this.progress(out);
    return out;
  }

  /**
   * The source partitions this consumer now owns. A partition that has not delivered yet holds
   * the watermark back (its events may be older than what the others delivered) until it has
   * been silent for `partitionIdleMs`; partitions no longer owned stop holding it.
   */
  assign(parts: readonly { topic: string; partition: number }[]): void {
    const at = this.clock();
    const keep = new Set(parts.map(posKey));
    for (const k of [...this.front.keys()]) if (!keep.has(k)) this.front.delete(k);
    for (const k of keep) if (!this.front.has(k)) this.front.set(k, { ts: -Infinity, at });
    this.cursors.clear();
    this.lastCursor = null;
    this.wmStale = true;
  }

  /** Continues after a restart from the state committed with the offsets. */
  resume(state: ResumeState): void {
    if (state.closedThrough > this.closedThrough) this.closedThrough = state.closedThrough;
    for (const [pk, off] of Object.entries(state.seenThrough)) this.replayThrough.set(pk, off);
  }

  /** True when this position was already handled before a restart (its outputs were sent). */
  isReplay(pos: { topic: string; partition: number; offset: string } | string, offset?: number): boolean {
    const pk = typeof pos === 'string' ? pos : posKey(pos);
    const off = typeof pos === 'string' ? offset! : Number(pos.offset);
    const through = this.replayThrough.get(pk);
    return through !== undefined && off <= through;
  }

  /** Records that a source position was handled elsewhere (e.g. dead-lettered) before now. */
  markDone(pos: SourcePosition, progress = true): WindowOutput<T>[] {
    this.seen(posKey(pos), Number(pos.offset));
    const out: WindowOutput<T>[] = [];
    if (progress) this.progress(out);
    return out;
  }

  /**
   * The safe offsets, if they changed since they were last reported; with `withResume`, always,
   * together with the ResumeState to commit beside them.
   */
  progressNow(withResume = false): WindowOutput<T>[] {
    const out: WindowOutput<T>[] = [];
    this.progress(out, withResume);
    return out;
  }

  /** Advances event time by `ms` without an event (idle source), closing what that closes. */
  advance(ms: number): WindowOutput<T>[] {
    const out: WindowOutput<T>[] = [];
    if (this.front.size === 0 || this.windows.size === 0) return out;
    // the whole source is quiet: every partition's event time moves to the newest one, plus ms
    const newest = Math.max(...[...this.front.values()].map((f) => f.ts));
    if (!Number.isFinite(newest)) return out;
    for (const f of this.front.values()) f.ts = newest + ms;
    this.wmStale = true;
    this.closeUpTo(this.watermark, out);
    this.progress(out);
    return out;
  }

  /** Emits every open window (source completed or draining) and the final progress. */
  flush(): WindowOutput<T>[] {
    const out: WindowOutput<T>[] = [];
    while (this.windows.size > 0) this.closeOldest(out);
    this.progress(out);
    return out;
  }

  private readonly cursors = new Map<string, PartitionCursor>();
  /** The window the last event went to (consecutive events nearly always share one). */
  private lastWindow: WindowState | null = null;
  private lastCursor: PartitionCursor | null = null;
  /** Start of the oldest open window (Infinity when none): closeUpTo's quick test. */
  private oldestStart = Infinity;

  /** The cursor of a position's partition, remembered for the last one: a fetched batch is one partition. */
  private cursorOf(pos: { topic: string; partition: number }): PartitionCursor {
    const last = this.lastCursor;
    if (last !== null && last.partition === pos.partition && last.topic === pos.topic) return last;
    const key = posKey(pos);
    let c = this.cursors.get(key);
    if (!c) {
      c = { topic: pos.topic, partition: pos.partition, key, front: this.front.get(key) ?? null, seen: this.seenCell(key), heldIn: null };
      this.cursors.set(key, c);
    }
    this.lastCursor = c;
    return c;
  }

  private seenCell(pk: string): { max: number } {
    let cell = this.maxSeen.get(pk);
    if (!cell) {
      cell = { max: -Infinity };
      this.maxSeen.set(pk, cell);
    }
    return cell;
  }

  private seen(pk: string, off: number): void {
    const cell = this.seenCell(pk);
    if (off > cell.max) cell.max = off;
  }

  private progress(out: WindowOutput<T>[], withResume = false): void {
    let changed: Record<string, string> | null = null;
    for (const [pk, { max }] of this.maxSeen) {
      let safe = max;
      for (const w of this.windows.values()) {
        const f = w.firstOffsets.get(pk);
        if (f !== undefined && f - 1 < safe) safe = f - 1;
      }
      if (safe < 0) continue;
      if (this.lastSafe.get(pk) !== safe) {
        this.lastSafe.set(pk, safe);
        changed ??= {};
        changed[pk] = String(safe);
      }
    }
    if (changed || (withResume && this.lastSafe.size > 0)) {
      // report every partition's safe offset, so each progress item is complete on its own
      const all: Record<string, string> = {};
      for (const [pk, s] of this.lastSafe) all[pk] = String(s);
      if (!withResume) {
        out.push({ kind: 'progress', safeOffsets: all });
        return;
      }
      const seenThrough: Record<string, number> = {};
      for (const [pk, { max }] of this.maxSeen) if (max >= 0) seenThrough[pk] = max;
      out.push({ kind: 'progress', safeOffsets: all, resume: { closedThrough: this.closedThrough, seenThrough } });
    }
  }

  private closeUpTo(wm: number, out: WindowOutput<T>[]): void {
    // per event, nearly always: the oldest open window is not due yet
    if (this.windows.size === 0 || this.oldestStart + this.windowMs > wm) return;
    const due = [...this.windows.keys()].filter((s) => s + this.windowMs <= wm).sort((a, b) => a - b);
    for (const s of due) this.close(this.windows.get(s)!, out);
  }

  private closeOldest(out: WindowOutput<T>[]): void {
    const oldest = this.windows.get(this.oldestStart);
    if (oldest) this.close(oldest, out);
  }

  private close(w: WindowState, out: WindowOutput<T>[]): void {
    this.windows.delete(w.start);
    if (w === this.lastWindow) this.lastWindow = null;
    if (w.start === this.oldestStart) {
      this.oldestStart = Infinity;
      for (const k of this.windows.keys()) if (k < this.oldestStart) this.oldestStart = k;
    }
    if (w.end > this.closedThrough) this.closedThrough = w.end;
    this.counters.windowsClosed++;
    const ids = [...w.series.keys()].sort();
    for (const id of ids) {
      const s = w.series.get(id)!;
      const q = (p: number) => {
        const x = s.latency.quantile(p);
        return x === null ? null : round3(x);
      };
      out.push({
        kind: 'aggregate',
        value: {
          seriesId: s.seriesId,
          windowStart: w.start,
          windowEnd: w.end,
          source: s.source,
          table: s.table,
          keyBucket: s.keyBucket,
          partition: s.partition,
          node: s.node,
          queries: s.queries,
          reads: s.reads,
          writes: s.writes,
          rowsRead: s.rowsRead,
          rowsWritten: s.rowsWritten,
          errors: s.errors,
          unparsed: s.unparsed,
          lateMerged: s.lateMerged,
          latencySumMs: round3(s.latencySumMs),
          latencyP50Ms: q(0.5),
          latencyP95Ms: q(0.95),
          latencyP99Ms: q(0.99),
          hotKeys: s.hot.top(Math.min(10, this.cfg.hotKeysPerSeries)).map((h) => ({ key: h.key, count: h.count, error: h.error })),
          coAccess: s.co.top(Math.min(10, this.cfg.coAccessPerSeries)).map((h) => ({ other: h.key, count: h.count })),
        },
      });
      this.counters.aggregates++;
    }
  }

  private seriesFor(
    w: WindowState,
    id: string,
    make: () => Omit<
      SeriesState,
      | 'queries'
      | 'reads'
      | 'writes'
      | 'rowsRead'
      | 'rowsWritten'
      | 'errors'
      | 'unparsed'
      | 'lateMerged'
      | 'latencySumMs'
      | 'latency'
      | 'hot'
      | 'co'
    >,
    overflowId: string,
    overflow: () => Omit<
      SeriesState,
      | 'queries'
      | 'reads'
      | 'writes'
      | 'rowsRead'
      | 'rowsWritten'
      | 'errors'
      | 'unparsed'
      | 'lateMerged'
      | 'latencySumMs'
      | 'latency'
      | 'hot'
      | 'co'
    >,
  ): SeriesState {
    let s = w.series.get(id);
    if (s) return s;
    let base = make();
    if (w.series.size >= this.cfg.maxSeriesPerWindow) {
      this.counters.overflowed++;
      s = w.series.get(overflowId);
      if (s) return s;
      base = overflow();
      id = overflowId;
    }
    s = {
      ...base,
      seriesId: id,
      queries: 0,
      reads: 0,
      writes: 0,
      rowsRead: 0,
      rowsWritten: 0,
      errors: 0,
      unparsed: 0,
      lateMerged: 0,
      latencySumMs: 0,
      latency: new LatencySketch(this.cfg.relativeAccuracy, this.cfg.sketchBinLimit),
      hot: new SpaceSaving(this.cfg.hotKeysPerSeries),
      co: new SpaceSaving(this.cfg.coAccessPerSeries),
    };
    w.series.set(id, s);
    return s;
  }

  private bump(s: SeriesState, v: T, late: boolean): void {
    s.queries++;
    const rw = v.readWrite;
    if (rw === 'read' || rw === 'mixed') s.reads++;
    if (rw === 'write' || rw === 'mixed') s.writes++;
    s.rowsRead += v.rowsRead || 0;
    s.rowsWritten += v.rowsWritten || 0;
    if (v.status !== 'ok') s.errors++;
    if (v.parseError !== null) s.unparsed++;
    if (late) s.lateMerged++;
    const d = v.durationMs;
    if (d >= 0 && Number.isFinite(d)) {
      s.latencySumMs += d;
      s.latency.add(d);
    }
  }

  /** The series of one table × key bucket (× partition × node when known) in window w. */
  private bucketSeries(
    w: WindowState,
    at: NodeSeries,
    v: T,
    table: string,
    bucket: string,
    partition: string | null,
    node: string | null,
  ): SeriesState {
    // the index key mirrors the id below: partition null and '' are one series once a node is known
    const d = partition === null && node === null ? NONE : (partition ?? '');
    const known = w.index.bucket(at, table, bucket, d);
    if (known) return known;
    let id = `${v.source}|${table}|${bucket}`;
    if (partition !== null || node !== null) id += `|${partition ?? ''}`;
    if (node !== null) id += `|${node}`;
    const s =
      w.series.get(id) ??
      this.seriesFor(
        w,
        id,
        () => ({ seriesId: id, source: v.source, table, keyBucket: bucket, partition, node }),
        OTHER,
        () => ({ seriesId: OTHER, source: OTHER, table: OTHER, keyBucket: null, partition: null, node: null }),
      );
    w.index.setBucket(at, table, bucket, d, s);
    return s;
  }

  /** The source's total series (× node when known), counting every query once. */
  private totalSeries(w: WindowState, at: NodeSeries, v: T, node: string | null): SeriesState {
    if (at.total) return at.total;
    const totalId = `${v.source}|*|*${node !== null ? `||${node}` : ''}`;
    const s =
      w.series.get(totalId) ??
      this.seriesFor(
        w,
        totalId,
        () => ({ seriesId: totalId, source: v.source, table: null, keyBucket: null, partition: null, node }),
        `${OTHER}|*|*`,
        () => ({ seriesId: `${OTHER}|*|*`, source: OTHER, table: null, keyBucket: null, partition: null, node: null }),
      );
    at.total = s;
    return s;
  }

  private accumulate(w: WindowState, v: T, late: boolean): void {
    if (late) this.counters.lateMerged++;
    const node = v.node ?? null;
    const partition = v.partition ?? null;
    const at = w.index.at(v.source, node ?? NONE);
    this.bump(this.totalSeries(w, at, v, node), v, late);

    // The common case, one table and at most one key range outside a transaction: one series,
    // no co-access; the same result as the general path below without its per-event arrays.
    if (!v.txId && v.tables.length === 1 && v.keyRanges.length <= 1) {
      const table = v.tables[0]!;
      const kr = v.keyRanges[0];
      const s = this.bucketSeries(w, at, v, table, kr !== undefined && kr.table === table ? kr.bucket : '*', partition, node);
      this.bump(s, v, late);
      const keys = v.pointKeys?.[table];
      if (keys) for (const k of keys) s.hot.add(k);
      return;
    }

    // per table × bucket
    const targets = new Map<string, SeriesState>();
    for (const table of v.tables) {
      const buckets: string[] = [];
      for (const kr of v.keyRanges) if (kr.table === table && !buckets.includes(kr.bucket)) buckets.push(kr.bucket);
      if (buckets.length === 0) buckets.push('*');
      const series: SeriesState[] = [];
      for (const bucket of buckets) {
        const s = this.bucketSeries(w, at, v, table, bucket, partition, node);
        if (!series.includes(s)) {
          this.bump(s, v, late);
          series.push(s);
        }
        if (targets.size < 16) targets.set(`${table}|${bucket}`, s);
      }
      // hot keys: each point key into the bucket series whose range holds it
      const keys = v.pointKeys?.[table];
      if (keys) {
        for (const k of keys) {
          const x = Number(k);
          let idx = 0;
          if (series.length > 1 && Number.isFinite(x)) {
            for (const r of v.keyRanges) {
              if (r.table === table && (r.lo === null || r.lo <= x) && (r.hi === null || x <= r.hi)) {
                idx = Math.max(0, buckets.indexOf(r.bucket));
                break;
              }
            }
          }
          series[Math.min(idx, series.length - 1)]!.hot.add(k);
        }
      }
    }

    // co-access: within the query, and with what the same transaction touched in this window
    // (a query touching one target with no transaction has nothing to co-access: the usual case)
    if (targets.size < 2 && !v.txId) return;
    const ts = [...targets.keys()];
    if (v.txId) {
      let tx = w.tx.get(v.txId);
      if (!tx) {
        if (w.tx.size >= this.cfg.maxTxPerWindow) {
          const first = w.tx.keys().next();
          if (!first.done) w.tx.delete(first.value);
        }
        tx = new Map();
        w.tx.set(v.txId, tx);
      }
      const fresh = ts.filter((t) => !tx.has(t));
      for (let i = 0; i < fresh.length; i++) {
        const a = fresh[i]!;
        const sa = targets.get(a)!;
        for (const [b, sb] of tx) {
          sa.co.add(b);
          sb.co.add(a);
        }
        for (let j = i + 1; j < fresh.length; j++) {
          const b = fresh[j]!;
          sa.co.add(b);
          targets.get(b)!.co.add(a);
        }
      }
      for (const a of fresh) if (tx.size < 32) tx.set(a, targets.get(a)!);
    } else {
      for (let i = 0; i < ts.length; i++) {
        for (let j = i + 1; j < ts.length; j++) {
          targets.get(ts[i]!)!.co.add(ts[j]!);
          targets.get(ts[j]!)!.co.add(ts[i]!);
        }
      }
    }
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * The window as an RxJS operator. Emits aggregates as windows close, `late` items for events
 * whose window already closed, `progress` when a partition's safe offset moves, and flushes
 * every open window when the source completes.
 */
export function windowAggregate<T extends WindowInput>(cfg: WindowConfig = {}): OperatorFunction<Envelope<T>, WindowOutput<T>> {
  return (source) =>
    new Observable<WindowOutput<T>>((subscriber) => {
      const agg = new WindowAggregator<T>(cfg);
      const emit = (xs: WindowOutput<T>[]) => {
        for (const x of xs) subscriber.next(x);
      };
      let idle: Subscription | undefined;
      let arrived = 0;
      if (cfg.idleFlushMs && cfg.scheduler) {
        const every = cfg.idleFlushMs;
        let seenAtLastTick = 0;
        idle = cfg.scheduler.schedule(function tick() {
          if (arrived === seenAtLastTick) emit(agg.advance(every));
          seenAtLastTick = arrived;
          this.schedule(undefined, every);
        }, every);
      }
      const sub = source.subscribe({
        next: (env) => {
          arrived++;
          emit(agg.add(env));
        },
        error: (err) => subscriber.error(err),
        complete: () => {
          idle?.unsubscribe();
          emit(agg.flush());
          subscriber.complete();
        },
      });
      return () => {
        idle?.unsubscribe();
        sub.unsubscribe();
      };
    });
}
