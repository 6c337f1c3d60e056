/**
 * Classical baselines: seasonal naive and Holt-Winters (additive trend, optionally damped, and
 * additive season), each usable in batch (the `Forecaster` interface) or online (a small state
 * updated with every observation, O(1) per step, so the forecast pipeline can keep one per
 * series for 100k series).
 *
 * Holt-Winters is hand-written: no maintained npm package updates its state online, damps the
 * trend or handles gaps (decision 0012). The recursions are textbook (Hyndman &
 * Athanasopoulos, FPP3 §8.3, error-correction form) and pinned by hand-computed tests.
 */
import type { ForecastRequest, Forecaster, SeriesForecast } from './forecaster.js';
import { finiteMean, imputeInPlace, normalQuantile, seasonalScale } from './util.js';

/* ------------------------------------------------------------------ seasonal naive */

/** Seasons a seasonal-naive forecast looks back over gaps before it repeats the last value. */
const SEASONS_BACK = 8;

/**
 * Seasonal naive forecast from `valueAt(t)` (NaN = unknown) for steps `first..end`: the value
 * one season before the target; a gap looks a further season back (up to 8 seasons), and
 * without a usable seasonal value the last observation is repeated. Undefined when there is
 * no finite value at all. The online forecaster reads its history through this, the batch
 * forecaster an array.
 */
export function seasonalNaiveAt(
  valueAt: (t: number) => number,
  first: number,
  end: number,
  horizon: number,
  season: number,
): number[] | undefined {
  const m = Math.max(1, Math.floor(season));
  let last = NaN;
  for (let t = end; t >= first; t--) {
    const v = valueAt(t);
    if (Number.isFinite(v)) {
      last = v;
      break;
    }
  }
  if (!Number.isFinite(last)) return undefined;
  const out: number[] = [];
  for (let h = 1; h <= horizon; h++) {
    let v = NaN;
    // Target step end+h; the same phase in the last observed season(s).
    if (m > 1)
      for (let t = end + h - m * Math.ceil(h / m), k = 0; k < SEASONS_BACK && t >= first && !Number.isFinite(v); t -= m, k++)
        v = valueAt(t);
    out.push(Number.isFinite(v) ? v : last);
  }
  return out;
}

/** Seasonal naive over an array (oldest first, NaN = gap); all NaN when it holds no value. */
export function seasonalNaiveForecast(history: ArrayLike<number>, horizon: number, season: number): number[] {
  const n = history.length;
  return seasonalNaiveAt((i) => history[i]!, 0, n - 1, horizon, season) ?? new Array<number>(horizon).fill(NaN);
}

/* ------------------------------------------------------------------ Holt-Winters */

export interface HWParams {
  alpha: number;
  beta: number;
  gamma: number;
  /** Trend damping; 1 = undamped. */
  phi: number;
}

export const DEFAULT_HW_PARAMS: HWParams = { alpha: 0.2, beta: 0.02, gamma: 0.1, phi: 0.98 };

/** Online Holt-Winters state (additive trend + additive season). */
export class HoltWintersState {
  /** Observations consumed so far (the seasonal index of the next one is t mod m). */
  t = 0;
  /** EWMA of |one-step error|, used to cap bursts and for interval width. */
  mae: number;
  /** Consecutive capped innovations of the same sign (a run longer than maxCapRun is a level shift, not a burst). */
  capRun = 0;
  private phaseCap: Int8Array | undefined;
  static maxCapRun = 2;
  constructor(
    readonly m: number,
    public params: HWParams,
    public level: number,
    public trend: number,
    readonly season: Float64Array,
    mae: number,
    /** Innovations beyond capK × 1.25 × mae are clipped (robust to bursts); 0 disables. */
    readonly capK = 4,
  ) {
    this.mae = mae;
  }

  /** Forecasts 1..horizon steps after the last observation. */
  forecast(horizon: number, out: number[] = []): number[] {
    const { phi } = this.params;
    let damp = 0;
    let pw = 1;
    for (let h = 1; h <= horizon; h++) {
      pw *= phi;
      damp += pw;
      out[h - 1] = this.level + damp * this.trend + this.season[(this.t + h - 1) % this.m]!;
    }
    return out;
  }

