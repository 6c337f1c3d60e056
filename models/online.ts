/**
 * OnlineForecaster: what the forecast pipeline drives. Observations arrive per series and
 * window (`observe`); once per window `step(now)` scores the forecasts that matured, updates
 * the baselines' states, trains the global model on recent windows on a schedule, and
 * forecasts every active series (all of them in one batch through the global model),
 * combining the models per series by their recent error.
 *
 * Models: seasonal naive and Holt-Winters (per-series state, O(1) per step; HW parameters
 * refitted on a schedule within a time budget), the tfjs global model (cold start: it gets
 * weight only after its forecasts for the series have matured), and their ensemble: models
 * clearly beaten on a long validation record of matured forecasts are set aside; Holt-Winters
 * is the anchor, and another model joins it only once significantly better than it on that
 * record; the models left are combined by their recent error (see ensemble.ts for the stages).
 * Intervals come from the pooled normalised-conformal calibrator (see ensemble.ts), on a local
 * scale that is at least the series' recent seasonal change (see `localScale`).
 */
import type { Forecast, ForecastPoint } from '../schemas/types.js';
import { logger } from '../lib/log.js';
import { HoltWintersState, fitHoltWinters } from './baselines.js';
import {
  ConformalCalibrator,
  anchorAdmit,
  combine,
  dominanceKeep,
  ensembleName,
  ensembleWeights,
  recordReset,
  recordSize,
  recordUpdate,
  winsorisedAverage,
} from './ensemble.js';
import { GlobalModel, type GlobalModelOptions } from './global.js';
import { HistoryStore, type SeriesHistory } from './history.js';
import { detectSeason } from './season.js';
import { rng } from './util.js';
import { loadCheckpoint, saveCheckpoint, type CheckpointResult, type SeriesSnapshot } from './checkpoint.js';

export const MODEL_NAMES = ['seasonal_naive', 'holt_winters', 'global', 'ensemble'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];
const SN = 0,
  HW = 1,
  GL = 2,
  EN = 3,
  NM = 4;
/** A model the ensemble combines (every model but the ensemble itself). */
type BaseModel = Exclude<ModelName, 'ensemble'>;
/** Half-life, in steps, of `SeriesState.scaleFast`. */
const FAST_SCALE_HALF_LIFE = 1;

export interface TrainOptions {
  /** Train every this many steps (default 1 = every window). */
  every?: number;
  /** Passes over the step's windows (default 1). */
  epochs?: number;
  /** Newest complete windows per series (default 2). */
  recentPerSeries?: number;
  /** Older windows per series sampled at random, against forgetting (default 4). */
  replayPerSeries?: number;
  /** Rows per training step at most; series are subsampled beyond (default 32768). */
  maxBatch?: number;
}

export interface OnlineForecasterOptions {
  /** Window length in ms (steps are windowStart / stepMs). */
  stepMs: number;
  /** Forecast steps 1..horizon (default 12). */
  horizon?: number;
  /** Season in steps, when configured; otherwise detected per series. */
  season?: number;
  /** Known seasons per series id (e.g. detected offline); others are detected. */
  seriesSeasons?: Record<string, number>;
  /** Lags the detector may choose from (e.g. [24, 168] for hourly windows). */
  seasonCandidates?: number[];
  /** Global model input length (default 2 × season, within [2 × horizon, 336]). */
  lags?: number;
  /** Steps of history kept per series (default max(512, lags + horizon)). */
  historyLength?: number;
  maxSeries?: number;
  /** A series with no observation for this many steps is not forecast (default 2 × horizon). */
  staleAfterSteps?: number;
  /** ...and is dropped after this many (default historyLength). */
  evictAfterSteps?: number;
  /** Central interval level (default 0.9). */
  level?: number;
  /** true: negative observations are clamped to 0 and forecasts clipped at 0 (counts); 'auto': clip only series never negative. */
  nonNegative?: boolean | 'auto';
  metric?: string;
  /** Backend name written into each Forecast. */
  backend?: string | null;
  /** Global model settings; false disables it (baselines only). */
  global?: Partial<Omit<GlobalModelOptions, 'lags' | 'horizon'>> | false;
  train?: TrainOptions;
  /** Holt-Winters parameters are refitted every this many steps per series (default max(4 × season, 96)). */
  hwRefitEvery?: number;
  /** Time budget for Holt-Winters fits in one step (default 2000 ms); the rest waits. */
  hwFitBudgetMs?: number;
  /** Ensemble weight = recentError^-weightPower (default 4). */
  weightPower?: number;
  /** Models with recent error above this multiple of the best get no weight (default 1.2). */
  exclusionRatio?: number;
  /** Half-life, in matured forecasts (H mature per step), of the recent-error average (default 8 × horizon ≈ 8 steps). */
  errorHalfLife?: number;
  /**
   * Half-life, in steps, of the validation record behind the dominance test (default 16 ×
   * horizon): long, so a model is set aside only on sustained evidence.
   */
  recordHalfLife?: number;
  /** A model whose record is worse than the best model's with t above this is set aside (default 2). */
  dominanceZ?: number;
  /** ...and comes back only once its t is at most this (hysteresis; default 1). */
  dominanceZBack?: number;
  /**
   * The ensemble's anchor: the other models join the combination only when significantly
   * better than it (default 'holt_winters'; null: no anchoring). See `anchorAdmit`.
   */
  anchor?: BaseModel | null;
  /** ...at the one-sided level of this normal quantile, on the long or the short record (default 3; out again at dominanceZBack). */
  anchorZ?: number;
  /** The recent error behind the weights clips each |error| at this multiple of itself (default 6; Infinity disables). */
  errorWinsor?: number;
  /**
   * The intervals' local scale is at least the series' recent seasonal change |y_t − y_{t−m}|
   * (default true; see `localScale`). false: the model's recent error alone.
   */
  intervalScaleFloor?: boolean;
  /** Models used by the ensemble (default all three). */
  ensembleOf?: ModelName[];
  /** Save a checkpoint to `path` every `everySteps` steps (default 60). */
  checkpoint?: { path: string; everySteps?: number; includeHistory?: boolean };
  seed?: number;
}

