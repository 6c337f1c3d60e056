/**
 * Ensemble weighting: which models a series' forecast combines, and with what weights.
 *
 * Weights, per series, in three stages:
 *
 * 1. Dominance (selection on a validation record). Every matured forecast of every model is
 *    kept in a long-memory record of absolute errors and of the pairwise loss differentials
 *    d = |e_i| − |e_j| (exponentially weighted, O(1) per forecast, see `recordUpdate`). A model
 *    whose mean differential against the model with the lowest recorded error is significantly
 *    positive (a Diebold-Mariano-style t statistic above the Student-t critical value at the
 *    one-sided level of the normal quantile `z`, for the record's effective sample size; see
 *    `tCritical`) is dropped. When one model beats
 *    every other one this way the ensemble *is* that model: combining a clearly better model
 *    with clearly worse ones whose errors are strongly correlated with it (every model here
 *    sees the same history) only adds error, which inverse-error weights alone do not avoid.
 *    A model once set aside needs its t to fall well under z (`zBack`) to come back
 *    (hysteresis), so a model on the edge of significance does not flap in and out.
 * 2. Anchoring (see `anchorAdmit`). One model, Holt-Winters by default, is the anchor: the
 *    ensemble is the anchor alone unless another model is significantly *better* than it on
 *    the long or the short record (with hysteresis). Only a model that passes this test joins
 *    the combination; the anchor stays in unless stage 1 set it aside, which for the anchor
 *    takes the same evidence, and the exclusion ratio of stage 3 does not apply to it.
 *    Without it the weights followed recent errors that on short or noisy series are mostly
 *    noise, and the ensemble lost to Holt-Winters where Holt-Winters was best all along
 *    (decision 0011). A real advantage (a level shift Holt-Winters lags, a weekly pattern the
 *    global model learnt) passes the test within a few seasons.
 * 3. Combination of the remaining models: weight ∝ (recent error)^−power, where the recent
 *    error is a short-memory average of |error| over every matured forecast (all horizons) of
 *    that model for that series, each |error| winsorised at a multiple of that average (a
 *    burst every model misses would otherwise swamp the averages, flatten the weights and
 *    hand weight to a model that repeats the burst a season later); a model without enough
 *    matured forecasts gets no weight (cold start: the baselines carry the series until the
 *    global model has a track record).
 *
 * Intervals: see calibrator.ts.
 */

/* ------------------------------------------------------------------ validation record */

/**
 * Layout of a record for k models, in one Float64Array (cheap to keep for 100k series and to
 * checkpoint): per model [sum w·|e|, sum w]; per pair i<j [sum w, sum w², sum w·d, sum w·d²]
 * with d = |e_i| − |e_j| and w the exponential weights.
 */
export const recordSize = (k: number): number => 2 * k + 4 * ((k * (k - 1)) / 2);

function pairOffset(k: number, i: number, j: number): number {
  // Pairs (0,1), (0,2), …, (1,2), … in order.
  let p = 0;
  for (let a = 0; a < i; a++) p += k - 1 - a;
  return 2 * k + 4 * (p + (j - i - 1));
}

/**
 * Adds one matured target's absolute errors (`abs[i]` NaN = model had no forecast) with
 * decay `d` per forecast. Pairs are updated only when both models forecast that target, so
 * the differential compares like with like.
 */
export function recordUpdate(rec: Float64Array, abs: ArrayLike<number>, d: number): void {
  const k = abs.length;
  for (let i = 0; i < k; i++) {
    const a = abs[i]!;
    if (!Number.isFinite(a)) continue;
    rec[2 * i] = d * rec[2 * i]! + a;
    rec[2 * i + 1] = d * rec[2 * i + 1]! + 1;
  }
  for (let i = 0; i < k; i++) {
    for (let j = i + 1; j < k; j++) {
      const a = abs[i]!,
        b = abs[j]!;
      if (!Number.isFinite(a) || !Number.isFinite(b)) continue;
      const o = pairOffset(k, i, j);
      const x = a - b;
      rec[o] = d * rec[o]! + 1;
      rec[o + 1] = d * d * rec[o + 1]! + 1;
      rec[o + 2] = d * rec[o + 2]! + x;
      rec[o + 3] = d * rec[o + 3]! + x * x;
    }
  }
}