  /** Consumes one observation (NaN = gap: the state advances on its own forecast). Returns the one-step error. */
  update(y: number): number {
    const { alpha, beta, gamma, phi } = this.params;
    const si = this.t % this.m;
    const sPrev = this.season[si]!;
    const base = this.level + phi * this.trend;
    const yhat = base + sPrev;
    this.t++;
    if (!Number.isFinite(y)) {
      this.level = base;
      this.trend *= phi;
      return NaN;
    }
    let e = y - yhat;
    let eSeason = e;
    if (this.capK > 0 && this.mae > 0) {
      const cap = this.capK * 1.25 * this.mae;
      if (Math.abs(e) > cap) {
        const sign = e > 0 ? 1 : -1;
        this.capRun = Math.sign(this.capRun) === sign ? this.capRun + sign : sign;
        // Short runs are bursts (clipped); a longer run, or the same surprise at the same
        // phase one season later, is a shift the state must follow.
        this.phaseCap ??= new Int8Array(this.m);
        const phase = this.phaseCap;
        const recurring = this.m > 1 && phase[si] === sign;
        phase[si] = sign;
        if (Math.abs(this.capRun) <= HoltWintersState.maxCapRun && !recurring) e = sign * cap;
        // A shift moves the level; the seasonal pattern learns from it only as much as from
        // a clipped innovation (else a burst taken for a shift is printed into one phase).
        eSeason = recurring ? e : sign * cap;
      } else {
        this.capRun = 0;
        if (this.phaseCap) this.phaseCap[si] = 0;
      }
    }
    const lNew = base + alpha * e;
    this.trend = phi * this.trend + alpha * beta * e;
    this.season[si] = sPrev + gamma * (1 - alpha) * eSeason;
    this.level = lNew;
    // The scale behind the burst cap learns from innovations winsorised at 3× itself: else
    // every burst step lifts it by a fifth or more, and a few bursts raise the cap above
    // them. (A scale that starts far too small, from a flat fit window, still grows 10% a
    // step, and a refit restarts it from the data.)
    this.mae = 0.95 * this.mae + 0.05 * (this.mae > 0 ? Math.min(Math.abs(e), 3 * this.mae) : Math.abs(e));
    return y - yhat;
  }

  /** Plain-object snapshot (for checkpoints). */
  toJSON(): HWSnapshot {
    return {
      m: this.m,
      params: this.params,
      level: this.level,
      trend: this.trend,
      season: Array.from(this.season),
      t: this.t,
      mae: this.mae,
      // the burst cap's memory: without it a restored state clips (or follows) the next surprises differently
      capRun: this.capRun,
      phaseCap: this.phaseCap ? Array.from(this.phaseCap) : null,
    };
  }

  static fromJSON(s: HWSnapshot): HoltWintersState {
    // a checkpoint writes NaN as null
    const st = new HoltWintersState(s.m, s.params, s.level, s.trend, Float64Array.from(s.season), typeof s.mae === 'number' ? s.mae : NaN);
    st.t = s.t;
    if (typeof s.capRun === 'number' && Number.isInteger(s.capRun)) st.capRun = s.capRun;
    if (Array.isArray(s.phaseCap) && s.phaseCap.length === s.m) st.phaseCap = Int8Array.from(s.phaseCap.map((x) => Math.sign(x)));
    return st;
  }
}

export interface HWSnapshot {
  m: number;
  params: HWParams;
  level: number;
  trend: number;
  season: number[];
  t: number;
  mae: number;
  /** Absent in checkpoints written before they were kept. */
  capRun?: number;
  phaseCap?: number[] | null;
}

/**
 * Initial state from the first two seasons (classical decomposition): level = mean of the
 * first season (centred), trend = difference of the first two season means / m, seasonal
 * indices = average deviation from each season's mean. Returns the state positioned after
 * the initialisation seasons, and the index of the first observation still to consume.
 */
