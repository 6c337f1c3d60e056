/**
 * The latency quantile sketch of one series in one window: a DDSketch (relative-error quantiles
 * in bounded memory, @datadog/sketches-js) fed in small batches, each batch's smallest value
 * first.
 *
 * Why the batches: the library's dense store re-centres its bins, slicing and re-allocating the
 * bin array, whenever a key below its current minimum arrives, even when the bins have room for
 * it. Fed one event at a time in arrival order, a sketch does that about 2·ln n times over n
 * values, and most series of a 10 s window see only tens of events, so nearly every accept paid
 * for a re-centring, a visible share of the ingest hot loop (docs/decisions/0020-ingest-measurements.md).
 * A batch whose minimum goes in first, then its maximum, moves
 * the minimum at most once and sizes the bins once. The quantiles do not change: the store's
 * count per key does not depend on the order values arrive in.
 */
import { LogCollapsingLowestDenseDDSketch } from '@datadog/sketches-js';

/** Values held before they go into the sketch. */
const BATCH = 64;

export class LatencySketch {
  private readonly pending = new Float64Array(BATCH);
  private held = 0;
  private readonly sketch: LogCollapsingLowestDenseDDSketch;

  constructor(relativeAccuracy: number, binLimit: number) {
    this.sketch = new LogCollapsingLowestDenseDDSketch({ relativeAccuracy, binLimit });
  }

  /** Values added so far. */
  get count(): number {
    return this.sketch.count + this.held;
  }

  /** Adds one value (callers pass finite values ≥ 0). */
  add(value: number): void {
    this.pending[this.held++] = value;
    if (this.held === BATCH) this.drain();
  }

  /** The value at quantile q (0..1), or null when nothing was added. */
  quantile(q: number): number | null {
    this.drain();
    return this.sketch.count > 0 ? this.sketch.getValueAtQuantile(q) : null;
  }

  private drain(): void {
    const n = this.held;
    if (n === 0) return;
    const xs = this.pending;
    let min = 0;
    let max = 0;
    for (let i = 1; i < n; i++) {
      if (xs[i]! < xs[min]!) min = i;
      if (xs[i]! > xs[max]!) max = i;
    }
    // minimum first, then maximum: the store sizes its bins for the batch's whole range at once
    this.sketch.accept(xs[min]!);
    if (max !== min) this.sketch.accept(xs[max]!);
    for (let i = 0; i < n; i++) if (i !== min && i !== max) this.sketch.accept(xs[i]!);
    this.held = 0;
  }
}