/** Forgets model i's record (e.g. when the model was replaced by a different kind of fit). */
export function recordReset(rec: Float64Array, k: number, i: number): void {
  rec[2 * i] = 0;
  rec[2 * i + 1] = 0;
  for (let j = 0; j < k; j++) {
    if (j === i) continue;
    const o = pairOffset(k, Math.min(i, j), Math.max(i, j));
    rec.fill(0, o, o + 4);
  }
}

/** Recorded mean |error| of model i (NaN without a record). */
export function recordError(rec: Float64Array, i: number): number {
  const w = rec[2 * i + 1]!;
  return w > 0 ? rec[2 * i]! / w : NaN;
}

/**
 * Test statistic for "model i is worse than model j": mean(|e_i| − |e_j|) over its standard
 * error, with the effective sample size of the exponential weights (Σw)²/Σw² divided by
 * `overlap`: each target is forecast from H origins whose errors are strongly correlated, so
 * the forecasts of one target count about as one sample (a Diebold-Mariano test would use a
 * HAC variance for the same reason). NaN when there are fewer than 2 effective samples.
 */
export function recordWorseT(rec: Float64Array, k: number, i: number, j: number, overlap = 1): number {
  return recordWorseTest(rec, k, i, j, overlap).t;
}

/** `recordWorseT` with its degrees of freedom (effective sample size − 1; NaN t: df 0). */
export function recordWorseTest(rec: Float64Array, k: number, i: number, j: number, overlap = 1): { t: number; df: number } {
  if (i === j) return { t: 0, df: 0 };
  const sign = i < j ? 1 : -1;
  const o = pairOffset(k, Math.min(i, j), Math.max(i, j));
  const sw = rec[o]!,
    sw2 = rec[o + 1]!;
  if (!(sw > 0) || !(sw2 > 0)) return { t: NaN, df: 0 };
  const neff = (sw * sw) / sw2 / overlap;
  if (neff < 2) return { t: NaN, df: 0 };
  const mean = rec[o + 2]! / sw;
  const v = Math.max(rec[o + 3]! / sw - mean * mean, 0);
  const se = Math.sqrt(v / neff);
  if (!(se > 0)) return { t: mean === 0 ? 0 : sign * mean * Infinity, df: neff - 1 };
  return { t: (sign * mean) / se, df: neff - 1 };
}

/**
 * Critical value of a one-sided t test at the tail probability of the normal quantile `z`,
 * with `df` degrees of freedom (Cornish-Fisher expansion; within 2% of the exact quantile for
 * df ≥ 3, and far above z below that either way). The records' t statistics rest on a few
 * effective samples after a reset or on a short series (each step's forecasts count about as
 * one), and compared with z itself a lucky run of a few steps passed for evidence (decision 0011).
 */