export function initHoltWinters(
  y: ArrayLike<number>,
  season: number,
  params: HWParams = DEFAULT_HW_PARAMS,
): { state: HoltWintersState; next: number } {
  const n = y.length;
  let m = Math.max(1, Math.floor(season));
  if (m > 1 && n < 2 * m) m = 1;
  const x = Float64Array.from(y as ArrayLike<number>);
  imputeInPlace(x, m);
  const scale = seasonalScale(x, m, 1e-9);
  const sea = new Float64Array(m);
  if (m === 1) {
    const k = Math.min(n, 4);
    const l0 = k ? finiteMean(x, 0, k) : 0;
    const b0 = n >= 2 ? (x[Math.min(n, 4) - 1]! - x[0]!) / Math.max(1, Math.min(n, 4) - 1) : 0;
    const st = new HoltWintersState(1, { ...params, gamma: 0 }, Number.isFinite(l0) ? l0 : 0, Number.isFinite(b0) ? b0 : 0, sea, scale);
    // The state describes index 0; the next observation to consume is index 1.
    if (n >= 1) st.t = 1;
    return { state: st, next: Math.min(1, n) };
  }
  const k = Math.min(Math.floor(n / m), 4);
  const means: number[] = [];
  for (let j = 0; j < k; j++) means.push(finiteMean(x, j * m, (j + 1) * m));
  for (let i = 0; i < m; i++) {
    let s = 0;
    for (let j = 0; j < k; j++) s += x[j * m + i]! - means[j]!;
    sea[i] = s / k;
  }
  const b0 = (means[1]! - means[0]!) / m;
  // Level at the end of the first season (the mean sits at its centre).
  const l0 = means[0]! + (b0 * (m - 1)) / 2;
  const st = new HoltWintersState(m, params, l0, b0, sea, scale);
  st.t = m;
  return { state: st, next: m };
}

/** Runs Holt-Winters over `y` with fixed params; returns the final state and one-step SSE (after a burn-in season). */
export function runHoltWinters(
  y: ArrayLike<number>,
  season: number,
  params: HWParams,
): { state: HoltWintersState; sse: number; count: number } {
  const { state, next } = initHoltWinters(y, season, params);
  let sse = 0;
  let count = 0;
  const burn = next + state.m;
  const cap = state.capK * 1.25;
  for (let i = next; i < y.length; i++) {
    const e = state.update(y[i]!);
    if (i >= burn && Number.isFinite(e)) {
      // Huber loss: squared within the burst cap, linear beyond, so a burst does not
      // dominate the fit but slow adaptation to a real shift is still paid for.
      const c = cap * state.mae;
      const a = Math.abs(e);
      sse += a <= c ? a * a : 2 * c * a - c * c;
      count++;
    }
  }
  return { state, sse, count };
}

const GRID = {
  alpha: [0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9],
  beta: [0, 0.01, 0.05, 0.15, 0.3],
  gamma: [0, 0.02, 0.05, 0.1, 0.2, 0.35, 0.6],
  phi: [0.8, 0.9, 0.95, 0.98, 1],
};

export interface HWFitOptions {
  /** Fit on at most this many trailing observations (bounds the cost). Default 10 seasons, ≥ 200. */
  maxLength?: number;
  /** Allow a damped trend (default true). */
  damped?: boolean;
  /** Coordinate-descent passes over the parameter grid (default 2). */
  passes?: number;
}

/**
 * Fits α, β, γ, φ per series by coordinate descent over a grid, minimising the one-step SSE
 * (bursts clipped). About 50 runs over the series: cheap enough to refit on a schedule.
 * `work` counts the observations run through the recursions, a machine-independent measure of
 * the fit's cost (the online forecaster budgets its refits in it).
 */
