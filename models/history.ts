/**
 * Bounded per-series history: one Float32Array ring buffer per series, indexed by integer
 * step (windowStart / stepMs). Missing steps read as NaN. Memory is bounded by
 * maxSeries × maxLength × 4 bytes: beyond maxSeries the stalest series is evicted, and
 * `evictStale` drops series not observed for a while.
 */
export interface HistoryOptions {
  /** Steps kept per series (default 512). */
  maxLength?: number;
  /** Series kept at most (default 200,000). */
  maxSeries?: number;
}

export interface SeriesHistory {
  readonly id: string;
  /** Ring buffer, buf[step % maxLength]. */
  readonly buf: Float32Array;
  /** Newest step written (also the end of every read). */
  lastStep: number;
  /** First step ever written (steps before it are unknown, not just missing). */
  firstStep: number;
  /** Last step that received a finite value. */
  lastObservedStep: number;
  /** Finite observations received. */
  observed: number;
}

export class HistoryStore {
  readonly maxLength: number;
  readonly maxSeries: number;
  private readonly map = new Map<string, SeriesHistory>();
  /** Observations dropped because they were older than the buffer. */
  droppedLate = 0;
  /** Series evicted (stale or over capacity). */
  evicted = 0;

  constructor(opts: HistoryOptions = {}) {
    this.maxLength = opts.maxLength ?? 512;
    this.maxSeries = opts.maxSeries ?? 200_000;
  }

  get size(): number {
    return this.map.size;
  }

  get(id: string): SeriesHistory | undefined {
    return this.map.get(id);
  }

  ids(): IterableIterator<string> {
    return this.map.keys();
  }

  values(): IterableIterator<SeriesHistory> {
    return this.map.values();
  }

  /** Approximate bytes held by the buffers. */
  bytes(): number {
    return this.map.size * this.maxLength * 4;
  }

  /**
   * Records `value` at `step`. Steps between the previous newest and this one become NaN
   * gaps. A step inside the buffer overwrites (a re-emitted window replaces the earlier
   * value); a step older than the buffer is dropped and counted. Returns the series' history,
   * or undefined when dropped.
   */
  observe(id: string, step: number, value: number): SeriesHistory | undefined {
    let h = this.map.get(id);
    if (!h) {
      if (this.map.size >= this.maxSeries) this.evictStalest();
      h = {
        id,
        buf: new Float32Array(this.maxLength).fill(NaN),
        lastStep: step,
        firstStep: step,
        lastObservedStep: -Infinity,
        observed: 0,
      };
      this.map.set(id, h);
    }
    const L = this.maxLength;
    if (step > h.lastStep) {
      const gap = Math.min(step - h.lastStep - 1, L);
      for (let s = step - gap; s < step; s++) h.buf[((s % L) + L) % L] = NaN;
      h.lastStep = step;
    } else if (step <= h.lastStep - L) {
      this.droppedLate++;
      return undefined;
    }
    if (step < h.firstStep) h.firstStep = step;
    h.buf[((step % L) + L) % L] = Number.isFinite(value) ? value : NaN;
    if (Number.isFinite(value)) {
      h.observed++;
      if (step > h.lastObservedStep) h.lastObservedStep = step;
    }
    return h;
  }

  /** Advances a series to `step` without a value (its newest windows become gaps). */
  advance(h: SeriesHistory, step: number): void {
    if (step <= h.lastStep) return;
    const L = this.maxLength;
    const gap = Math.min(step - h.lastStep, L);
    for (let s = step - gap + 1; s <= step; s++) h.buf[((s % L) + L) % L] = NaN;
    h.lastStep = step;
  }

  /** Value at `step` (NaN when missing or outside the buffer). */
  at(h: SeriesHistory, step: number): number {
    if (step > h.lastStep || step <= h.lastStep - this.maxLength || step < h.firstStep) return NaN;
    const L = this.maxLength;
    return h.buf[((step % L) + L) % L]!;
  }

  /** Copies steps endStep-len+1..endStep into out[offset..offset+len) (NaN where unknown). */
  read(h: SeriesHistory, endStep: number, len: number, out: Float32Array | Float64Array, offset = 0): void {
    for (let i = 0; i < len; i++) out[offset + i] = this.at(h, endStep - len + 1 + i);
  }

  /** Number of known steps (observed or gap) ending at lastStep, bounded by the buffer. */
  span(h: SeriesHistory): number {
    return Math.min(h.lastStep - h.firstStep + 1, this.maxLength);
  }

  delete(id: string): boolean {
    return this.map.delete(id);
  }

  /** Drops series whose last observation is older than `beforeStep`; returns their ids. */
  evictStale(beforeStep: number): string[] {
    const gone: string[] = [];
    for (const [id, h] of this.map) {
      if (h.lastObservedStep < beforeStep) {
        this.map.delete(id);
        gone.push(id);
      }
    }
    this.evicted += gone.length;
    return gone;
  }

  private evictStalest(): void {
    let worst: SeriesHistory | undefined;
    for (const h of this.map.values()) if (!worst || h.lastObservedStep < worst.lastObservedStep) worst = h;
    if (worst) {
      this.map.delete(worst.id);
      this.evicted++;
      this.onEvict?.(worst.id);
    }
  }

  /** Called when capacity eviction drops a series (the owner frees its per-series state). */
  onEvict?: (id: string) => void;
}
