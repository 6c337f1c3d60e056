/**
 * Options of the online forecaster, and their defaults (`resolveOptions`): one place the
 * forecaster, its models and its checkpoints read them from.
 */
import { UsageError } from '../lib/errors.js';
import type { GlobalModelOptions } from './global.js';

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
  /**
   * Holt-Winters fit work per step, in observations run through its recursions (default 20
   * million, about 2 s); due refits beyond it wait for a later step, new series take up to 4 ×
   * the budget. A count, not a time, so the fits done depend only on the data (decision 0010).
   */
  hwFitBudget?: number;
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
  anchor?: string | null;
  /** ...at the one-sided level of this normal quantile, on the long or the short record (default 3; out again at dominanceZBack). */
  anchorZ?: number;
  /** The recent error behind the weights clips each |error| at this multiple of itself (default 6; Infinity disables). */
  errorWinsor?: number;
  /**
   * The intervals' local scale is at least the series' recent seasonal change |y_t − y_{t−m}|
   * (default true; see `localScale`). false: the model's recent error alone.
   */
  intervalScaleFloor?: boolean;
  /** Models used by the ensemble (default all of the registry's). */
  ensembleOf?: string[];
  /**
   * Where a series sits among its table's key buckets (its table's group and the bucket's
   * position along the keys), or null for a series that is not a key bucket: what the key-drift
   * model reads a table's buckets side by side by. Without it that model has no forecasts.
   */
  keyOrder?: (seriesId: string) => { group: string; position: number } | null;
  /** Save a checkpoint to `path` every `everySteps` steps (default 60). */
  checkpoint?: { path: string; everySteps?: number; includeHistory?: boolean };
  seed?: number;
}

/** Default Holt-Winters fit work per step: about 2 s at ~90 ns per observation (see decision 0010). */
export const HW_FIT_BUDGET = 10_000_000;

/** Options with their defaults filled in. */
export type ResolvedOptions = Required<
  Omit<
    OnlineForecasterOptions,
    'season' | 'seasonCandidates' | 'seriesSeasons' | 'global' | 'backend' | 'train' | 'checkpoint' | 'anchor' | 'keyOrder'
  >
> & {
  anchor: string | null;
  keyOrder?: OnlineForecasterOptions['keyOrder'];
  season?: number;
  seasonCandidates?: number[];
  seriesSeasons?: Record<string, number>;
  backend: string | null;
  global: OnlineForecasterOptions['global'];
  train: Required<TrainOptions>;
  checkpoint?: OnlineForecasterOptions['checkpoint'];
};

/** The options with defaults; `lags` and the refit schedule follow the season. */
export function resolveOptions(options: OnlineForecasterOptions): ResolvedOptions {
  const H = options.horizon ?? 12;
  const seasonHint = seasonHintOf(options);
  // A week of lags for short seasons (hourly → 168), else two seasons; at most 336.
  const lags = options.lags ?? Math.min(336, Math.max(2 * H, seasonHint <= 48 ? 7 * seasonHint : 2 * seasonHint, 8));
  const historyLength = options.historyLength ?? Math.max(512, lags + H + 1);
  const opts: ResolvedOptions = {
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
    hwFitBudget: options.hwFitBudget ?? HW_FIT_BUDGET,
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
    ensembleOf: options.ensembleOf ?? ['seasonal_naive', 'holt_winters', 'global', 'key_drift', 'daily_profile'],
    keyOrder: options.keyOrder,
    seed: options.seed ?? 7,
    checkpoint: options.checkpoint,
  };
  if (!(opts.stepMs > 0)) throw new UsageError('OnlineForecaster: stepMs must be > 0');
  return opts;
}

/** The configured season, else the longest candidate (1 without either). */
export function seasonHintOf(options: Pick<OnlineForecasterOptions, 'season' | 'seasonCandidates'>): number {
  return options.season ?? Math.max(1, ...(options.seasonCandidates ?? [1]));
}
