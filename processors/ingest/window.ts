/**
 * Event-time tumbling windows: featurized queries → one WorkloadAggregate per series per window.
 * This is the workload signal the forecaster learns from, so it must be exact in counts, keyed
 * by event time (not arrival time), bounded in memory, and never lose an event.
 *
 * A window [start, end) is closed and emitted once the watermark (watermark.ts) reaches `end`.
 * An event behind the watermark whose window is still open is merged and counted in
 * `lateMerged`; an event whose window is already closed comes out as a `late` item (for the
 * pipeline to report / dead-letter). `flush` emits every open window when a finite source ends.
 * No wall clock is read: `advance` moves event time on for a source that went quiet, so the last
 * windows close.
 * What a window counts is in openWindow.ts; at most `maxOpenWindows` are open at once.
 *
 * Progress: `progress` items carry, per source partition, the offset up to which every event
 * is reflected in an emitted item (safeOffsets.ts), with the state a restart resumes from.
 */
import type { Envelope, SourcePosition } from '../../schemas/envelope.js';
import type { WorkloadAggregate } from '../../schemas/types.js';
import { OpenWindow, type WindowInput, type WindowLimits } from './openWindow.js';
import { type Progress, type ResumeState, SafeOffsets } from './safeOffsets.js';
import { type Front, PartitionWatermarks } from './watermark.js';
import { DEFAULT_PROFILE_LIMITS } from './templateProfile.js';

export type WindowOutput<T extends WindowInput = WindowInput> =
  | { kind: 'aggregate'; value: WorkloadAggregate }
  | { kind: 'late'; envelope: Envelope<T>; watermark: number; closedThrough: number }
  | ({ kind: 'progress' } & Progress);

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
  /** Processing time after which a silent partition no longer holds the watermark (default 15,000; needs `now`). */
  partitionIdleMs?: number;
  /** Processing-time clock for partition idleness (the ingest operator passes its scheduler's). */
  now?: () => number;
  /**
   * Event time comes from marks (`mark`) of the origins named by `assignOrigins`, not from the
   * events' own partitions: the scaled-out path, whose input partitions mix source partitions.
   */
  eventTimeFromMarks?: boolean;
}

const posKey = (p: { topic: string; partition: number }) => `${p.topic}:${p.partition}`;

/**
 * What `add` touches for an event's partition, found once when the partition changes (a fetched
 * batch is one partition) instead of by three map lookups per event.
 */
interface PartitionCursor {
  topic: string;
  partition: number;
  key: string;
  /** Its watermark front (null when it has none); the cursors are dropped whenever fronts are reassigned. */
  front: Front | null;
  /** Its highest offset seen (SafeOffsets.seenCell). */
  seen: { max: number };
  /** The newest window known to hold a first offset of this partition. */
  heldIn: OpenWindow | null;
}

/** Pure, synchronous window aggregation (the ingest processor's core calls it per event). */
export class WindowAggregator<T extends WindowInput = WindowInput> {
  readonly windowMs: number;
  readonly latenessMs: number;
  private readonly limits: WindowLimits;
  private readonly maxOpenWindows: number;
  private readonly marksOnly: boolean;
  private readonly watermarks: PartitionWatermarks;
  private readonly offsets = new SafeOffsets();
  private readonly windows = new Map<number, OpenWindow>();
  /** End of the latest window closed: anything for a window ending at or before it is late. */
  private closedThrough = -Infinity;
  private readonly cursors = new Map<string, PartitionCursor>();
  private lastCursor: PartitionCursor | null = null;
  /** The window the last event went to (consecutive events nearly always share one). */
  private lastWindow: OpenWindow | null = null;
  /** Start of the oldest open window (Infinity when none): closeUpTo's quick test. */
  private oldestStart = Infinity;
  readonly counters = { events: 0, lateMerged: 0, late: 0, windowsClosed: 0, aggregates: 0, overflowed: 0, replaySkipped: 0 };

