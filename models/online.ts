/**
 * OnlineForecaster: what the forecast pipeline drives. Observations arrive per series and
 * window (`observe`); once per window `step(now)` scores the forecasts that matured, lets every
 * model of the list (registry.ts: seasonal naive, Holt-Winters, the global tfjs model) consume
 * the new observations and refit or train within its budget, and forecasts every active series,
 * combining the models per series by their recent error.
 *
 * The step's parts live beside it: scoring of matured forecasts (scoring.ts), the ensemble's
 * combination per series (combination.ts, with the stages in ensemble.ts), the pooled
 * conformal intervals (calibrator.ts), the per-series state (series.ts) and its checkpoint
 * records (seriesSnapshot.ts, checkpoint.ts).
 */
import type { Forecast } from '../schemas/types.js';
import { StateError } from '../lib/errors.js';
import { logger } from '../lib/log.js';
import { ConformalCalibrator } from './calibrator.js';
import { loadCheckpoint, saveCheckpoint, type CheckpointResult, type RunState, type SeriesSnapshot } from './checkpoint.js';
import { EnsembleCombiner, type ForecastDetail } from './combination.js';
import type { GlobalModel } from './global.js';
import { HistoryStore } from './history.js';
import type { ForecastModel } from './model.js';
import { type OnlineForecasterOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { type GlobalForecastModel, isGlobalModel } from './plugins/global.js';
import { MODELS } from './registry.js';
import { ForecastScorer } from './scoring.js';
import { detectSeason } from './season.js';
import { restoreSeries, snapshotSeries } from './seriesSnapshot.js';
import { type SeriesState, lastObserved, newSeriesState } from './series.js';
import { rng } from './util.js';
import type { Rng } from '../lib/rng.js';

export class OnlineForecaster {
  readonly opts: ResolvedOptions;
  readonly history: HistoryStore;
  readonly calibrator: ConformalCalibrator;
  /** The models combined, in the registry's order. */
  readonly models: readonly ForecastModel[];
  /** Their names, as checkpoints record them. */
  readonly modelNames: readonly string[] = MODELS.map((m) => m.name);
  private readonly globalModel: GlobalForecastModel | undefined;
  private readonly scorer: ForecastScorer;
  private readonly combiner: EnsembleCombiner;
  private readonly series = new Map<string, SeriesState>();
  private readonly rand: Rng;
  private readonly log = logger('forecast.online');
  /** Steps taken, and the last step's timings (ms) and counters. */
  stepCount = 0;
  lastTimings: Record<string, number> = {};
  lastStep = -Infinity;
  /** Per-model details of the last step (only when `keepDetails` is set). */
  keepDetails = false;
  lastDetails: ForecastDetail[] = [];

  constructor(options: OnlineForecasterOptions) {
    const o = resolveOptions(options);
    this.opts = o;
    this.history = new HistoryStore({ maxLength: o.historyLength, maxSeries: o.maxSeries });
    this.history.onEvict = (id) => this.series.delete(id);
    this.calibrator = new ConformalCalibrator(this.modelNames.length + 1, o.horizon, o.level);
    this.scorer = new ForecastScorer(o, this.history, this.calibrator, this.modelNames.length);
    this.rand = rng(o.seed);
    this.models = MODELS.map((entry, index) => {
      const m = entry.create({
        opts: o,
        history: this.history,
        index,
        indexOf: (name) => this.modelNames.indexOf(name),
        rand: this.rand,
        steps: () => this.stepCount,
        restartRecord: (s, now) => this.scorer.restartRecord(s, index, now),
      });
      if (m.name !== entry.name) throw new StateError(`model registered as ${entry.name} calls itself ${m.name}`);
      return m;
    });
    this.globalModel = this.models.find(isGlobalModel);
    this.combiner = new EnsembleCombiner(o, this.models, this.calibrator, this.scorer);
  }

  /** The global network (null when disabled). */
  get global(): GlobalModel | null {
    return this.globalModel?.net ?? null;
  }

  /** Series currently tracked. */
  get size(): number {
    return this.series.size;
  }

  /** Records one window's value for a series. */
  observe(seriesId: string, windowStart: number, value: number): void {
    const o = this.opts;
    const step = Math.round(windowStart / o.stepMs);
    let v = Number.isFinite(value) ? value : NaN;
    if (v < 0 && o.nonNegative === true) v = 0;
    const h = this.history.observe(seriesId, step, v);
    if (!h) return;
    let s = this.series.get(seriesId);
    if (!s) {
      const known = o.season || o.seriesSeasons?.[seriesId];
      s = newSeriesState(h, this.models.length, o.horizon, {
        season: o.season ?? o.seriesSeasons?.[seriesId] ?? 1,
        seasonAt: known ? Infinity : 0,
        slots: this.models.map((m) => m.initSeries(step)),
        accounted: step - 1,
      });
      this.series.set(seriesId, s);
    }
    if (v < 0) s.sawNegative = true;
    // A late value for a step the models already consumed is kept in history only.
  }

  /** Per-series season: configured, or detected as the history grows (at 32, 64, 128... observations). */
  private refreshSeason(s: SeriesState): void {
    if (this.opts.season || s.seasonAt === Infinity) return;
    const n = s.h.observed;
    if (n < 32 || n < 2 * s.seasonAt) return;
    s.seasonAt = n;
    const span = this.history.span(s.h);
    const x = new Float64Array(span);
    this.history.read(s.h, s.h.lastStep, span, x);
    const m = detectSeason(
      x,
      this.opts.seasonCandidates ? { candidates: this.opts.seasonCandidates } : { maxLag: Math.min(400, Math.floor(span / 2.5)) },
    );
    if (m !== s.season) {
      s.season = m;
      for (const model of this.models) model.seasonChanged?.(s);
    }
  }

  /**
   * One step at window `nowWindowStart` (the newest complete window): score, update, train on
   * schedule, forecast all active series. Returns one Forecast per active series, or only for
   * the series in `only` when given. Stepping again at the same window (e.g. for series whose
   * windows arrived after that window's step) does not train again.
   */
  async step(
    nowWindowStart: number,
    issuedAt: number = nowWindowStart + this.opts.stepMs,
    only?: ReadonlySet<string>,
  ): Promise<Forecast[]> {
    const o = this.opts;
    const now = Math.round(nowWindowStart / o.stepMs);
    const repeat = now === this.lastStep;
    const t0 = performance.now();
    const timings: Record<string, number> = {};

    // Stale series are dropped from history and state.
    for (const id of this.history.evictStale(now - o.evictAfterSteps)) this.series.delete(id);

    const active: SeriesState[] = [];
    for (const s of this.series.values()) {
      this.history.advance(s.h, now);
      this.refreshSeason(s);
      this.scorer.score(s, now);
      if (now - s.h.lastObservedStep <= o.staleAfterSteps) active.push(s);
    }
    this.calibrator.update();
    timings.score = performance.now() - t0;

    // Every model consumes the new observations and refits or trains within its budget.
    const counters: Record<string, number> = {};
    for (const m of this.models) {
      const t1 = performance.now();
      Object.assign(counters, await m.update(active, now, repeat));
      timings[`update.${m.name}`] = performance.now() - t1;
    }
    const rows = only ? active.filter((s) => only.has(s.h.id)) : active;
    const preds: (number[] | undefined)[][] = [];
    for (const m of this.models) {
      const t1 = performance.now();
      preds.push(await m.forecast(rows, now));
      timings[`forecast.${m.name}`] = performance.now() - t1;
    }

    const t1 = performance.now();
    const out: Forecast[] = [];
    const details: ForecastDetail[] = [];
    for (const [r, s] of rows.entries()) {
      const last = lastObserved(this.history, s.h, now);
      const c = this.combiner.combine(
        s,
        preds.map((p) => p[r]),
        last,
        now,
        issuedAt,
        this.keepDetails,
      );
      if (!c) continue;
      out.push(c.forecast);
      if (c.detail) details.push(c.detail);
    }
    timings.combine = performance.now() - t1;
    timings.total = performance.now() - t0;
    this.lastTimings = { ...timings, series: active.length, ...counters };
    this.lastDetails = details;
    this.lastStep = now;
    if (repeat) return out;
    this.stepCount++;
    const ck = o.checkpoint;
    if (ck && this.stepCount % (ck.everySteps ?? 60) === 0) {
      try {
        await this.saveCheckpoint(ck.path, ck.includeHistory);
      } catch (err) {
        this.log.warn({ file: ck.path, err: (err as Error).message }, 'forecaster checkpoint save failed');
      }
    }
    return out;
  }

  /** Writes a checkpoint (weights, calibrator, per-series state, and what the stage keeps beside them). */
  saveCheckpoint(file: string, includeHistory = true, stage?: unknown): Promise<CheckpointResult> {
    return saveCheckpoint(this, file, { includeHistory, stage });
  }

  /** Loads a checkpoint; a missing, corrupt or mismatched one is reported and ignored. */
  loadCheckpoint(file: string): Promise<CheckpointResult> {
    return loadCheckpoint(this, file);
  }

  /** Fits the global model on all windows currently in history (warm start, e.g. after a backfill). */
  async warmFit(epochs: number, opts: { stride?: number; maxPerSeries?: number; batchSize?: number } = {}): Promise<number> {
    if (!this.global || !this.globalModel) return NaN;
    const { windows, loss } = await this.globalModel.warmFit(this.series.values(), epochs, opts);
    this.log.debug({ windows, epochs, loss }, 'global model warm fit');
    return loss;
  }

  /** Where the forecaster's schedule and random stream stand (saved in checkpoints: training cadence and sampling continue exactly). */
  runState(): RunState {
    return { steps: this.stepCount, rand: this.rand.position(), lastStep: Number.isFinite(this.lastStep) ? this.lastStep : null };
  }

  restoreRunState(r: RunState): void {
    this.stepCount = r.steps;
    this.rand.setPosition(r.rand);
    // a late series' step for the window last stepped is a repeat (no training) after a restore too
    this.lastStep = r.lastStep ?? Number.NEGATIVE_INFINITY;
  }

  /** Per-series state for checkpoints. */
  snapshotSeries(includeHistory = true): SeriesSnapshot[] {
    return [...this.series.values()].map((s) => snapshotSeries(s, this.history, this.models, includeHistory));
  }

  /** Restores per-series state (replacing what is there). Validates everything before changing anything. */
  restoreSeries(snaps: SeriesSnapshot[], historyOnly = false): void {
    const built = restoreSeries(snaps, this.history, this.models, this.opts.horizon, historyOnly);
    this.series.clear();
    for (const s of built) this.series.set(s.h.id, s);
  }

  /** Forgets a series (e.g. a dropped partition). */
  forget(seriesId: string): void {
    this.series.delete(seriesId);
    this.history.delete(seriesId);
  }
}
