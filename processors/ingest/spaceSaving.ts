/**
 * Space-Saving heavy hitters (Metwally, Agrawal, El Abbadi, 2005): the top keys of a stream in
 * a fixed number of counters, however many distinct keys arrive.
 *
 * Our own (docs/decisions/0020-ingest-measurements.md says why not a library's): Space-Saving
 * keeps exactly `capacity` counters, light enough for one sketch per series per window, and each
 * reported count carries its maximum overestimation (`error`), which is what
 * WorkloadAggregate.hotKeys reports. Guarantee: any key with true frequency > N/capacity is
 * present, and count − error ≤ true count ≤ count.
 */
import { UsageError } from '../../lib/errors.js';

export interface HeavyHitter {
  key: string;
  count: number;
  error: number;
}

export class SpaceSaving {
  // parallel arrays + index map: the eviction scan runs over a typed array, not a Map iterator
  private readonly index = new Map<string, number>();
  private readonly keys: string[] = [];
  private readonly counts: Float64Array;
  private readonly errors: Float64Array;
  private total = 0;
  /**
   * A lower bound of every counter (counters only grow) and where the last minimum was found:
   * with a stream of distinct keys each eviction finds the next counter at this value a step or
   * two on, instead of scanning all `capacity` counters per new key.
   */
  private floor = 0;
  private cursor = 0;

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new UsageError('SpaceSaving capacity must be >= 1');
    this.counts = new Float64Array(capacity);
    this.errors = new Float64Array(capacity);
  }

  /** Stream length seen (sum of weights). */
  get n(): number {
    return this.total;
  }

  get size(): number {
    return this.keys.length;
  }

  add(key: string, weight = 1): void {
    this.total += weight;
    const i = this.index.get(key);
    if (i !== undefined) {
      this.counts[i]! += weight;
      return;
    }
    const n = this.keys.length;
    if (n < this.capacity) {
      this.index.set(key, n);
      this.keys.push(key);
      this.counts[n] = weight;
      this.errors[n] = 0;
      return;
    }
    // replace a minimum counter; the newcomer inherits its count as error
    const m = this.minimum();
    const c = this.counts;
    this.index.delete(this.keys[m]!);
    this.index.set(key, m);
    this.keys[m] = key;
    this.errors[m] = c[m]!;
    c[m] = c[m]! + weight;
  }

  /** Index of a counter holding the minimum count (counters at `floor` are minima). */
  private minimum(): number {
    const c = this.counts;
    const n = this.keys.length;
    for (let step = 0, j = this.cursor; step < n; step++, j = j + 1 === n ? 0 : j + 1) {
      if (c[j] === this.floor) {
        this.cursor = j;
        return j;
      }
    }
    // no counter is at the floor any more: find the true minimum and raise the floor to it
    let m = 0;
    for (let j = 1; j < n; j++) if (c[j]! < c[m]!) m = j;
    this.floor = c[m]!;
    this.cursor = m;
    return m;
  }

  /**
   * The `k` largest counters, largest first (ties by key, for deterministic output). Picked by
   * k passes over the counters rather than by sorting all of them: every series reports its top
   * 10 of 32 when its window closes, and the sort (with an object per counter) was a visible
   * part of closing windows.
   */
  top(k = this.capacity): HeavyHitter[] {
    const n = this.keys.length;
    const want = Math.min(k, n);
    const out: HeavyHitter[] = [];
    const taken = new Uint8Array(n);
    for (let r = 0; r < want; r++) {
      let best = -1;
      for (let j = 0; j < n; j++) if (taken[j] === 0 && (best === -1 || this.before(j, best))) best = j;
      taken[best] = 1;
      out.push({ key: this.keys[best]!, count: this.counts[best]!, error: this.errors[best]! });
    }
    return out;
  }

  /** Whether counter i ranks before counter j: larger count, then smaller key. */
  private before(i: number, j: number): boolean {
    const ci = this.counts[i]!;
    const cj = this.counts[j]!;
    return ci > cj || (ci === cj && this.keys[i]! < this.keys[j]!);
  }
}
