/**
 * A small forecaster for the simulator's predictive policy, behind the project's Forecaster
 * interface (models/forecaster.ts) so the real ensemble can be plugged in instead:
 * - with a season and enough history: seasonal naive (smoothed over 5 steps) plus the level
 *   shift between the last 5 steps and the same 5 steps a season earlier;
 * - otherwise: a damped linear trend fitted to the last 15 steps (catches ramps early).
 * Intervals (≈ 90%): ±1.64 σ_h. Seasonal: σ_h is measured, by replaying the method from the
 * last origins of the history itself and taking the RMS of its h-step errors (on a few
 * horizons, interpolated between them), so the width follows the error the method really makes
 * (for a stable season it hardly grows with h); where the history is too short for that, and for
 * the trend method, σ·√(1 + h/10) with σ the recent residual spread.
 */
import type { Forecaster, ForecastRequest, SeriesForecast } from '../../models/forecaster.js';

function clean(h: ArrayLike<number>): number[] {
  const out: number[] = [];
  let last = 0;
  for (let i = 0; i < h.length; i++) {
    const v = h[i]!;
    last = Number.isFinite(v) ? v : last;
    out.push(last);
  }
  return out;
}

const mean = (a: number[], from: number, to: number) => {
  let s = 0,
    n = 0;
  for (let i = Math.max(0, from); i < to; i++) {
    s += a[i]!;
    n++;
  }
  return n ? s / n : 0;
};

/** Origins replayed per horizon, and the fewest that still give a measured spread. */
const BACKTEST_ORIGINS = 40;
const MIN_ORIGINS = 10;

/**
 * σ per horizon for the seasonal method, as a function of the predicted level: the errors it
 * would have made h steps ahead from each of the last BACKTEST_ORIGINS origins of `y` (level
 * shift re-estimated at each origin), both as they are and relative to what was predicted
 * (load noise grows with the level, and the origins replayed may sit at another time of day
 * than the forecast); σ_h(p) = max(absolute RMS, relative RMS × p). Measured at h = 1, H/4,
 * H/2, H and interpolated linearly; never below the in-sample spread. Horizons without
 * MIN_ORIGINS origins fall back to σ·√(1 + h/10).
 */
function seasonalErrorSpread(
  y: number[],
  S: number,
  m: number,
  H: number,
  sigma: number,
  analog: (i: number) => number,
): (h: number, p: number) => number {
  const n = y.length;
  const grid = [...new Set([1, Math.ceil(H / 4), Math.ceil(H / 2), H])].sort((a, b) => a - b);
  const measured: { h: number; abs: number; rel: number }[] = [];
  for (const h of grid) {
    let ss = 0,
      sr = 0,
      cnt = 0;
    // origin i: y[0..i) observed, forecast for index i - 1 + h
    for (let i = Math.max(S + m, n - h - BACKTEST_ORIGINS + 1); i <= n - h; i++) {
      const d = mean(y, i - m, i) - mean(y, i - m - S, i - S);
      const p = Math.max(0, analog(i - 1 + h - S) + d);
      const e = y[i - 1 + h]! - p;
      ss += e * e;
      // relative to the larger of prediction and actual: a prediction near zero (the range was
      // cold a season ago) that met real load is a 100% miss, not one of thousands of percent
      // that would put the upper bound thousands of times above any load ever seen
      sr += (e / Math.max(p, Math.abs(y[i - 1 + h]!), 1)) ** 2;
      cnt++;
    }
    if (cnt >= MIN_ORIGINS) measured.push({ h, abs: Math.max(sigma, Math.sqrt(ss / cnt)), rel: Math.sqrt(sr / cnt) });
  }
  const last = measured[measured.length - 1];
  return (h, p) => {
    if (!last || h > last.h) return sigma * Math.sqrt(1 + h / 10);
    const j = measured.findIndex((x) => x.h >= h);
    const b = measured[j]!,
      a = j > 0 ? measured[j - 1]! : b;
    const f = b.h === a.h ? 0 : (h - a.h) / (b.h - a.h);
    return Math.max(a.abs + (b.abs - a.abs) * f, (a.rel + (b.rel - a.rel) * f) * p);
  };
}

export function forecastOne(req: ForecastRequest): SeriesForecast {
  const y = clean(req.history);
  const n = y.length,
    H = req.horizon,
    S = req.season ?? 0;
  const predicted: number[] = [],
    lower: number[] = [],
    upper: number[] = [];
  if (n === 0) {
    return { predicted: Array(H).fill(0), lower: Array(H).fill(0), upper: Array(H).fill(0), model: 'sim-empty' };
  }
  const m = 5;
  if (S > 0 && n >= S + 30 && H <= S) {
    const d = mean(y, n - m, n) - mean(y, n - m - S, n - S);
    const analog = (i: number) => mean(y, i - 2, i + 3);
    let ss = 0,
      cnt = 0;
    for (let i = n - 30; i < n; i++) {
      const e = y[i]! - (analog(i - S) + d);
      ss += e * e;
      cnt++;
    }
    const sigma = Math.sqrt(ss / Math.max(1, cnt));
    const sigmaAt = seasonalErrorSpread(y, S, m, H, sigma, analog);
    for (let h = 1; h <= H; h++) {
      const p = Math.max(0, analog(n - 1 + h - S) + d);
      const w = 1.64 * sigmaAt(h, p);
      predicted.push(p);
      lower.push(Math.max(0, p - w));
      upper.push(p + w);
    }
    return { predicted, lower, upper, model: 'sim-seasonal' };
  }
  const L = Math.min(15, n);
  const xs = Array.from({ length: L }, (_, i) => i),
    ys = y.slice(n - L);
  const xm = (L - 1) / 2,
    ym = ys.reduce((a, b) => a + b, 0) / L;
  let sxy = 0,
    sxx = 0;
  for (let i = 0; i < L; i++) {
    sxy += (xs[i]! - xm) * (ys[i]! - ym);
    sxx += (xs[i]! - xm) ** 2;
  }
  const b = sxx > 0 ? sxy / sxx : 0;
  const level = ym + b * (L - 1 - xm);
  let ss = 0;
  for (let i = 0; i < L; i++) ss += (ys[i]! - (ym + b * (xs[i]! - xm))) ** 2;
  const sigma = Math.sqrt(ss / Math.max(1, L - 2));
  let acc = 0,
    damp = 1;
  for (let h = 1; h <= H; h++) {
    damp *= 0.95;
    acc += damp;
    const p = Math.max(0, level + b * acc);
    const w = 1.64 * sigma * Math.sqrt(1 + h / 10);
    predicted.push(p);
    lower.push(Math.max(0, p - w));
    upper.push(p + w);
  }
  return { predicted, lower, upper, model: 'sim-trend' };
}

export class SimForecaster implements Forecaster {
  readonly name = 'sim-seasonal-trend';
  forecastBatch(requests: ForecastRequest[]): SeriesForecast[] {
    return requests.map(forecastOne);
  }
}