export interface ModelForecast {
  predicted: number[];
  lower: number[];
  upper: number[];
}

/** Per-model forecasts of one series at one step (for evaluation and diagnostics). */
export interface ForecastDetail {
  seriesId: string;
  originStep: number;
  /** Indexed like MODEL_NAMES; undefined when the model had no forecast for the series. */
  models: (ModelForecast | undefined)[];
  weights: number[];
}

interface SeriesState {
  h: SeriesHistory;
  season: number;
  seasonAt: number;
  hw: HoltWintersState | null;
  hwStep: number;
  hwFitAt: number;
  /** Observations the last Holt-Winters fit had. */
  hwFitObs: number;
  /** Holt-Winters forecasts issued before this step are kept out of the ensemble's records (an older fit made them). */
  hwRecordFrom: number;
  sawNegative: boolean;
  err: Float64Array;
  cnt: Uint32Array;
  /** Recent error of the three models for the weights: like `err`, each |error| winsorised. */
  werr: Float64Array;
  /** Long- and short-memory validation records of the three models (see ensemble.ts). */
  rec: Float64Array;
  recShort: Float64Array;
  /** Models the dominance test has set aside (1), for its hysteresis. */
  aside: Uint8Array;
  /** Models admitted beside the anchor (1), for the anchoring hysteresis. */
  admitted: Uint8Array;
  scale: number;
  /** Like `scale`, with a half-life of one step (`FAST_SCALE_HALF_LIFE`): the newest seasonal change. */
  scaleFast: number;
  pend: Float32Array;
  pendW: Float32Array;
  pendIssue: Float64Array;
  accounted: number;
}

/** A record from a checkpoint, or an empty one when absent or malformed (older checkpoints). */
function recordFrom(a: unknown): Float64Array {
  const n = recordSize(3);
  return Array.isArray(a) && a.length === n && a.every((x) => typeof x === 'number' && Number.isFinite(x))
    ? Float64Array.from(a as number[])
    : new Float64Array(n);
}

export class OnlineForecaster {
  readonly opts: Required<
    Omit<
      OnlineForecasterOptions,
      'season' | 'seasonCandidates' | 'seriesSeasons' | 'global' | 'backend' | 'train' | 'checkpoint' | 'anchor'
    >
  > & {
    anchor: BaseModel | null;
    season?: number;
    seasonCandidates?: number[];
    seriesSeasons?: Record<string, number>;
    backend: string | null;
    global: OnlineForecasterOptions['global'];
    train: Required<TrainOptions>;
    checkpoint?: OnlineForecasterOptions['checkpoint'];
  };
  readonly history: HistoryStore;
  readonly calibrator: ConformalCalibrator;
  global: GlobalModel | null;
  private readonly series = new Map<string, SeriesState>();
  private readonly rand: () => number;
  private readonly log = logger('forecast.online');
  private readonly decay: number;
  private readonly recDecay: number;
  private readonly fastScaleDecay = 0.5 ** (1 / FAST_SCALE_HALF_LIFE);
  private readonly absScratch = new Float64Array(3);
  private readonly inEnsemble: boolean[];
  /** Index of the anchor model, -1 for none (or when it is not in the ensemble). */
  private readonly anchorIndex: number;
  /** Steps taken, and the last step's timings (ms). */
  stepCount = 0;
  lastTimings: Record<string, number> = {};
  lastStep = -Infinity;
  /** Per-model details of the last step (only when `keepDetails` is set). */
  keepDetails = false;
  lastDetails: ForecastDetail[] = [];

