/**
 * Key-range drift for the simulator's predictive policy. A hot range that moves along the key
 * space (time-ordered keys, a window of interest sliding over ids) shows in each key unit's
 * series as a rise and a fall that a univariate model can only extrapolate from the unit's own
 * past; across units it is one profile translating at a steady speed. So, per table:
 *
 * 1. velocity: the profile (mean of the last `m` steps per unit) now and `lag` steps ago; the
 *    speed v (units per step) whose translation of the old profile best matches the new one
 *    (least squares, grid search over |v| ≤ vMax, linear interpolation between units, edges
 *    held: keys do not wrap);
 * 2. forecast: the current profile translated by v·h;
 * 3. check: the same procedure replayed from `K` steps ago (velocity and profile from the data
 *    up to then) must beat the univariate forecasts from that origin on the K steps since, by
 *    `minGain` in squared error, or the table keeps the univariate forecasts. Intervals come
 *    from that replay's errors (relative to the prediction; widening with √h past K).
 *
 * A grid search is enough here: one parameter, a bounded range, and the error surface is cheap
 * to evaluate (units × grid points per table and step); no library needed for that.
 */

export interface DriftOptions {
  /** Steps averaged into a profile. */
  m: number;
  /** Steps between the two profiles compared. */
  lag: number;
  /** Largest speed tried, units per step. */
  vMax: number;
  /** Grid points on each side of 0. */
  grid: number;
  /** Steps replayed to check the model against the univariate forecasts. */
  check: number;
  /** Share of the univariate squared error the drift model must save. */
  minGain: number;
}

export const DEFAULT_DRIFT: DriftOptions = { m: 5, lag: 30, vMax: 0.5, grid: 100, check: 20, minGain: 0.3 };

export interface DriftForecast {
  /** Units per step (positive: toward higher keys). */
  velocity: number;
  predicted: number[][];
  lower: number[][];
  upper: number[][];
  /** Squared error of the replay, drift and univariate. */
  sse: number;
  baselineSse: number;
}

/** Mean of the `m` values before `end`, per unit. */
export function profileAt(hist: readonly ArrayLike<number>[], end: number, m: number): Float64Array {
  const out = new Float64Array(hist.length);
  hist.forEach((h, u) => {
    let s = 0;
    for (let t = end - m; t < end; t++) s += h[t]!;
    out[u] = s / m;
  });
  return out;
}

/** `p` translated by `shift` units (out[u] = p[u − shift]), linear between units, edges held. */
export function translate(p: ArrayLike<number>, shift: number): Float64Array {
  const n = p.length,
    out = new Float64Array(n);
  for (let u = 0; u < n; u++) {
    const x = Math.min(n - 1, Math.max(0, u - shift));
    const i = Math.floor(x),
      f = x - i;
    out[u] = i + 1 < n ? p[i]! * (1 - f) + p[i + 1]! * f : p[i]!;
  }
  return out;
}

function sse(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return s;
}

/** The speed that best carries the profile `lag` steps before `end` onto the one at `end`. */
export function velocityAt(hist: readonly ArrayLike<number>[], end: number, o: DriftOptions = DEFAULT_DRIFT): number {
  const now = profileAt(hist, end, o.m),
    then = profileAt(hist, end - o.lag, o.m);
  let best = 0,
    bestErr = sse(now, then);
  for (let g = -o.grid; g <= o.grid; g++) {
    if (g === 0) continue;
    const v = (o.vMax * g) / o.grid;
    const e = sse(now, translate(then, v * o.lag));
    if (e < bestErr - 1e-9) {
      bestErr = e;
      best = v;
    }
  }
  return best;
}

/**
 * Drift forecasts for one table's units (`hist[u]`, oldest first, all the same length), or
 * null when there is too little history, no drift, or the replay does not beat `baseline`
 * (the univariate model: predictions for unit u from the first `end` values, `k` steps ahead).
 */
export function driftForecast(
  hist: readonly ArrayLike<number>[],
  H: number,
  baseline: (u: number, end: number, k: number) => number[],
  o: DriftOptions = DEFAULT_DRIFT,
): DriftForecast | null {
  const n = hist[0]?.length ?? 0;
  const K = o.check;
  if (hist.length < 4 || n < K + o.lag + o.m) return null;
  const v = velocityAt(hist, n, o);
  if (Math.abs(v) * o.lag < 0.5) return null; // less than half a unit over the lag: no drift
  // replay from K steps ago with what was known then
  const origin = n - K;
  const vo = velocityAt(hist, origin, o);
  const po = profileAt(hist, origin, o.m);
  const centre = (o.m - 1) / 2; // the profile stands for the middle of its m steps
  let err = 0,
    base = 0,
    rel = 0,
    cnt = 0;
  const baselines = hist.map((_, u) => baseline(u, origin, K));
  for (let h = 1; h <= K; h++) {
    const pred = translate(po, vo * (h + centre));
    hist.forEach((y, u) => {
      const actual = y[origin + h - 1]!;
      err += (actual - pred[u]!) ** 2;
      base += (actual - baselines[u]![h - 1]!) ** 2;
      rel += ((actual - pred[u]!) / Math.max(pred[u]!, 1)) ** 2;
      cnt++;
    });
  }
  if (!(err < (1 - o.minGain) * base)) return null;
  const sigmaRel = Math.sqrt(rel / cnt);
  const p = profileAt(hist, n, o.m);
  const predicted: number[][] = hist.map(() => []),
    lower: number[][] = hist.map(() => []),
    upper: number[][] = hist.map(() => []);
  for (let h = 1; h <= H; h++) {
    const f = translate(p, v * (h + centre));
    // the replay measured errors at horizons 1..K; beyond K, wider with √h
    const width = 1.64 * sigmaRel * Math.max(1, Math.sqrt((1 + h) / (1 + K)));
    for (let u = 0; u < hist.length; u++) {
      const x = Math.max(0, f[u]!);
      predicted[u]!.push(x);
      lower[u]!.push(Math.max(0, x * (1 - width)));
      upper[u]!.push(x * (1 + width));
    }
  }
  return { velocity: v, predicted, lower, upper, sse: err, baselineSse: base };
}
