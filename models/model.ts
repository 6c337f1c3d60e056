/**
 * The interface every model of the online forecaster implements (seasonal naive, Holt-Winters,
 * the global network: see registry.ts for the list). The forecaster keeps one `SeriesState` per
 * series with a slot per model; each step it lets every model consume the new observations and
 * refit within its budget (`update`), asks each for its point forecasts (`forecast`), and
 * combines them. Intervals are not the models' own: the pooled conformal calibrator scales each
 * model's recent error into an interval (ensemble.ts), so every model's intervals are
 * calibrated the same way whatever the model.
 */
import type { HistoryStore } from './history.js';
import type { ResolvedOptions } from './options.js';
import type { SeriesState } from './series.js';

/** What a model is given when the forecaster builds it. */
export interface ModelContext {
  readonly opts: ResolvedOptions;
  readonly history: HistoryStore;
  /** This model's position in the list: its index in the per-series errors, records and slots. */
  readonly index: number;
  /** Position of another model by name (-1 when not in the list). */
  indexOf(name: string): number;
  /** The forecaster's random stream (shared: draws happen in step order, so runs repeat). */
  readonly rand: () => number;
  /** Steps the forecaster has completed (training schedules count them). */
  steps(): number;
  /**
   * Starts the ensemble's record of this model afresh for a series: its forecasts issued from
   * `now` on only (a refit that makes it a different model).
   */
  restartRecord(s: SeriesState, now: number): void;
}

/** Counters a model reports for the step's timings (e.g. fits done, training rows). */
export type ModelCounters = Record<string, number>;

export interface ForecastModel<S = unknown> {
  readonly name: string;
  /** This model's state for a series first seen at `step` (stored in `SeriesState.slots`). */
  initSeries(step: number): S;
  /** The series' season changed: state fitted for the old one is dropped. */
  seasonChanged?(s: SeriesState): void;
  /**
   * Consumes the observations up to `now` and refits or trains within the model's budget.
   * `repeat`: a second step at the same window (for late series), which must not train again.
   */
  update(active: readonly SeriesState[], now: number, repeat: boolean): Promise<ModelCounters> | ModelCounters;
  /** Point forecasts 1..horizon after `now`, one entry per series (undefined: none for it). */
  forecast(series: readonly SeriesState[], now: number): Promise<(number[] | undefined)[]> | (number[] | undefined)[];
  /** An interval scale for a series without a recent seasonal change (undefined: this model has none). */
  fallbackScale?(s: SeriesState): number | undefined;
  /** This model's part of a series' checkpoint record (fields merged into the series snapshot). */
  snapshot?(s: SeriesState): Record<string, unknown>;
  /** The state back from a series' checkpoint record (`observed`: observations in the restored history). */
  restore?(snap: Record<string, unknown>, observed: number): S;
}
