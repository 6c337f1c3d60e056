/**
 * `shardcast bench forecast`: (1) accuracy of the online forecaster, rolling-origin, on the
 * generated suite and on real public series (vega-datasets), against seasonal naive and
 * Holt-Winters; (2) speed of one update (train step + forecast) for 1k/10k/100k series per
 * backend. Everything printed is measured in this run, with the backend that ran it.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendName, type BackendPref } from '../models/backend.js';
import { rollingOriginEval, type EvalSummary, type MetricSet } from '../models/evaluate.js';
import { OnlineForecaster } from '../models/online.js';
import { HW_FIT_BUDGET } from '../models/options.js';
import { rng } from '../models/util.js';
import { generateSuite } from './forecastSuite.js';
import { loadCo2, loadUnemployment } from './forecastData.js';

export interface ForecastBenchOptions {
  json?: boolean;
  /** Series counts for the speed part (default [1000, 10000, 100000]). */
  sizes?: number[];
  /** Backends for the speed part (default ['wasm', 'cpu']). */
  backends?: BackendPref[];
  /** Skip parts. */
  accuracy?: boolean;
  speed?: boolean;
  /** Weeks in the generated suite (default 6). */
  weeks?: number;
  /** Per-size time limit for the pure-JS cpu backend: larger sizes are skipped (default 10000 series). */
  cpuMaxSeries?: number;
  log?: (line: string) => void;
}

export interface AccuracyRow {
  dataset: string;
  series: string;
  seasonal: boolean;
  season: number;
  ensemble: number;
  seasonalNaive: number;
  holtWinters: number;
  global: number;
  coverage: number;
  ratioToSeasonalNaive: number;
  ratioToHoltWinters: number;
  notWorseThanHoltWinters: boolean;
}

export interface SpeedRow {
  backend: string;
  series: number;
  /** Seconds for one update (score + baselines + train step + batched forecast + combine). */
  updateSeconds: number;
  trainSeconds: number;
  forecastSeconds: number;
  /** First step (Holt-Winters fits for every series, first training). */
  coldStepSeconds: number;
  observeSeconds: number;
  trainRows: number;
  forecasts: number;
  withinWindow10s: boolean;
  heapMiB: number;
  error?: string;
}

export interface ForecastBenchReport {
  backendForAccuracy: string | null;
  accuracy: {
    rows: AccuracyRow[];
    suite: {
      meanRatioToSeasonalNaive: number;
      targetRatio: number;
      ratioOk: boolean;
      seasonalNotWorseThanHw: boolean;
      /** Seasonal suite series where the ensemble's MASE is above Holt-Winters'. */
      worseThanHw: string[];
      coverage: number;
      nominal: number;
      coverageOk: boolean;
      models: Record<string, MetricSet>;
    };
    real: { dataset: string; source: string; models: Record<string, MetricSet>; worseThanHw: string[]; series: number }[];
  } | null;
  speed: SpeedRow[];
}

function rowsOf(dataset: string, sum: EvalSummary, seasonal: (id: string) => boolean): AccuracyRow[] {
  return Object.entries(sum.perSeries).map(([id, m]) => {
    const e = m.ensemble!,
      sn = m.seasonal_naive!,
      hw = m.holt_winters;
    return {
      dataset,
      series: id,
      seasonal: seasonal(id),
      season: sum.seasons[id] ?? 1,
      ensemble: e.mase,
      seasonalNaive: sn.mase,
      holtWinters: hw?.mase ?? NaN,
      global: m.global?.mase ?? NaN,
      coverage: e.coverage,
      ratioToSeasonalNaive: e.mase / sn.mase,
      ratioToHoltWinters: hw ? e.mase / hw.mase : NaN,
      notWorseThanHoltWinters: !(hw && e.mase > hw.mase),
    };
  });
}