  constructor(options: OnlineForecasterOptions) {
    const H = options.horizon ?? 12;
    const seasonHint = options.season ?? Math.max(1, ...(options.seasonCandidates ?? [1]));
    // A week of lags for short seasons (hourly → 168), else two seasons; at most 336.
    const lags = options.lags ?? Math.min(336, Math.max(2 * H, seasonHint <= 48 ? 7 * seasonHint : 2 * seasonHint, 8));
    const historyLength = options.historyLength ?? Math.max(512, lags + H + 1);
    this.opts = {
      stepMs: options.stepMs,
      horizon: H,
      season: options.season,
      seasonCandidates: options.seasonCandidates,
      seriesSeasons: options.seriesSeasons,
      lags,
      historyLength,
      maxSeries: options.maxSeries ?? 200_000,
      staleAfterSteps: options.staleAfterSteps ?? 2 * H,
      evictAfterSteps: options.evictAfterSteps ?? historyLength,
      level: options.level ?? 0.9,
      nonNegative: options.nonNegative ?? 'auto',
      metric: options.metric ?? 'queries',
      backend: options.backend ?? null,
      global: options.global ?? {},
      train: { every: 1, epochs: 1, recentPerSeries: 2, replayPerSeries: 4, maxBatch: 32768, ...(options.train ?? {}) },
      hwRefitEvery: options.hwRefitEvery ?? Math.max(4 * seasonHint, 96),
      hwFitBudgetMs: options.hwFitBudgetMs ?? 2000,
      weightPower: options.weightPower ?? 4,
      exclusionRatio: options.exclusionRatio ?? 1.2,
      errorHalfLife: options.errorHalfLife ?? 8 * H,
      recordHalfLife: options.recordHalfLife ?? 16 * H,
      dominanceZ: options.dominanceZ ?? 2,
      dominanceZBack: options.dominanceZBack ?? 1,
      anchor: options.anchor === undefined ? 'holt_winters' : options.anchor,
      anchorZ: options.anchorZ ?? 3,
      errorWinsor: options.errorWinsor ?? 6,
      intervalScaleFloor: options.intervalScaleFloor ?? true,
      ensembleOf: options.ensembleOf ?? ['seasonal_naive', 'holt_winters', 'global'],
      seed: options.seed ?? 7,
      checkpoint: options.checkpoint,
    };
    if (!(this.opts.stepMs > 0)) throw new Error('OnlineForecaster: stepMs must be > 0');
    this.history = new HistoryStore({ maxLength: historyLength, maxSeries: this.opts.maxSeries });
    this.history.onEvict = (id) => this.series.delete(id);
    this.calibrator = new ConformalCalibrator(NM, H, this.opts.level);
    this.rand = rng(this.opts.seed);
    this.decay = 0.5 ** (1 / this.opts.errorHalfLife);
    this.recDecay = 0.5 ** (1 / (this.opts.recordHalfLife * H));
    this.inEnsemble = [SN, HW, GL].map((i) => this.opts.ensembleOf.includes(MODEL_NAMES[i]!));
    const a = this.opts.anchor ? MODEL_NAMES.indexOf(this.opts.anchor) : -1;
    this.anchorIndex = a >= 0 && a < 3 && this.inEnsemble[a] ? a : -1;
    this.global =
      this.opts.global === false
        ? null
        : new GlobalModel({ lags, horizon: H, season: options.season ?? seasonHint, seed: this.opts.seed, ...this.opts.global });
  }

  /** Series currently tracked. */
  get size(): number {
    return this.series.size;
  }