export function fitHoltWinters(
  y: ArrayLike<number>,
  season: number,
  opts: HWFitOptions = {},
): { params: HWParams; state: HoltWintersState; sse: number; work: number } {
  const m = Math.max(1, Math.floor(season));
  const maxLen = opts.maxLength ?? Math.max(200, 10 * m);
  const arr = y.length > maxLen ? (Array.prototype.slice.call(y, y.length - maxLen) as number[]) : y;
  let best: HWParams = { ...DEFAULT_HW_PARAMS, phi: opts.damped === false ? 1 : DEFAULT_HW_PARAMS.phi };
  let bestSse = runHoltWinters(arr, m, best).sse;
  let runs = 1;
  const keys: (keyof HWParams)[] = opts.damped === false ? ['alpha', 'gamma', 'beta'] : ['alpha', 'gamma', 'beta', 'phi'];
  for (let pass = 0; pass < (opts.passes ?? 2); pass++) {
    let improved = false;
    for (const key of keys) {
      if (key === 'gamma' && (m === 1 || arr.length < 2 * m)) continue;
      for (const v of GRID[key]) {
        if (v === best[key]) continue;
        const p = { ...best, [key]: v };
        const r = runHoltWinters(arr, m, p);
        runs++;
        if (r.sse < bestSse - 1e-12) {
          best = p;
          bestSse = r.sse;
          improved = true;
        }
      }
    }
    if (!improved) break;
  }
  // The final state comes from the same trailing window: re-running older history with
  // parameters fitted on recent data could leave it lagging behind a recent shift.
  const { state, sse } = runHoltWinters(arr, m, best);
  return { params: best, state, sse, work: (runs + 1) * arr.length };
}

/** Gaussian h-step half-widths for additive Holt-Winters (FPP3 table 8.8, class 1). */
export function hwHalfWidths(state: HoltWintersState, sigma: number, horizon: number, level: number): number[] {
  const z = normalQuantile(0.5 + level / 2);
  const { alpha, beta, gamma, phi } = state.params;
  const out: number[] = [];
  let v = 1;
  let damp = 0;
  let pw = 1;
  for (let h = 1; h <= horizon; h++) {
    out.push(z * sigma * Math.sqrt(v));
    pw *= phi;
    damp += pw;
    const c = alpha * (1 + beta * damp) + (state.m > 1 && h % state.m === 0 ? gamma * (1 - alpha) : 0);
    v += c * c;
  }
  return out;
}

/* ------------------------------------------------------------------ batch forecasters */

function nonNeg(history: ArrayLike<number>): boolean {
  for (let i = 0; i < history.length; i++) if (history[i]! < 0) return false;
  return true;
}

/** Seasonal naive as a batch `Forecaster`; intervals from in-sample seasonal residuals. */
export class SeasonalNaive implements Forecaster {
  readonly name = 'seasonal_naive';
  constructor(private readonly level = 0.9) {}
  forecastBatch(requests: ForecastRequest[]): SeriesForecast[] {
    const z = normalQuantile(0.5 + this.level / 2);
    return requests.map((r) => {
      const m = Math.max(1, r.season ?? 1);
      const predicted = seasonalNaiveForecast(r.history, r.horizon, m);
      const sigma = seasonalScale(r.history, m, 0) * 1.2533;
      const clip = nonNeg(r.history);
      const lower: number[] = [];
      const upper: number[] = [];
      predicted.forEach((p, i) => {
        const w = z * sigma * Math.sqrt(Math.floor(i / m) + 1);
        lower.push(clip ? Math.max(0, p - w) : p - w);
        upper.push(p + w);
      });
      return { predicted, lower, upper, model: this.name };
    });
  }
}

/** Holt-Winters as a batch `Forecaster`: fits each series, then forecasts. */
export class HoltWinters implements Forecaster {
  readonly name = 'holt_winters';
  constructor(
    private readonly level = 0.9,
    private readonly fit: HWFitOptions = {},
  ) {}
  forecastBatch(requests: ForecastRequest[]): SeriesForecast[] {
    return requests.map((r) => {
      const { state, sse } = fitHoltWinters(r.history, r.season ?? 1, this.fit);
      const predicted = state.forecast(r.horizon);
      const sigma = Math.sqrt(sse / Math.max(1, r.history.length - 2 * state.m)) || state.mae * 1.2533;
      const w = hwHalfWidths(state, sigma, r.horizon, this.level);
      const clip = nonNeg(r.history);
      return {
        predicted: clip ? predicted.map((p) => Math.max(0, p)) : predicted,
        lower: predicted.map((p, i) => (clip ? Math.max(0, p - w[i]!) : p - w[i]!)),
        upper: predicted.map((p, i) => p + w[i]!),
        model: this.name,
      };
    });
  }
}