export function tCritical(z: number, df: number): number {
  if (!(df > 0)) return Infinity;
  if (!Number.isFinite(df)) return z;
  const z2 = z * z,
    z3 = z2 * z,
    z5 = z3 * z2,
    z7 = z5 * z2,
    z9 = z7 * z2;
  return (
    z +
    (z3 + z) / (4 * df) +
    (5 * z5 + 16 * z3 + 3 * z) / (96 * df ** 2) +
    (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * df ** 3) +
    (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / (92160 * df ** 4)
  );
}

/** t(i worse than j) above the critical value for `z` at its degrees of freedom. */
function significantlyWorse(rec: Float64Array, k: number, i: number, j: number, overlap: number, z: number): boolean {
  const { t, df } = recordWorseTest(rec, k, i, j, overlap);
  return t > tCritical(z, df);
}

/**
 * Models to keep after the dominance test: the available model with the lowest recorded
 * error, and every available model not significantly worse than it on the long record
 * (t ≤ z). A model set aside on the long record is still kept when a short-memory record
 * (`recent`, same layout) shows it significantly better than that model now (t > z): the
 * long record lags when a model recovers or breaks, the short one alone is too noisy to
 * separate close models. Models without a record (fewer than `minRecord` effective
 * forecasts) are kept; the combination stage decides about them.
 *
 * Hysteresis: with `aside` (one flag per model, 1 = set aside, kept by the caller between
 * calls and updated here) a model once set aside comes back only when its t falls to `zBack` (< z),
 * not as soon as it dips under z. A model whose t hovers around z would otherwise flap in
 * and out of the combination, and each time it is back it takes weight on the strength of
 * a few lucky recent errors.
 */
export function dominanceKeep(
  rec: Float64Array,
  available: ArrayLike<boolean>,
  opts: {
    z: number;
    minRecord?: number;
    overlap?: number;
    recent?: Float64Array;
    aside?: Uint8Array;
    zBack?: number;
    anchor?: number;
    anchorZ?: number;
  },
): boolean[] {
  const k = available.length;
  const minRecord = opts.minRecord ?? 1;
  const overlap = opts.overlap ?? 1;
  const aside = opts.aside;
  const keep = Array.from({ length: k }, (_, i) => !!available[i]);
  let best = -1;
  for (let i = 0; i < k; i++) {
    if (!available[i] || !(rec[2 * i + 1]! >= minRecord)) continue;
    if (best < 0 || recordError(rec, i) < recordError(rec, best)) best = i;
  }
  if (best < 0) return keep;
  if (aside) aside[best] = 0;
  for (let i = 0; i < k; i++) {
    if (i === best || !keep[i] || !(rec[2 * i + 1]! >= minRecord)) continue;
    // The anchor is set aside only on the evidence that would admit another model beside it.
    const zIn = i === opts.anchor ? Math.max(opts.anchorZ ?? opts.z, opts.z) : opts.z;
    const z = aside?.[i] ? Math.min(opts.zBack ?? zIn, zIn) : zIn;
    const out =
      significantlyWorse(rec, k, i, best, overlap, z) && !(opts.recent && significantlyWorse(opts.recent, k, best, i, overlap, opts.z));
    if (aside) aside[i] = out ? 1 : 0;
    if (out) keep[i] = false;
  }
  return keep;
}

/**
 * The anchoring stage: with `keep` from `dominanceKeep` (called with the same anchor), a model
 * other than `anchor` stays in only when the anchor is significantly worse than it:
 * t(anchor worse than i) above `tCritical(z, df)` on the long record or on the short one
 * (`recent`). Models are otherwise dropped: absent evidence (no record yet, or a record reset
 * because the anchor was refitted) the anchor alone is used. With `admitted` (one flag per
 * model, kept by the caller) a model once admitted stays in while either t is above the
 * critical value for `zBack` (hysteresis, as in `dominanceKeep`). When the anchor itself is
 * not kept (not available, or set aside as clearly worse) `keep` is returned unchanged.
 *
 * Why a stricter z than the dominance test's: it runs every step, on two records, and a model
 * admitted on a chance run of good errors costs accuracy at once, whereas keeping the anchor
 * alone costs only a combination gain that has not been shown to exist.
 */
export function anchorAdmit(
  rec: Float64Array,
  keep: boolean[],
  anchor: number,
  opts: { z: number; zBack?: number; overlap?: number; recent?: Float64Array; admitted?: Uint8Array },
): boolean[] {
  const k = keep.length;
  if (!(anchor >= 0 && anchor < k) || !keep[anchor]) return keep;
  const overlap = opts.overlap ?? 1;
  for (let i = 0; i < k; i++) {
    if (i === anchor) continue;
    if (!keep[i]) {
      if (opts.admitted) opts.admitted[i] = 0;
      continue;
    }
    const z = opts.admitted?.[i] ? Math.min(opts.zBack ?? opts.z, opts.z) : opts.z;
    const ok =
      significantlyWorse(rec, k, anchor, i, overlap, z) || (!!opts.recent && significantlyWorse(opts.recent, k, anchor, i, overlap, z));
    if (opts.admitted) opts.admitted[i] = ok ? 1 : 0;
    if (!ok) keep[i] = false;
  }
  return keep;
}

/* ------------------------------------------------------------------ combination */

/**
 * One step of the exponentially weighted recent error behind the weights: the new |error| `e`
 * is winsorised at `k` × the current average once the average rests on `minCount` errors.
 * (A burst is missed by every model alike; unclipped it would swamp every average for a
 * while, the weights would go flat, and a model that repeats the burst one season later
 * would get half the weight just then.) `n` = errors averaged so far.
 */
export function winsorisedAverage(prev: number, n: number, e: number, decay: number, k: number, minCount = 1): number {
  const x = n >= minCount && prev > 0 && k > 0 ? Math.min(e, k * prev) : e;
  return n > 0 && Number.isFinite(prev) ? decay * prev + (1 - decay) * x : x;
}

export interface WeightOptions {
  /** Exponent on the inverse error (default 2). */
  power?: number;
  /** Matured forecasts a model needs before it gets weight (default 1). */
  minCount?: number;
  /** Models whose error exceeds this multiple of the best model's get no weight (default Infinity). */
  exclusionRatio?: number;
  /** A model exempt from the exclusion ratio: the anchor, dropped only on significant evidence (see `anchorAdmit`). */
  anchor?: number;
}

/**
 * Weights from recent errors. `errors[i]` is model i's recent error (NaN/undefined = none),
 * `counts[i]` its matured-forecast count, `available[i]` whether it produced a forecast now.
 * When no available model has a track record the available ones share equally.
 */
export function ensembleWeights(
  errors: ArrayLike<number>,
  counts: ArrayLike<number>,
  available: ArrayLike<boolean>,
  opts: WeightOptions = {},
): number[] {
  const p = opts.power ?? 2;
  const minCount = opts.minCount ?? 1;
  const k = errors.length;
  const w = new Array<number>(k).fill(0);
  let sum = 0;
  let minErr = Infinity;
  for (let i = 0; i < k; i++)
    if (available[i] && counts[i]! >= minCount && Number.isFinite(errors[i]!)) minErr = Math.min(minErr, errors[i]!);
  if (Number.isFinite(minErr)) {
    const floor = Math.max(minErr * 1e-3, 1e-12);
    for (let i = 0; i < k; i++) {
      if (!available[i] || counts[i]! < minCount || !Number.isFinite(errors[i]!)) continue;
      if (i !== opts.anchor && errors[i]! > (opts.exclusionRatio ?? Infinity) * minErr) continue;
      w[i] = Math.max(errors[i]!, floor) ** -p;
      sum += w[i]!;
    }
  }
  if (!(sum > 0)) {
    let n = 0;
    for (let i = 0; i < k; i++) if (available[i]) n++;
    for (let i = 0; i < k; i++) w[i] = available[i] && n ? 1 / n : 0;
    return w;
  }
  return w.map((v) => v / sum);
}

/** Weighted combination of point forecasts (rows = models). */
export function combine(points: ArrayLike<number>[], weights: ArrayLike<number>): number[] {
  const H = points.find((p) => p)?.length ?? 0;
  const out = new Array<number>(H).fill(0);
  for (let m = 0; m < points.length; m++) {
    const w = weights[m]!;
    if (!w) continue;
    for (let h = 0; h < H; h++) out[h]! += w * points[m]![h]!;
  }
  return out;
}

/** Name for a combined forecast: the sole model, or ensemble(dominant model). */
export function ensembleName(names: readonly string[], weights: ArrayLike<number>): string {
  let best = -1;
  let used = 0;
  for (let i = 0; i < names.length; i++) {
    if (weights[i]! > 0) used++;
    if (best < 0 || weights[i]! > weights[best]!) best = i;
  }
  return used <= 1 ? names[best]! : `ensemble(${names[best]})`;
}