/** One update for n series on the current backend. */
export async function speedRun(
  n: number,
  backend: string,
  opts: { horizon?: number; season?: number; prefill?: number } = {},
): Promise<SpeedRow> {
  const H = opts.horizon ?? 12,
    m = opts.season ?? 24,
    P = opts.prefill ?? 200;
  const stepMs = 60_000;
  const f = new OnlineForecaster({
    stepMs,
    horizon: H,
    season: m,
    backend,
    hwFitBudget: Infinity,
    historyLength: 256,
    nonNegative: true,
  });
  const r = rng(n);
  const base = Float64Array.from({ length: n }, () => 10 + r() * 500);
  const amp = Float64Array.from({ length: n }, () => r() * 0.8);
  const phase = Float64Array.from({ length: n }, () => Math.floor(r() * m));
  const ids = Array.from({ length: n }, (_, i) => `bench/s${i}`);
  const val = (i: number, t: number): number =>
    base[i]! * (1 + amp[i]! * Math.sin((2 * Math.PI * (t + phase[i]!)) / m)) * (0.9 + 0.2 * r());
  let t0 = performance.now();
  for (let t = 0; t < P; t++) for (let i = 0; i < n; i++) f.observe(ids[i]!, t * stepMs, val(i, t));
  t0 = performance.now();
  await f.step((P - 1) * stepMs);
  const cold = (performance.now() - t0) / 1000;
  f.opts.hwFitBudget = HW_FIT_BUDGET;
  t0 = performance.now();
  for (let i = 0; i < n; i++) f.observe(ids[i]!, P * stepMs, val(i, P));
  const observeSeconds = (performance.now() - t0) / 1000;
  t0 = performance.now();
  const out = await f.step(P * stepMs);
  const updateSeconds = (performance.now() - t0) / 1000;
  const tm = f.lastTimings;
  f.global?.dispose();
  return {
    backend,
    series: n,
    updateSeconds,
    trainSeconds: (tm['update.global'] ?? 0) / 1000,
    forecastSeconds: ((tm['forecast.global'] ?? 0) + (tm.combine ?? 0)) / 1000,
    coldStepSeconds: cold,
    observeSeconds,
    trainRows: tm.trainRows ?? 0,
    forecasts: out.length,
    withinWindow10s: updateSeconds <= 10,
    heapMiB: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
  };
}

const f3 = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : '—');

