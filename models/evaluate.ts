/**
 * Rolling-origin evaluation and the accuracy metrics.
 *
 * The protocol is the online one the pipeline runs: every step, the values of that step are
 * observed and `step()` scores the forecasts that matured, trains, and forecasts 1..H ahead.
 * Steps before the warm-up point run exactly like that (the pipeline forecasts from its first
 * window, so every model has a track record and the intervals a calibration by the time the
 * metrics start) but are not measured; at the warm-up point the global model gets a warm fit
 * on the history so far, and from then on every step is a measured origin whose forecasts are
 * compared with the actual values once known. Nothing after an origin is seen before its
 * forecasts are made: without a configured season, seasons are detected from the steps before
 * the first measured origin only.
 *
 * MASE scales each series' absolute errors by the in-sample seasonal-naive MAE over the
 * warm-up part (Hyndman & Koehler 2006); sMAPE is 200·|a−p|/(|a|+|p|) in percent (0 when both
 * are 0); coverage is the share of actuals inside [lower, upper].
 */
import { OnlineForecaster } from './online.js';
import type { OnlineForecasterOptions } from './options.js';
import { MODEL_NAMES } from './registry.js';
import { detectSeason, detectSeasonPooled } from './season.js';
import { seasonalScale } from './util.js';

/** Mean absolute scaled error. */
export function mase(actual: ArrayLike<number>, predicted: ArrayLike<number>, scale: number): number {
  let s = 0,
    n = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!,
      p = predicted[i]!;
    if (Number.isFinite(a) && Number.isFinite(p)) {
      s += Math.abs(a - p);
      n++;
    }
  }
  return n && scale > 0 ? s / n / scale : NaN;
}

/** Symmetric MAPE in percent (a pair of zeros counts as 0 error). */
export function smape(actual: ArrayLike<number>, predicted: ArrayLike<number>): number {
  let s = 0,
    n = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!,
      p = predicted[i]!;
    if (!Number.isFinite(a) || !Number.isFinite(p)) continue;
    const d = Math.abs(a) + Math.abs(p);
    s += d === 0 ? 0 : (200 * Math.abs(a - p)) / d;
    n++;
  }
  return n ? s / n : NaN;
}

/** Share of actuals inside [lower, upper]. */
export function coverage(actual: ArrayLike<number>, lower: ArrayLike<number>, upper: ArrayLike<number>): number {
  let inside = 0,
    n = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    if (!Number.isFinite(a) || !Number.isFinite(lower[i]!) || !Number.isFinite(upper[i]!)) continue;
    if (a >= lower[i]! && a <= upper[i]!) inside++;
    n++;
  }
  return n ? inside / n : NaN;
}

export interface EvalSeries {
  id: string;
  /** One value per step (aligned), NaN for gaps. */
  values: ArrayLike<number>;
}

export interface EvalRow {
  /** Target step index. */
  step: number;
  series: string;
  horizon: number;
  actual: number;
  model: string;
  predicted: number;
  lower: number;
  upper: number;
}

export interface RollingEvalOptions {
  horizon: number;
  /** Season in steps; detected per series when absent. */
  season?: number;
  /** Steps seen before the first origin (default: max(2·season + horizon, a third of the length)). */
  warmup?: number;
  /** Epochs of the warm fit of the global model (default 30). */
  warmEpochs?: number;
  /** Run the forecaster (unmeasured) through the warm-up steps too, as the pipeline would (default true). */
  stepWarmup?: boolean;
  level?: number;
  /** Extra options for the OnlineForecaster. */
  forecaster?: Partial<OnlineForecasterOptions>;
  /** Receives every prediction row (for CSV output). */
  onRow?: (row: EvalRow) => void;
  backend?: string | null;
}

export interface MetricSet {
  mase: number;
  smape: number;
  coverage: number;
  n: number;
}

export interface EvalSummary {
  horizon: number;
  level: number;
  steps: number;
  warmup: number;
  origins: number;
  series: number;
  seasons: Record<string, number>;
  backend: string | null;
  models: Record<string, MetricSet>;
  perSeries: Record<string, Record<string, MetricSet>>;
  seconds: number;
}

class Acc {
  ae = 0;
  sm = 0;
  smN = 0;
  inside = 0;
  covN = 0;
  n = 0;
  add(a: number, p: number, lo: number, hi: number, scale: number): void {
    this.ae += Math.abs(a - p) / scale;
    this.n++;
    const d = Math.abs(a) + Math.abs(p);
    this.sm += d === 0 ? 0 : (200 * Math.abs(a - p)) / d;
    this.smN++;
    if (Number.isFinite(lo) && Number.isFinite(hi)) {
      if (a >= lo && a <= hi) this.inside++;
      this.covN++;
    }
  }
  get(): MetricSet {
    return {
      mase: this.n ? this.ae / this.n : NaN,
      smape: this.smN ? this.sm / this.smN : NaN,
      coverage: this.covN ? this.inside / this.covN : NaN,
      n: this.n,
    };
  }
}

