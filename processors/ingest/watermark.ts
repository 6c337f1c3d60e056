/**
 * Event time per source partition, and the watermark the windows close by. Each partition has
 * its own front (the newest event time it delivered); the watermark is the slowest active
 * partition's front − allowed lateness, as in Flink, so a consumer that reads one partition
 * ahead of another does not make the other's events late. A partition that delivered nothing
 * for `partitionIdleMs` of processing time (from the injected `now`) stops holding the watermark
 * back until it delivers again. No wall clock is read.
 */

/** A source partition's event-time front: newest event time delivered, and when it last delivered. */
export interface Front {
  ts: number;
  at: number;
}

export class PartitionWatermarks {
  /** Per source partition ("topic:partition"). */
  private readonly fronts = new Map<string, Front>();
  /**
   * The watermark as `at` last returned it, and what it depends on: it changes only when the
   * processing time changes (once per batch), a partition's front appears or goes, the front
   * that holds it back moves, or an idle partition delivers again. Recomputing it per event
   * walked every partition's front for each event.
   */
  private wm = -Infinity;
  private wmAt = Number.NaN;
  private wmStale = true;
  /** The front the watermark was taken from (null: every partition idle, the newest front). */
  private wmFront: Front | null = null;

  constructor(
    private readonly latenessMs: number,
    private readonly partitionIdleMs: number,
    private readonly now: (() => number) | null,
  ) {}

  /** Processing time as the watermark reads it (0 without a `now`). */
  clock(): number {
    return this.now ? this.now() : 0;
  }

  /** How many partitions have a front. */
  get size(): number {
    return this.fronts.size;
  }

  /** A partition's front (null when it has none). */
  frontOf(key: string): Front | null {
    return this.fronts.get(key) ?? null;
  }

  /**
   * Records an event of partition `key` at event time `ts`, processing time `at`. `front` is
   * what this returned for the partition last time (null: it had none), so the hot path skips
   * the map lookup; the returned front is the partition's from now on.
   */
  observe(key: string, front: Front | null, ts: number, at: number): Front {
    if (front === null) {
      const f = { ts, at };
      this.fronts.set(key, f);
      this.wmStale = true;
      return f;
    }
    if (ts > front.ts) {
      front.ts = ts;
      if (front === this.wmFront || this.wmFront === null) this.wmStale = true;
    }
    // an idle partition delivering again holds the watermark again
    if (front.at < at - this.partitionIdleMs) this.wmStale = true;
    front.at = at;
    return front;
  }

  /** The watermark at processing time `now`, recomputed only when something it depends on changed. */
  at(now: number): number {
    if (!this.wmStale && now === this.wmAt) return this.wm;
    this.wmFront = this.slowestFront(now);
    this.wmAt = now;
    this.wmStale = false;
    this.wm = this.watermarkFrom(this.wmFront);
    return this.wm;
  }

  /** The watermark computed afresh (−Infinity before the first event). */
  get current(): number {
    return this.watermarkFrom(this.slowestFront(this.clock()));
  }

  /** The watermark `at` last returned (it must always equal `current`). */
  get last(): number {
    return this.wm;
  }

  /**
   * The partitions owned now. One that has not delivered yet holds the watermark back (its
   * events may be older than what the others delivered) until it has been silent for
   * `partitionIdleMs`; partitions no longer owned stop holding it.
   */
  assign(keys: ReadonlySet<string>, at: number): void {
    for (const k of [...this.fronts.keys()]) if (!keys.has(k)) this.fronts.delete(k);
    for (const k of keys) if (!this.fronts.has(k)) this.fronts.set(k, { ts: -Infinity, at });
    this.wmStale = true;
  }

  /**
   * The whole source is quiet: every partition's event time moves to the newest one plus `ms`.
   * False (and nothing moved) while no partition has delivered an event.
   */
  advanceAll(ms: number): boolean {
    const newest = this.newestFront();
    if (!Number.isFinite(newest)) return false;
    for (const f of this.fronts.values()) f.ts = newest + ms;
    this.wmStale = true;
    return true;
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
    const cutoff = this.now ? now - this.partitionIdleMs : -Infinity;
    for (const f of this.fronts.values()) if (f.at >= cutoff && (slowest === null || f.ts < slowest.ts)) slowest = f;
    return slowest;
  }

  private newestFront(): number {
    let newest = -Infinity;
    for (const f of this.fronts.values()) if (f.ts > newest) newest = f.ts;
    return newest;
  }
}