  /** Records one window's value for a series. */
  observe(seriesId: string, windowStart: number, value: number): void {
    const step = Math.round(windowStart / this.opts.stepMs);
    let v = Number.isFinite(value) ? value : NaN;
    if (v < 0 && this.opts.nonNegative === true) v = 0;
    const h = this.history.observe(seriesId, step, v);
    if (!h) return;
    let s = this.series.get(seriesId);
    if (!s) {
      const H = this.opts.horizon;
      s = {
        h,
        season: this.opts.season ?? this.opts.seriesSeasons?.[seriesId] ?? 1,
        seasonAt: this.opts.season || this.opts.seriesSeasons?.[seriesId] ? Infinity : 0,
        hw: null,
        hwStep: step - 1,
        hwFitAt: -Infinity,
        hwFitObs: 0,
        hwRecordFrom: -Infinity,
        sawNegative: false,
        err: new Float64Array(NM).fill(NaN),
        cnt: new Uint32Array(NM),
        werr: new Float64Array(3).fill(NaN),
        rec: new Float64Array(recordSize(3)),
        recShort: new Float64Array(recordSize(3)),
        aside: new Uint8Array(3),
        admitted: new Uint8Array(3),
        scale: NaN,
        scaleFast: NaN,
        pend: new Float32Array(NM * H * H).fill(NaN),
        pendW: new Float32Array(NM * H).fill(NaN),
        pendIssue: new Float64Array(H).fill(NaN),
        accounted: step - 1,
      };
      this.series.set(seriesId, s);
    }
    if (v < 0) s.sawNegative = true;
    // A late value for a step the baselines already consumed is kept in history only.
  }