/** Rolling-origin evaluation of the online forecaster over aligned series. */
export async function rollingOriginEval(series: EvalSeries[], opts: RollingEvalOptions): Promise<EvalSummary> {
  const t0 = performance.now();
  const H = opts.horizon;
  const T = Math.max(0, ...series.map((s) => s.values.length));
  const seasons: Record<string, number> = {};
  // Seasons are detected only from steps before the first measured origin (at most a third of
  // the data), so a measured forecast never depends on data after its origin.
  const prefix = Math.min(Math.max(Math.floor(T / 3), 2 * H), Math.max(T - H - 1, 1), opts.warmup ?? Infinity);
  const head = series.map((s) => Array.prototype.slice.call(s.values, 0, prefix) as number[]);
  // One pooled season for the step, then each series picks it, a multiple of it, or none.
  const pooled = opts.season ?? detectSeasonPooled(head);
  const maxLag = Math.floor(prefix / 3);
  const cands = pooled > 1 ? Array.from({ length: Math.max(1, Math.floor(maxLag / pooled)) }, (_, k) => pooled * (k + 1)) : [];
  series.forEach((s, i) => {
    seasons[s.id] = opts.season ?? (cands.length ? detectSeason(head[i]!, { candidates: cands, maxLag: Math.max(maxLag, pooled) }) : 1);
  });
  const seasonList = Object.values(seasons);
  const hint = opts.season ?? Math.max(1, ...seasonList);
  const warmup = opts.warmup ?? Math.max(prefix, Math.min(Math.max(2 * hint + H, Math.floor(T / 3)), Math.max(T - H - 1, 1)));
  const candidates = opts.season ? undefined : [...new Set(seasonList.filter((m) => m > 1))];
  const f = new OnlineForecaster({
    stepMs: 1,
    horizon: H,
    level: opts.level ?? 0.9,
    ...(opts.season ? { season: opts.season } : candidates?.length ? { seasonCandidates: candidates } : {}),
    seriesSeasons: seasons,
    lags: Math.min(336, Math.max(2 * H, hint <= 48 ? 7 * hint : 2 * hint, 8), Math.max(2 * H, warmup - H)),
    historyLength: Math.max(T + 1, 64),
    staleAfterSteps: T,
    evictAfterSteps: T + 1,
    nonNegative: 'auto',
    backend: opts.backend ?? null,
    ...opts.forecaster,
  });
  f.keepDetails = true;
  const scales = new Map<string, number>();
  for (const s of series) {
    const m = seasons[s.id]!;
    scales.set(s.id, seasonalScale(Array.prototype.slice.call(s.values, 0, warmup) as number[], m, 1e-9));
  }
  const byId = new Map(series.map((s) => [s.id, s]));
  const acc = new Map<string, Acc>();
  const per = new Map<string, Map<string, Acc>>();
  const get = (sid: string, model: string): [Acc, Acc] => {
    let a = acc.get(model);
    if (!a) {
      a = new Acc();
      acc.set(model, a);
    }
    let ps = per.get(sid);
    if (!ps) {
      ps = new Map();
      per.set(sid, ps);
    }
    let b = ps.get(model);
    if (!b) {
      b = new Acc();
      ps.set(model, b);
    }
    return [a, b];
  };
  let origins = 0;
  for (let t = 0; t < T; t++) {
    for (const s of series) {
      const v = s.values[t];
      if (v !== undefined && Number.isFinite(v)) f.observe(s.id, t, v);
    }
    if (t < warmup - 1) {
      if (opts.stepWarmup !== false && f.size) await f.step(t);
      continue;
    }
    if (t === warmup - 1) await f.warmFit(opts.warmEpochs ?? 30, { maxPerSeries: 2000 });
    if (t >= T - 1) break;
    await f.step(t);
    origins++;
    for (const d of f.lastDetails) {
      const s = byId.get(d.seriesId)!;
      const scale = scales.get(d.seriesId)!;
      d.models.forEach((mf, mi) => {
        if (!mf) return;
        const model = MODEL_NAMES[mi]!;
        for (let h = 1; h <= H && t + h < T; h++) {
          const a = s.values[t + h]!;
          if (!Number.isFinite(a)) continue;
          const p = mf.predicted[h - 1]!,
            lo = mf.lower[h - 1]!,
            hi = mf.upper[h - 1]!;
          const [ga, sa] = get(d.seriesId, model);
          ga.add(a, p, lo, hi, scale);
          sa.add(a, p, lo, hi, scale);
          opts.onRow?.({ step: t + h, series: d.seriesId, horizon: h, actual: a, model, predicted: p, lower: lo, upper: hi });
        }
      });
    }
  }
  f.global?.dispose();
  const models: Record<string, MetricSet> = {};
  for (const m of MODEL_NAMES) if (acc.has(m)) models[m] = acc.get(m)!.get();
  const perSeries: Record<string, Record<string, MetricSet>> = {};
  for (const [sid, mm] of per) {
    perSeries[sid] = {};
    for (const m of MODEL_NAMES) if (mm.has(m)) perSeries[sid]![m] = mm.get(m)!.get();
  }
  return {
    horizon: H,
    level: opts.level ?? 0.9,
    steps: T,
    warmup,
    origins,
    series: series.length,
    seasons,
    backend: opts.backend ?? null,
    models,
    perSeries,
    seconds: (performance.now() - t0) / 1000,
  };
}
