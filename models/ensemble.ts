/**
 * Ensemble weighting and interval calibration.
 *
 * Weights (QB5000-style combination, per series): each model's weight is proportional to
 * (recent MASE)^−power, where the recent error is an exponentially weighted trailing average
 * of |error| over every matured forecast (all horizons) of that model for that series; a
 * model without enough matured forecasts gets no weight (cold start: the baselines carry the
 * series until the global model has a track record).
 *
 * Intervals: normalised split-conformal. For each model and horizon the calibrator pools the
 * scores |error| / localScale over all series (localScale = that series' recent error of that
 * model at issue time), and the half-width is quantile_{level}(scores) × localScale. An
 * adaptive-conformal correction (Gibbs & Candès 2021) nudges the quantile level by the
 * observed miss rate so coverage tracks the nominal level when the data drift.
 */
export interface WeightOptions {
  /** Exponent on the inverse error (default 2). */
  power?: number;
  /** Matured forecasts a model needs before it gets weight (default 1). */
  minCount?: number;
  /** Models whose error exceeds this multiple of the best model's get no weight (default Infinity). */
  exclusionRatio?: number;
}

/**
 * Weights from recent errors. `errors[i]` is model i's recent error (NaN/undefined = none),
 * `counts[i]` its matured-forecast count, `available[i]` whether it produced a forecast now.
 * When no available model has a track record the available ones share equally.
 */
export function ensembleWeights(errors: ArrayLike<number>, counts: ArrayLike<number>, available: ArrayLike<boolean>, opts: WeightOptions = {}): number[] {
  const p = opts.power ?? 2;
  const minCount = opts.minCount ?? 1;
  const k = errors.length;
  const w = new Array<number>(k).fill(0);
  let sum = 0;
  let minErr = Infinity;
  for (let i = 0; i < k; i++) if (available[i] && counts[i]! >= minCount && Number.isFinite(errors[i]!)) minErr = Math.min(minErr, errors[i]!);
  if (Number.isFinite(minErr)) {
    const floor = Math.max(minErr * 1e-3, 1e-12);
    for (let i = 0; i < k; i++) {
      if (!available[i] || counts[i]! < minCount || !Number.isFinite(errors[i]!)) continue;
      if (errors[i]! > (opts.exclusionRatio ?? Infinity) * minErr) continue;
      w[i] = Math.pow(Math.max(errors[i]!, floor), -p);
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

export interface CalibratorSnapshot {
  models: number;
  horizon: number;
  level: number;
  capacity: number;
  scores: number[][];
  alphaEff: number[];
}

/** Pooled normalised-conformal calibrator, one score ring per (model, horizon). */
export class ConformalCalibrator {
  private readonly rings: Float32Array[];
  private readonly fill: Int32Array;
  private readonly pos: Int32Array;
  /** Adaptive miscoverage target per (model, horizon). */
  readonly alphaEff: Float64Array;
  private readonly factors: Float64Array;
  private readonly misses: Float64Array;
  private readonly seen: Float64Array;
  private dirty = true;

  constructor(
    readonly models: number,
    readonly horizon: number,
    readonly level = 0.9,
    readonly capacity = 2048,
    /** Adaptive-conformal step size (0 disables). */
    readonly gamma = 0.02,
    /** Factor used before any score exists (≈ z for a Gaussian scale estimate). */
    readonly fallback = 2.0,
  ) {
    const k = models * horizon;
    this.rings = Array.from({ length: k }, () => new Float32Array(capacity));
    this.fill = new Int32Array(k);
    this.pos = new Int32Array(k);
    this.alphaEff = new Float64Array(k).fill(1 - level);
    this.factors = new Float64Array(k).fill(fallback);
    this.misses = new Float64Array(k);
    this.seen = new Float64Array(k);
  }

  /** Records one matured forecast's normalised score |err|/scale for (model, h in 1..H). */
  add(model: number, h: number, score: number): void {
    if (!Number.isFinite(score)) return;
    const i = model * this.horizon + (h - 1);
    const ring = this.rings[i]!;
    ring[this.pos[i]!] = score;
    this.pos[i] = (this.pos[i]! + 1) % this.capacity;
    if (this.fill[i]! < this.capacity) this.fill[i]!++;
    this.seen[i]!++;
    if (score > this.factors[i]!) this.misses[i]!++;
    this.dirty = true;
  }

  /** Recomputes the factors (call once per step, after the adds). */
  update(): void {
    if (!this.dirty) return;
    const target = 1 - this.level;
    for (let i = 0; i < this.rings.length; i++) {
      const n = this.fill[i]!;
      if (this.gamma > 0 && this.seen[i]! > 0) {
        const missRate = this.misses[i]! / this.seen[i]!;
        this.alphaEff[i] = Math.min(Math.max(this.alphaEff[i]! + this.gamma * (target - missRate), target / 4), Math.min(0.5, target * 3));
        this.misses[i] = 0;
        this.seen[i] = 0;
      }
      if (n < 10) continue;
      const a = Array.from(this.rings[i]!.subarray(0, n)).sort((x, y) => x - y);
      // Finite-sample conformal rank.
      const q = Math.min(1, (1 - this.alphaEff[i]!) * (1 + 1 / n));
      const pos = q * (n - 1);
      const lo = Math.floor(pos);
      const hi = Math.min(lo + 1, n - 1);
      this.factors[i] = a[lo]! + (a[hi]! - a[lo]!) * (pos - lo);
    }
    this.dirty = false;
  }

  /** Half-width factor for (model, h): half-width = factor × local scale. */
  factor(model: number, h: number): number {
    return this.factors[model * this.horizon + (h - 1)]!;
  }

  /** Scores recorded so far for (model, h), up to capacity. */
  count(model: number, h: number): number {
    return this.fill[model * this.horizon + (h - 1)]!;
  }

  toJSON(): CalibratorSnapshot {
    return {
      models: this.models,
      horizon: this.horizon,
      level: this.level,
      capacity: this.capacity,
      scores: this.rings.map((r, i) => Array.from(r.subarray(0, this.fill[i]!))),
      alphaEff: Array.from(this.alphaEff),
    };
  }

  /** Restores a snapshot; throws when its shape does not match. */
  restore(s: CalibratorSnapshot): void {
    if (s.models !== this.models || s.horizon !== this.horizon || s.scores.length !== this.rings.length) {
      throw new Error(`calibrator: snapshot is ${s.models}×${s.horizon}, expected ${this.models}×${this.horizon}`);
    }
    s.scores.forEach((arr, i) => {
      const take = arr.slice(-this.capacity);
      this.rings[i]!.set(take);
      this.fill[i] = take.length;
      this.pos[i] = take.length % this.capacity;
      const a = s.alphaEff[i];
      if (typeof a === 'number' && Number.isFinite(a)) this.alphaEff[i] = a;
    });
    this.dirty = true;
    this.update();
  }
}