  constructor(cfg: WindowConfig = {}) {
    this.windowMs = cfg.windowMs ?? 10_000;
    this.latenessMs = cfg.allowedLatenessMs ?? 5_000;
    this.limits = {
      maxSeriesPerWindow: cfg.maxSeriesPerWindow ?? 10_000,
      maxTxPerWindow: cfg.maxTxPerWindow ?? 10_000,
      hotKeysPerSeries: cfg.hotKeysPerSeries ?? 32,
      coAccessPerSeries: cfg.coAccessPerSeries ?? 16,
      relativeAccuracy: cfg.relativeAccuracy ?? 0.01,
      sketchBinLimit: cfg.sketchBinLimit ?? 1024,
      profile: { ...DEFAULT_PROFILE_LIMITS, relativeAccuracy: cfg.relativeAccuracy ?? 0.01 },
    };
    this.maxOpenWindows = cfg.maxOpenWindows ?? 64;
    this.marksOnly = cfg.eventTimeFromMarks ?? false;
    this.watermarks = new PartitionWatermarks(this.latenessMs, cfg.partitionIdleMs ?? 15_000, cfg.now ?? null);
  }

  /** Processing time as the aggregator reads it (0 without a `now`). */
  clock(): number {
    return this.watermarks.clock();
  }

  /** Current watermark (−Infinity before the first event). */
  get watermark(): number {
    return this.watermarks.current;
  }

  /** The watermark `add` used for the last event (it must always equal a fresh `watermark`). */
  get lastWatermark(): number {
    return this.watermarks.last;
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
    const off = Number(env.offset);
    if (!this.marksOnly) p.front = this.watermarks.observe(p.key, p.front, ts, at);
    if (off > p.seen.max) p.seen.max = off;
    const start = Math.floor(ts / this.windowMs) * this.windowMs;
    const wm = this.watermarks.at(at);
    // every window ending at or before the watermark is closed, whether or not it had events
    const boundary = Math.floor(wm / this.windowMs) * this.windowMs;
    if (boundary > this.closedThrough) this.closedThrough = boundary;
    if (start + this.windowMs <= this.closedThrough) {
      if (this.offsets.isReplay(p.key, off)) this.counters.replaySkipped++;
      else {
        this.counters.late++;
        out.push({ kind: 'late', envelope: env, watermark: wm, closedThrough: this.closedThrough });
      }
    } else {
      const w = this.windowAt(start);
      if (p.heldIn !== w) {
        if (!w.firstOffsets.has(p.key)) w.firstOffsets.set(p.key, off);
        p.heldIn = w;
      }
      const late = ts < wm;
      if (late) this.counters.lateMerged++;
      w.add(v, late);
    }
    // (nothing since the watermark was computed moved a partition's front)
    this.closeUpTo(wm, out);
    while (this.windows.size > this.maxOpenWindows) this.closeOldest(out);
    if (progress) this.progress(out);
    return out;
  }

  /** The source partitions this consumer now owns (see PartitionWatermarks.assign). */
  assign(parts: readonly { topic: string; partition: number }[]): void {
    this.watermarks.assign(new Set(parts.map(posKey)), this.clock());
    this.cursors.clear();
    this.lastCursor = null;
  }

  /** The origins whose marks give event time (eventTimeFromMarks): each holds the watermark like a source partition. */
  assignOrigins(origins: readonly string[]): void {
    this.watermarks.assign(new Set(origins), this.clock());
  }

  /**
   * A mark at position `pos`: origin `origin` delivered events up to event time `ts`. Moves
   * that origin's front, counts the position as handled, closes what the watermark now closes.
   */
  mark(pos: SourcePosition, origin: string, ts: number, progress = true, at = this.clock()): WindowOutput<T>[] {
    const out: WindowOutput<T>[] = [];
    this.watermarks.observe(origin, this.watermarks.frontOf(origin), ts, at);
    this.offsets.seen(posKey(pos), Number(pos.offset));
    const wm = this.watermarks.at(at);
    const boundary = Math.floor(wm / this.windowMs) * this.windowMs;
    if (boundary > this.closedThrough) this.closedThrough = boundary;
    this.closeUpTo(wm, out);
    if (progress) this.progress(out);
    return out;
  }