export async function runForecastBench(opts: ForecastBenchOptions = {}): Promise<ForecastBenchReport> {
  const log =
    opts.log ??
    ((l: string) => {
      if (!opts.json) console.log(l);
    });
  const report: ForecastBenchReport = { backendForAccuracy: null, accuracy: null, speed: [] };
  if (opts.accuracy !== false) {
    const backend = await initBackend('wasm');
    report.backendForAccuracy = backend;
    log(`forecast accuracy (rolling origin, horizon 12, 90% intervals), backend ${backend}`);
    const suite = generateSuite({ weeks: opts.weeks ?? 6 });
    const s = await rollingOriginEval(suite, { horizon: 12, backend });
    const rows = rowsOf('suite', s, (id) => suite.find((x) => x.id === id)?.seasonal ?? false);
    const real: NonNullable<ForecastBenchReport['accuracy']>['real'] = [];
    for (const load of [loadCo2, loadUnemployment]) {
      const d = await load();
      const r = await rollingOriginEval(d.series, { horizon: 12, season: d.season, backend });
      const dRows = rowsOf(d.name, r, () => true);
      rows.push(...dRows);
      real.push({
        dataset: d.name,
        source: d.source,
        models: r.models,
        worseThanHw: dRows.filter((x) => !x.notWorseThanHoltWinters).map((x) => x.series),
        series: dRows.length,
      });
    }
    const suiteRows = rows.filter((r) => r.dataset === 'suite');
    const meanRatio = suiteRows.reduce((a, r) => a + r.ratioToSeasonalNaive, 0) / suiteRows.length;
    const cov = s.models.ensemble?.coverage ?? NaN;
    report.accuracy = {
      rows,
      suite: {
        meanRatioToSeasonalNaive: meanRatio,
        targetRatio: 0.8,
        ratioOk: meanRatio <= 0.8,
        seasonalNotWorseThanHw: suiteRows.filter((r) => r.seasonal).every((r) => r.notWorseThanHoltWinters),
        worseThanHw: suiteRows.filter((r) => r.seasonal && !r.notWorseThanHoltWinters).map((r) => r.series),
        coverage: cov,
        nominal: 0.9,
        coverageOk: Math.abs(cov - 0.9) <= 0.05,
        models: s.models,
      },
      real,
    };
    log('dataset/series                          season  MASE: ensemble  s.naive  holt-w.  global | cover  ens/sn  ens/hw');
    for (const r of rows) {
      log(
        `${`${r.dataset}/${r.series}`.slice(0, 40).padEnd(40)}${String(r.season).padStart(4)}   ${f3(r.ensemble).padStart(8)} ${f3(r.seasonalNaive).padStart(8)} ${f3(r.holtWinters).padStart(8)} ${f3(r.global).padStart(7)} | ${f3(r.coverage)}  ${f3(r.ratioToSeasonalNaive)}   ${f3(r.ratioToHoltWinters)}${r.seasonal && !r.notWorseThanHoltWinters ? '  (worse than HW)' : ''}`,
      );
    }
    const a = report.accuracy.suite;
    log(
      `suite: mean ensemble/seasonal-naive MASE ratio ${f3(meanRatio)} (target ≤ 0.8: ${a.ratioOk ? 'met' : 'NOT met'}); ensemble ≤ HW on every seasonal series: ${a.seasonalNotWorseThanHw ? 'yes' : `no (${a.worseThanHw.join(', ')})`}; coverage ${f3(cov)} vs nominal 0.9 (${a.coverageOk ? 'within' : 'NOT within'} 5 points)`,
    );
    for (const r of real) {
      log(
        `${r.dataset}: ${Object.entries(r.models)
          .map(([k, v]) => `${k} MASE ${f3(v.mase)} cov ${f3(v.coverage)}`)
          .join('; ')}`,
      );
      log(
        `${r.dataset}: ensemble ≤ HW on ${r.series - r.worseThanHw.length} of ${r.series} series${r.worseThanHw.length ? ` (worse on ${r.worseThanHw.join(', ')})` : ''}`,
      );
    }
  }
  if (opts.speed !== false) {
    const sizes = opts.sizes ?? [1000, 10000, 100000];
    for (const pref of opts.backends ?? (['wasm', 'cpu'] as BackendPref[])) {
      let name: BackendName;
      try {
        name = await initBackend(pref);
      } catch (err) {
        log(`backend ${pref}: unavailable (${(err as Error).message})`);
        continue;
      }
      if (pref !== 'auto' && name !== pref) {
        log(`backend ${pref}: unavailable, fell back to ${name}; skipped`);
        continue;
      }
      for (const n of sizes) {
        if (name === 'cpu' && n > (opts.cpuMaxSeries ?? 10000)) {
          log(`speed ${name} ${n} series: skipped (pure-JS cpu backend limited to ${opts.cpuMaxSeries ?? 10000} series in this bench)`);
          continue;
        }
        try {
          const row = await speedRun(n, name);
          report.speed.push(row);
          log(
            `speed ${name} ${String(n).padStart(6)} series: one update ${row.updateSeconds.toFixed(2)} s (train ${row.trainSeconds.toFixed(2)} s on ${row.trainRows} windows, forecast+combine ${row.forecastSeconds.toFixed(2)} s); cold first step ${row.coldStepSeconds.toFixed(2)} s; ${row.withinWindow10s ? 'within' : 'NOT within'} a 10 s window`,
          );
        } catch (err) {
          report.speed.push({
            backend: name,
            series: n,
            updateSeconds: NaN,
            trainSeconds: NaN,
            forecastSeconds: NaN,
            coldStepSeconds: NaN,
            observeSeconds: NaN,
            trainRows: 0,
            forecasts: 0,
            withinWindow10s: false,
            heapMiB: 0,
            error: (err as Error).message,
          });
          log(`speed ${name} ${n} series: failed: ${(err as Error).message}`);
        }
        tf.disposeVariables();
      }
    }
  }
  // The caller prints the report (`shardcast bench forecast --json` writes it once, to stdout).
  return report;
}
