/**
 * A small forecaster for the simulator's predictive policy, behind the project's Forecaster
 * interface (models/forecaster.ts) so the real ensemble can be plugged in instead:
 * - with a season and enough history: seasonal naive (smoothed over 5 steps) plus the level
 *   shift between the last 5 steps and the same 5 steps a season earlier;
 * - otherwise: a damped linear trend fitted to the last 15 steps (catches ramps early).
 * Intervals: ±1.64 σ·√(1 + h/10), σ the method's recent residual spread (≈ 90%).
 */
import type { Forecaster, ForecastRequest, SeriesForecast } from '../../models/forecaster.js';

function clean(h: ArrayLike<number>): number[] {
  const out: number[] = [];
  let last = 0;
  for (let i = 0; i < h.length; i++) { const v = h[i]!; last = Number.isFinite(v) ? v : last; out.push(last); }
  return out;
}

const mean = (a: number[], from: number, to: number) => {
  let s = 0, n = 0;
  for (let i = Math.max(0, from); i < to; i++) { s += a[i]!; n++; }
  return n ? s / n : 0;
};

export function forecastOne(req: ForecastRequest): SeriesForecast {
  const y = clean(req.history);
  const n = y.length, H = req.horizon, S = req.season ?? 0;
  const predicted: number[] = [], lower: number[] = [], upper: number[] = [];
  if (n === 0) {
    return { predicted: Array(H).fill(0), lower: Array(H).fill(0), upper: Array(H).fill(0), model: 'sim-empty' };
  }
  const m = 5;
  if (S > 0 && n >= S + 30 && H <= S) {
    const d = mean(y, n - m, n) - mean(y, n - m - S, n - S);
    const analog = (i: number) => mean(y, i - 2, i + 3);
    let ss = 0, cnt = 0;
    for (let i = n - 30; i < n; i++) {
      const e = y[i]! - (analog(i - S) + d);
      ss += e * e; cnt++;
    }
    const sigma = Math.sqrt(ss / Math.max(1, cnt));
    for (let h = 1; h <= H; h++) {
      const p = Math.max(0, analog(n - 1 + h - S) + d);
      const w = 1.64 * sigma * Math.sqrt(1 + h / 10);
      predicted.push(p); lower.push(Math.max(0, p - w)); upper.push(p + w);
    }
    return { predicted, lower, upper, model: 'sim-seasonal' };
  }
  const L = Math.min(15, n);
  const xs = Array.from({ length: L }, (_, i) => i), ys = y.slice(n - L);
  const xm = (L - 1) / 2, ym = ys.reduce((a, b) => a + b, 0) / L;
  let sxy = 0, sxx = 0;
  for (let i = 0; i < L; i++) { sxy += (xs[i]! - xm) * (ys[i]! - ym); sxx += (xs[i]! - xm) ** 2; }
  const b = sxx > 0 ? sxy / sxx : 0;
  const level = ym + b * (L - 1 - xm);
  let ss = 0;
  for (let i = 0; i < L; i++) ss += (ys[i]! - (ym + b * (xs[i]! - xm))) ** 2;
  const sigma = Math.sqrt(ss / Math.max(1, L - 2));
  let acc = 0, damp = 1;
  for (let h = 1; h <= H; h++) {
    damp *= 0.95;
    acc += damp;
    const p = Math.max(0, level + b * acc);
    const w = 1.64 * sigma * Math.sqrt(1 + h / 10);
    predicted.push(p); lower.push(Math.max(0, p - w)); upper.push(p + w);
  }
  return { predicted, lower, upper, model: 'sim-trend' };
}

export class SimForecaster implements Forecaster {
  readonly name = 'sim-seasonal-trend';
  forecastBatch(requests: ForecastRequest[]): SeriesForecast[] {
    return requests.map(forecastOne);
  }
}