  private clipsAtZero(s: SeriesState): boolean {
    return this.opts.nonNegative === true || (this.opts.nonNegative === 'auto' && !s.sawNegative);
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
      s.hw = null; // refit with the new season
      s.hwFitAt = -Infinity;
    }
  }

  /** Scores the forecasts whose targets are now known, for every model. */
  private score(s: SeriesState, now: number): void {
    const H = this.opts.horizon;
    const d = this.decay;
    const abs = this.absScratch;
    for (let t = s.accounted + 1; t <= now; t++) {
      const y = this.history.at(s.h, t);
      if (!Number.isFinite(y)) continue;
      if (s.season >= 1) {
        const prev = this.history.at(s.h, t - Math.max(1, s.season));
        if (Number.isFinite(prev)) {
          const a = Math.abs(y - prev);
          s.scale = Number.isFinite(s.scale) ? d * s.scale + (1 - d) * a : a;
          const df = this.fastScaleDecay;
          s.scaleFast = Number.isFinite(s.scaleFast) ? df * s.scaleFast + (1 - df) * a : a;
        }
      }
      for (let j = 0; j < H; j++) {
        const issue = s.pendIssue[j]!;
        const hh = t - issue;
        if (!(hh >= 1 && hh <= H)) continue;
        for (let m = 0; m < NM; m++) {
          const p = s.pend[m * H * H + j * H + hh - 1]!;
          if (!Number.isFinite(p)) {
            if (m < 3) abs[m] = NaN;
            continue;
          }
          const e = Math.abs(y - p);
          if (m === HW && issue < s.hwRecordFrom) abs[m] = NaN;
          else if (m < 3) {
            abs[m] = e;
            s.werr[m] = winsorisedAverage(s.werr[m]!, s.cnt[m]!, e, d, this.opts.errorWinsor, H);
          }
          s.err[m] = s.cnt[m] ? d * s.err[m]! + (1 - d) * e : e;
          s.cnt[m]!++;
          const w = s.pendW[m * H + j]!;
          if (w > 0) this.calibrator.add(m, hh, e / w);
        }
        recordUpdate(s.rec, abs, this.recDecay);
        recordUpdate(s.recShort, abs, d);
      }
    }
    s.accounted = Math.max(s.accounted, now);
  }

  /**
   * Local interval scale of model m for a series: its recent error (else `fallback`), but at
   * least the series' recent seasonal change |y_t − y_{t−m}| (the larger of its slow and its
   * one-step averages; `intervalScaleFloor`).
   *
   * Why the floor: a model's recent error lags a regime change by up to H steps (a forecast for
   * h steps ahead is scored h steps after it is issued), so when a series starts to move (the
   * 2008 recession in the BLS unemployment series: counts doubling within a year) the
   * intervals stayed as narrow as in the calm years while every long-horizon forecast missed
   * (ensemble coverage 0.62 in 2008, 0.51 in 2009; 0.836 overall). The seasonal change grows
   * with the first observations of the new regime: a series that moved that much over the
   * last season can move as much over the next one, which a model fitted to the calm past
   * does not foresee. In calm stretches it is about seasonal naive's error, and the pooled
   * calibrator scores every error on the same scale, so the factor adjusts to it.
   */
  private localScale(s: SeriesState, m: number, fallback: number): number {
    const e = s.cnt[m]! >= 3 ? s.err[m]! : NaN;
    let v = Number.isFinite(e) && e > 0 ? e : fallback;
    if (this.opts.intervalScaleFloor) {
      if (Number.isFinite(s.scale)) v = Math.max(v, s.scale);
      if (Number.isFinite(s.scaleFast)) v = Math.max(v, s.scaleFast);
    }
    return Math.max(v, 1e-9);
  }

  /** The last Holt-Winters fit had a short history (fewer observations than a full fit window). */
  private hwProvisional(s: SeriesState): boolean {
    return !!s.hw && s.hwFitObs < Math.max(200, 10 * s.season);
  }

  /** The history has grown by half again since the last fit, which had a short history. */
  private hwGrown(s: SeriesState): boolean {
    return this.hwProvisional(s) && s.h.observed >= 1.5 * s.hwFitObs;
  }

  private fitHw(s: SeriesState, now: number): void {
    const span = this.history.span(s.h);
    const x = new Float64Array(span);
    this.history.read(s.h, now, span, x);
    const m = s.season > 1 && span >= 2 * s.season + 2 ? s.season : 1;
    const { state } = fitHoltWinters(x, m);
    // A seasonal fit replacing a non-seasonal one is a different model, and so is any fit
    // replacing one made from a short history (its parameters and seasonal indices were
    // guesses from a season or two): the record of the old fit would judge the new one by
    // errors it did not make, and keep a model set aside that is now the best. Its record
    // starts afresh (refits on a full window change little and keep the record), and so does
    // the recent error behind its weight; the old fit's forecasts still pending are kept out
    // of both (`hwRecordFrom`). Scored into the fresh record they refilled it with the old
    // fit's errors for the next H steps, and the stale recent error then weighed the new fit
    // by them: a poor first fit from two seasons kept a good refit out of the ensemble.
    // (Holt-Winters' own recent error, behind its intervals and its early refit, is unchanged.)
    if (s.hw && (s.hw.m !== state.m || this.hwProvisional(s))) {
      recordReset(s.rec, 3, HW);
      recordReset(s.recShort, 3, HW);
      s.aside[HW] = 0;
      s.werr[HW] = NaN;
      s.hwRecordFrom = now;
    }
    s.hw = state;
    s.hwStep = now;
    s.hwFitObs = s.h.observed;
    // Stagger refits so they spread over steps.
    s.hwFitAt = s.hwFitAt === -Infinity ? now - Math.floor(this.rand() * this.opts.hwRefitEvery) : now;
  }

  /** Builds this step's training windows and fits the global model. */
  private async train(active: SeriesState[], now: number): Promise<number> {
    const g = this.global;
    if (!g) return 0;
    const { recentPerSeries, replayPerSeries, maxBatch, epochs } = this.opts.train;
    const L = g.lags,
      H = g.horizon;
    const minObs = Math.max(H + 4, Math.min(L, 2 * Math.max(1, ...active.slice(0, 1).map((s) => s.season))) / 2);
    let pool = active.filter((s) => s.h.observed >= minObs);
    const per = recentPerSeries + replayPerSeries;
    if (pool.length * per > maxBatch) {
      const keep = Math.max(1, Math.floor(maxBatch / per));
      for (let i = pool.length - 1; i > 0; i--) {
        const j = Math.floor(this.rand() * (i + 1));
        [pool[i], pool[j]] = [pool[j]!, pool[i]!];
      }
      pool = pool.slice(0, keep);
    }
    const x = new Float32Array(pool.length * per * L);
    const y = new Float32Array(pool.length * per * H);
    let n = 0;
    for (const s of pool) {
      const newest = now - H;
      const oldest = Math.max(s.h.firstStep + Math.floor(L / 4), now - this.history.maxLength + L);
      if (newest < oldest) continue;
      for (let k = 0; k < per; k++) {
        const end = k < recentPerSeries ? newest - k : oldest + Math.floor(this.rand() * (newest - oldest + 1));
        if (end < oldest) continue;
        this.history.read(s.h, end, L, x, n * L);
        this.history.read(s.h, end + H, H, y, n * H);
        n++;
      }
    }
    if (!n) return 0;
    await g.fit({ x, y, n }, epochs, this.stepCount);
    return n;
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
    const H = o.horizon;
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
      this.score(s, now);
      if (now - s.h.lastObservedStep <= o.staleAfterSteps) active.push(s);
    }
    this.calibrator.update();
    timings.score = performance.now() - t0;

    // Holt-Winters: advance states, then (re)fit within the budget, new series first.
    let t1 = performance.now();
    const due: SeriesState[] = [];
    for (const s of active) {
      if (s.hw) {
        for (let t = s.hwStep + 1; t <= now; t++) s.hw.update(this.history.at(s.h, t));
        s.hwStep = now;
      }
      // Refit on schedule, early when HW has fallen well behind seasonal naive (a shift), and
      // as soon as the history first holds the two seasons a seasonal fit needs.
      const behind = s.cnt[HW]! >= H && s.cnt[SN]! >= H && s.err[HW]! > 1.5 * s.err[SN]! && now - s.hwFitAt >= Math.max(H, s.season);
      const seasonable = !!s.hw && s.hw.m !== s.season && s.season > 1 && this.history.span(s.h) >= 2 * s.season + 2;
      // Parameters estimated from a short history are refreshed as it grows by half again
      // (a handful of extra fits per series, until the fit window is full).
      const grown = this.hwGrown(s);
      if (s.h.observed >= 4 && (!s.hw || now - s.hwFitAt >= o.hwRefitEvery || behind || seasonable || grown)) due.push(s);
    }
    due.sort((a, b) => (a.hw ? 1 : 0) - (b.hw ? 1 : 0) || a.hwFitAt - b.hwFitAt);
    let fitted = 0;
    for (const s of due) {
      if (performance.now() - t1 > o.hwFitBudgetMs && s.hw) break;
      if (performance.now() - t1 > o.hwFitBudgetMs * 4) break;
      this.fitHw(s, now);
      fitted++;
    }
    timings.holtWinters = performance.now() - t1;

    // Global model: train on schedule, then one batched forecast.
    t1 = performance.now();
    let trainRows = 0;
    if (this.global && !repeat && this.stepCount % o.train.every === 0) trainRows = await this.train(active, now);
    timings.train = performance.now() - t1;
    t1 = performance.now();
    const g = this.global;
    const gRows: SeriesState[] = [];
    let gPred: Awaited<ReturnType<GlobalModel['predict']>> | null = null;
    if (g && g.steps > 0) {
      const minObs = Math.min(g.lags / 2, Math.max(H, 8));
      for (const s of active) if (s.h.observed >= minObs && (!only || only.has(s.h.id))) gRows.push(s);
      const x = new Float32Array(gRows.length * g.lags);
      for (const [r, s] of gRows.entries()) this.history.read(s.h, now, g.lags, x, r * g.lags);
      gPred = await g.predict(x, gRows.length);
    }
    timings.globalForecast = performance.now() - t1;

    // Combine.
    t1 = performance.now();
    const out: Forecast[] = [];
    const details: ForecastDetail[] = [];
    const gIndex = new Map<SeriesState, number>();
    for (const [r, s] of gRows.entries()) gIndex.set(s, r);
    const slot = ((now % H) + H) % H;
    const pts: (number[] | undefined)[] = [undefined, undefined, undefined];
    for (const s of active) {
      if (only && !only.has(s.h.id)) continue;
      const clip = this.clipsAtZero(s);
      // Seasonal naive (a gap looks a further season back, then the last observation).
      const m = Math.max(1, s.season);
      let last = NaN;
      for (let t = now; t > now - this.history.maxLength; t--) {
        const v = this.history.at(s.h, t);
        if (Number.isFinite(v)) {
          last = v;
          break;
        }
      }
      const sn: number[] = [];
      for (let h = 1; h <= H; h++) {
        let v = NaN;
        if (m > 1)
          for (let t = now + h - m * Math.ceil(h / m), k = 0; k < 8 && !Number.isFinite(v); t -= m, k++) v = this.history.at(s.h, t);
        sn.push(Number.isFinite(v) ? v : last);
      }
      pts[SN] = Number.isFinite(last) ? sn : undefined;
      pts[HW] = s.hw ? s.hw.forecast(H) : undefined;
      const gr = gIndex.get(s);
      if (gPred && gr !== undefined && !gPred.empty[gr]) pts[GL] = Array.from(gPred.point.subarray(gr * H, (gr + 1) * H));
      else pts[GL] = undefined;
      for (const m2 of [SN, HW, GL]) {
        const p = pts[m2];
        if (p && (clip || !p.every(Number.isFinite)))
          for (let h = 0; h < H; h++) p[h] = Number.isFinite(p[h]!) ? (clip ? Math.max(0, p[h]!) : p[h]!) : last;
      }
      if (!pts[SN] && !pts[HW] && !pts[GL]) continue;
      const avail = [SN, HW, GL].map((i) => !!pts[i] && this.inEnsemble[i]!);
      if (!avail.some(Boolean)) avail[SN] = !!pts[SN];
      // Models clearly beaten on the validation record are set aside (the anchor only on the
      // evidence that admits another model), the others join the anchor only once significantly
      // better than it, and what is left is combined.
      const keep = dominanceKeep(s.rec, avail, {
        z: o.dominanceZ,
        zBack: o.dominanceZBack,
        minRecord: H,
        overlap: H,
        recent: s.recShort,
        aside: s.aside,
        anchor: this.anchorIndex,
        anchorZ: o.anchorZ,
      });
      if (this.anchorIndex >= 0)
        anchorAdmit(s.rec, keep, this.anchorIndex, {
          z: o.anchorZ,
          zBack: o.dominanceZBack,
          overlap: H,
          recent: s.recShort,
          admitted: s.admitted,
        });
      const w = ensembleWeights(s.werr, s.cnt.subarray(0, 3), keep, {
        power: o.weightPower,
        minCount: H,
        exclusionRatio: o.exclusionRatio,
        anchor: this.anchorIndex,
      });
      const ens = combine(
        pts.map((p) => p ?? []),
        w,
      );
      if (clip) for (let h = 0; h < H; h++) ens[h] = Math.max(0, ens[h]!);
      const fallback = Number.isFinite(s.scale) && s.scale > 0 ? s.scale : s.hw ? s.hw.mae : Math.abs(last) * 0.1 + 1e-6;
      const all = [pts[SN], pts[HW], pts[GL], ens];
      // Record pending forecasts for scoring.
      s.pendIssue[slot] = now;
      for (let mi = 0; mi < NM; mi++) {
        const p = all[mi];
        const base = mi * H * H + slot * H;
        s.pendW[mi * H + slot] = this.localScale(s, mi, fallback);
        for (let h = 0; h < H; h++) s.pend[base + h] = p ? p[h]! : NaN;
      }
      const ls = this.localScale(s, EN, fallback);
      const points: ForecastPoint[] = [];
      for (let h = 1; h <= H; h++) {
        const half = this.calibrator.factor(EN, h) * ls;
        const p = ens[h - 1]!;
        points.push({
          horizon: h,
          ts: (now + h) * o.stepMs,
          predicted: p,
          lower: clip ? Math.max(0, p - half) : p - half,
          upper: p + half,
        });
      }
      const recent = s.cnt[EN]! >= 1 && Number.isFinite(s.scale) && s.scale > 0 ? s.err[EN]! / s.scale : null;
      out.push({
        seriesId: s.h.id,
        issuedAt,
        originTs: now * o.stepMs,
        stepMs: o.stepMs,
        metric: o.metric,
        model: ensembleName(['seasonal_naive', 'holt_winters', 'global'], w),
        backend: o.backend,
        points,
        recentError: recent,
        intervalLevel: o.level,
      });
      if (this.keepDetails) {
        details.push({
          seriesId: s.h.id,
          originStep: now,
          weights: w,
          models: all.map((p, mi) => {
            if (!p) return undefined;
            const lsm = this.localScale(s, mi, fallback);
            const lower: number[] = [],
              upper: number[] = [];
            for (let h = 1; h <= H; h++) {
              const half = this.calibrator.factor(mi, h) * lsm;
              lower.push(clip ? Math.max(0, p[h - 1]! - half) : p[h - 1]! - half);
              upper.push(p[h - 1]! + half);
            }
            return { predicted: p.slice(), lower, upper };
          }),
        });
      }
    }
    timings.combine = performance.now() - t1;
    timings.total = performance.now() - t0;
    this.lastTimings = { ...timings, series: active.length, trainRows, hwFitted: fitted };
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

  /** Writes a checkpoint (weights, calibrator, per-series state). */
  saveCheckpoint(file: string, includeHistory = true): Promise<CheckpointResult> {
    return saveCheckpoint(this, file, { includeHistory });
  }

  /** Loads a checkpoint; a missing, corrupt or mismatched one is reported and ignored. */
  loadCheckpoint(file: string): Promise<CheckpointResult> {
    return loadCheckpoint(this, file);
  }

  /** Fits the global model on all windows currently in history (warm start, e.g. after a backfill). */
  async warmFit(epochs: number, opts: { stride?: number; maxPerSeries?: number; batchSize?: number } = {}): Promise<number> {
    const g = this.global;
    if (!g) return NaN;
    const series: Float32Array[] = [];
    for (const s of this.series.values()) {
      const span = this.history.span(s.h);
      const x = new Float32Array(span);
      this.history.read(s.h, s.h.lastStep, span, x);
      series.push(x);
    }
    const w = GlobalModel.windowsFrom(series, g.lags, g.horizon, opts);
    let loss = NaN;
    for (let e = 0; e < epochs; e++)
      loss = await g.fit(w, 1, e, opts.batchSize ?? Math.max(64, Math.min(g.batchSize, Math.ceil(w.n / 16))));
    this.log.debug({ windows: w.n, epochs, loss }, 'global model warm fit');
    return loss;
  }

  /** Per-series state for checkpoints. */
  snapshotSeries(includeHistory = true): SeriesSnapshot[] {
    const out: SeriesSnapshot[] = [];
    for (const s of this.series.values()) {
      let hist: SeriesSnapshot['hist'] = null;
      if (includeHistory) {
        const span = this.history.span(s.h);
        const values = new Float32Array(span);
        this.history.read(s.h, s.h.lastStep, span, values);
        hist = {
          lastStep: s.h.lastStep,
          firstStep: s.h.lastStep - span + 1,
          lastObservedStep: s.h.lastObservedStep,
          observed: s.h.observed,
          values,
        };
      }
      out.push({
        id: s.h.id,
        season: s.season,
        hw: s.hw ? s.hw.toJSON() : null,
        hwStep: s.hwStep,
        hwFitAt: s.hwFitAt,
        hwFitObs: s.hwFitObs,
        sawNegative: s.sawNegative,
        err: Array.from(s.err),
        cnt: Array.from(s.cnt),
        rec: Array.from(s.rec),
        recShort: Array.from(s.recShort),
        werr: Array.from(s.werr),
        aside: Array.from(s.aside),
        admitted: Array.from(s.admitted),
        scale: s.scale,
        scaleFast: s.scaleFast,
        accounted: s.accounted,
        hist,
      });
    }
    return out;
  }

  /** Restores per-series state (replacing what is there). Validates everything before changing anything. */
  restoreSeries(snaps: SeriesSnapshot[]): void {
    const H = this.opts.horizon;
    const built: SeriesState[] = [];
    const hs = new HistoryStore({ maxLength: this.history.maxLength, maxSeries: this.history.maxSeries });
    for (const sn of snaps) {
      if (typeof sn.id !== 'string' || sn.err.length !== NM || sn.cnt.length !== NM)
        throw new Error(`series snapshot ${String(sn.id)} malformed`);
      let h: SeriesHistory | undefined;
      if (sn.hist) {
        const v = sn.hist.values;
        for (let i = 0; i < v.length; i++) hs.observe(sn.id, sn.hist.firstStep + i, v[i]!);
        h = hs.get(sn.id);
        if (h) {
          h.observed = sn.hist.observed;
          h.lastObservedStep = sn.hist.lastObservedStep;
        }
      }
      if (!h) continue;
      built.push({
        h,
        season: sn.season,
        seasonAt: sn.hist?.observed ?? 0,
        hw: sn.hw ? HoltWintersState.fromJSON(sn.hw) : null,
        hwStep: sn.hwStep,
        hwFitAt: sn.hwFitAt ?? -Infinity,
        hwFitObs: typeof sn.hwFitObs === 'number' ? sn.hwFitObs : (sn.hist?.observed ?? 0),
        hwRecordFrom: -Infinity,
        sawNegative: !!sn.sawNegative,
        err: Float64Array.from(sn.err.map((x) => (x === null ? NaN : x))),
        cnt: Uint32Array.from(sn.cnt),
        werr: Float64Array.from({ length: 3 }, (_, i) => {
          const v = Array.isArray(sn.werr) ? sn.werr[i] : sn.err[i];
          return typeof v === 'number' && Number.isFinite(v) ? v : NaN;
        }),
        rec: recordFrom(sn.rec),
        recShort: recordFrom(sn.recShort),
        aside: Uint8Array.from({ length: 3 }, (_, i) => (Array.isArray(sn.aside) && sn.aside[i] === 1 ? 1 : 0)),
        admitted: Uint8Array.from({ length: 3 }, (_, i) => (Array.isArray(sn.admitted) && sn.admitted[i] === 1 ? 1 : 0)),
        scale: sn.scale ?? NaN,
        scaleFast: typeof sn.scaleFast === 'number' && Number.isFinite(sn.scaleFast) ? sn.scaleFast : (sn.scale ?? NaN),
        pend: new Float32Array(NM * H * H).fill(NaN),
        pendW: new Float32Array(NM * H).fill(NaN),
        pendIssue: new Float64Array(H).fill(NaN),
        accounted: sn.accounted,
      });
    }
    this.series.clear();
    for (const id of [...this.history.ids()]) this.history.delete(id);
    for (const s of built) {
      const h = this.history.observe(s.h.id, s.h.firstStep, NaN)!;
      for (let t = s.h.firstStep; t <= s.h.lastStep; t++) this.history.observe(s.h.id, t, hs.at(s.h, t));
      h.observed = s.h.observed;
      h.lastObservedStep = s.h.lastObservedStep;
      s.h = h;
      this.series.set(h.id, s);
    }
  }

  /** Forgets a series (e.g. a dropped partition). */
  forget(seriesId: string): void {
    this.series.delete(seriesId);
    this.history.delete(seriesId);
  }
}