  /** Continues after a restart from the state committed with the offsets. */
  resume(state: ResumeState): void {
    if (state.closedThrough > this.closedThrough) this.closedThrough = state.closedThrough;
    this.offsets.resume(state.seenThrough);
  }

  /** True when this position was already handled before a restart (its outputs were sent). */
  isReplay(pos: { topic: string; partition: number; offset: string }): boolean {
    return this.offsets.isReplay(posKey(pos), Number(pos.offset));
  }

  /**
   * True when this process already handled this position: the consumer fetched it again (after
   * a broker restart or a rejoin it restarts from the committed offset, behind what open windows
   * hold), so adding it would count it twice.
   */
  isRedelivery(pos: { topic: string; partition: number; offset: string }): boolean {
    return Number(pos.offset) <= this.offsets.seenCell(posKey(pos)).max;
  }

  /** Records that a source position was handled elsewhere (e.g. dead-lettered) before now. */
  markDone(pos: SourcePosition, progress = true): WindowOutput<T>[] {
    this.offsets.seen(posKey(pos), Number(pos.offset));
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
    if (this.watermarks.size === 0 || this.windows.size === 0) return out;
    if (!this.watermarks.advanceAll(ms)) return out;
    this.closeUpTo(this.watermarks.current, out);
    // with the resume state once windows closed: this progress is what gets committed with them,
    // and a commit without it would clear the closed-through time in the offsets' metadata
    this.progress(out, out.length > 0);
    return out;
  }

  /** Emits every open window (source completed or draining) and the final progress. */
  flush(): WindowOutput<T>[] {
    const out: WindowOutput<T>[] = [];
    while (this.windows.size > 0) this.closeOldest(out);
    this.progress(out, true);
    return out;
  }

  /** The cursor of a position's partition, remembered for the last one: a fetched batch is one partition. */
  private cursorOf(pos: { topic: string; partition: number }): PartitionCursor {
    const last = this.lastCursor;
    if (last !== null && last.partition === pos.partition && last.topic === pos.topic) return last;
    const key = posKey(pos);
    let c = this.cursors.get(key);
    if (!c) {
      c = {
        topic: pos.topic,
        partition: pos.partition,
        key,
        front: this.watermarks.frontOf(key),
        seen: this.offsets.seenCell(key),
        heldIn: null,
      };
      this.cursors.set(key, c);
    }
    this.lastCursor = c;
    return c;
  }

  /** The open window starting at `start`, opened if need be. */
  private windowAt(start: number): OpenWindow {
    if (this.lastWindow !== null && this.lastWindow.start === start) return this.lastWindow;
    let w = this.windows.get(start);
    if (!w) {
      w = new OpenWindow(start, this.windowMs, this.limits, this.counters);
      this.windows.set(start, w);
      if (start < this.oldestStart) this.oldestStart = start;
    }
    this.lastWindow = w;
    return w;
  }

  private progress(out: WindowOutput<T>[], withResume = false): void {
    const p = this.offsets.progress(this.windows, withResume, this.closedThrough);
    if (p) out.push({ kind: 'progress', ...p });
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

  private close(w: OpenWindow, out: WindowOutput<T>[]): void {
    this.windows.delete(w.start);
    if (w === this.lastWindow) this.lastWindow = null;
    if (w.start === this.oldestStart) {
      this.oldestStart = Infinity;
      for (const k of this.windows.keys()) if (k < this.oldestStart) this.oldestStart = k;
    }
    if (w.end > this.closedThrough) this.closedThrough = w.end;
    this.counters.windowsClosed++;
    for (const value of w.aggregates()) {
      out.push({ kind: 'aggregate', value });
      this.counters.aggregates++;
    }
  }
}
