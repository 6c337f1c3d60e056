/** Small numeric helpers shared by the forecasting models. No tfjs here. */

/** Mean of the finite values, NaN when there is none. */
export function finiteMean(x: ArrayLike<number>, from = 0, to = x.length): number {
  let s = 0;
  let n = 0;
  for (let i = from; i < to; i++) {
    const v = x[i]!;
    if (Number.isFinite(v)) {
      s += v;
      n++;
    }
  }
  return n ? s / n : NaN;
}

/** Mean and standard deviation of the finite values in [from, to). */
export function finiteMeanStd(x: ArrayLike<number>, from = 0, to = x.length): { mean: number; std: number; n: number } {
  let s = 0;
  let s2 = 0;
  let n = 0;
  for (let i = from; i < to; i++) {
    const v = x[i]!;
    if (Number.isFinite(v)) {
      s += v;
      s2 += v * v;
      n++;
    }
  }
  if (!n) return { mean: NaN, std: NaN, n: 0 };
  const mean = s / n;
  return { mean, std: Math.sqrt(Math.max(0, s2 / n - mean * mean)), n };
}

/**
 * Fills NaN gaps in place: a gap takes the value one season earlier when that is known,
 * else the last known value; leading gaps take the first known value. All-NaN input is left
 * as is (the caller decides what a series with no data means).
 */
export function imputeInPlace(x: Float32Array | Float64Array | number[], season = 0): boolean {
  let first = -1;
  for (let i = 0; i < x.length; i++) {
    if (Number.isFinite(x[i]!)) {
      first = i;
      break;
    }
  }
  if (first < 0) return false;
  for (let i = 0; i < first; i++) x[i] = x[first]!;
  let last = x[first]!;
  for (let i = first + 1; i < x.length; i++) {
    const v = x[i]!;
    if (Number.isFinite(v)) last = v;
    else x[i] = season > 1 && i >= season && i - season >= first ? x[i - season]! : last;
  }
  return true;
}

/** The q-quantile (0..1) of the finite values, by linear interpolation; NaN when empty. */
export function quantile(values: ArrayLike<number>, q: number): number {
  const a: number[] = [];
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i]!)) a.push(values[i]!);
  return a.length ? quantileInPlace(a, a.length, q) : NaN;
}

/**
 * The q-quantile (linear interpolation between order statistics, as a sort would give it) of
 * the first `n` values of `a`, which must be finite; reorders them. Two selections instead of a
 * sort: the calibrator takes one quantile per (model, horizon) of a 2,048-score window every step.
 */
export function quantileInPlace(a: number[] | Float64Array | Float32Array, n: number, q: number): number {
  const pos = Math.min(Math.max(q, 0), 1) * (n - 1);
  return interpolatedRank(a, n, pos, 0);
}

/**
 * The value at fractional rank `pos` of a window whose `shift` smallest values are left out and
 * whose other values are the first `m` of `a` (reordered): the order statistic at floor(pos),
 * moved toward the next one by the fraction.
 */
function interpolatedRank(a: number[] | Float64Array | Float32Array, m: number, pos: number, shift: number): number {
  const k = Math.floor(pos) - shift;
  const x = selectKth(a, k, 0, m - 1);
  if (pos === k + shift || k + 1 >= m) return x;
  // after the selection everything past k is ≥ a[k]: the next order statistic is their minimum
  let y = a[k + 1]!;
  for (let i = k + 2; i < m; i++) if (a[i]! < y) y = a[i]!;
  return x + (y - x) * (pos - (k + shift));
}

/**
 * `quantileInPlace` of the first `n` values of `from`, left as they are, when the quantile is at
 * least `floor`: only the values ≥ floor are copied into `scratch` and selected among (the rest
 * are the smallest, so they only shift the ranks). Null when fewer values are ≥ floor than the
 * quantile's rank needs; the caller then selects over all. The calibrator's factor moves little
 * from one step to the next, so a floor just under the last factor leaves only the window's top
 * to copy and select in: the same value for less work.
 */
export function quantileAbove(
  from: Float32Array | Float64Array,
  n: number,
  q: number,
  floor: number,
  scratch: Float64Array,
): number | null {
  const pos = Math.min(Math.max(q, 0), 1) * (n - 1);
  const lo = Math.floor(pos);
  let m = 0;
  for (let i = 0; i < n; i++) {
    const v = from[i]!;
    if (v >= floor) scratch[m++] = v;
  }
  const below = n - m;
  if (lo < below) return null;
  return interpolatedRank(scratch, m, pos, below);
}

/**
 * Rearranges a[lo..hi] so that a[k] holds the value a sort would put there, with nothing larger
 * before it and nothing smaller after it; returns a[k]. Hoare's selection (Wirth's loop) with a
 * median-of-three pivot: expected linear time, and ties (the calibrator's capped scores) split
 * evenly. Written here because it is twenty lines and no selection package is a dependency.
 */
export function selectKth(a: number[] | Float64Array | Float32Array, k: number, lo = 0, hi = a.length - 1): number {
  let l = lo,
    r = hi;
  while (l < r) {
    const p = a[l]!,
      m = a[(l + r) >> 1]!,
      q = a[r]!;
    // median of the three
    const x = Math.max(Math.min(p, m), Math.min(Math.max(p, m), q));
    let i = l,
      j = r;
    do {
      while (a[i]! < x) i++;
      while (x < a[j]!) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    } while (i <= j);
    if (j < k) l = i;
    if (k < i) r = j;
  }
  return a[k]!;
}

/** Median of the finite values. */
export const median = (x: ArrayLike<number>): number => quantile(x, 0.5);

/**
 * Mean absolute seasonal difference |y_t − y_{t−m}| over the finite pairs: the MASE
 * denominator. Falls back to lag 1 when there are no seasonal pairs; never returns 0 for a
 * series with any variation, and returns `floor` for a flat or empty one.
 */
export function seasonalScale(x: ArrayLike<number>, m: number, floor = 1e-8): number {
  for (const lag of m > 1 ? [m, 1] : [1]) {
    let s = 0;
    let n = 0;
    for (let i = lag; i < x.length; i++) {
      const a = x[i]!;
      const b = x[i - lag]!;
      if (Number.isFinite(a) && Number.isFinite(b)) {
        s += Math.abs(a - b);
        n++;
      }
    }
    if (n && s > 0) return Math.max(s / n, floor);
  }
  return floor;
}

/** Standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const pl = 0.02425;
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  if (p < pl) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
      ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1)
    );
  }
  if (p > 1 - pl) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

import { rng } from '../lib/rng.js';
export { rng };
