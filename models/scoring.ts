/**
 * Scoring of matured forecasts: each step, the forecasts whose targets are now known update
 * every model's recent error, its validation records (ensemble.ts) and the interval
 * calibrator; and the local interval scale of a model for a series.
 */
import type { ConformalCalibrator } from './calibrator.js';
import { recordReset, recordUpdate, winsorisedAverage } from './ensemble.js';
import type { HistoryStore } from './history.js';
import type { ResolvedOptions } from './options.js';
import type { SeriesState } from './series.js';

/** Half-life, in steps, of `SeriesState.scaleFast`. */
const FAST_SCALE_HALF_LIFE = 1;

export class ForecastScorer {
  private readonly decay: number;
  private readonly recDecay: number;
  private readonly fastScaleDecay = 0.5 ** (1 / FAST_SCALE_HALF_LIFE);
  private readonly abs: Float64Array;

  constructor(
    private readonly opts: ResolvedOptions,
    private readonly history: HistoryStore,
    private readonly calibrator: ConformalCalibrator,
    /** Models combined (the ensemble's own forecasts come after them). */
    private readonly models: number,
  ) {
    this.decay = 0.5 ** (1 / opts.errorHalfLife);
    this.recDecay = 0.5 ** (1 / (opts.recordHalfLife * opts.horizon));
    this.abs = new Float64Array(models);
  }

  /** Scores the forecasts whose targets are now known, for every model and the ensemble. */
  score(s: SeriesState, now: number): void {
    const H = this.opts.horizon;
    const k = this.models;
    const d = this.decay;
    const abs = this.abs;
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
        for (let m = 0; m <= k; m++) {
          const p = s.pend[m * H * H + j * H + hh - 1]!;
          if (!Number.isFinite(p)) {
            if (m < k) abs[m] = NaN;
            continue;
          }
          const e = Math.abs(y - p);
          if (m < k && issue < s.recordFrom[m]!) abs[m] = NaN;
          else if (m < k) {
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

  /** Model i's records, its recent error for the weights and its exclusion start afresh (its forecasts from `now` on only). */
  restartRecord(s: SeriesState, i: number, now: number): void {
    recordReset(s.rec, this.models, i);
    recordReset(s.recShort, this.models, i);
    s.aside[i] = 0;
    s.werr[i] = NaN;
    s.recordFrom[i] = now;
  }

  /**
   * Local interval scale of model m for a series: its recent error (else `fallback`), but at
   * least the series' recent seasonal change |y_t − y_{t−m}| (the larger of its slow and its
   * one-step averages; `intervalScaleFloor`).
   *
   * Why the floor: a model's recent error lags a regime change by up to H steps (a forecast for
   * h steps ahead is scored h steps after it is issued), so the intervals stayed as narrow as in
   * calm times while every long-horizon forecast missed. A series that moved that much over the
   * last season can move as much over the next one; in calm stretches the floor is about
   * seasonal naive's error, and the pooled calibrator adjusts its factor to it (measurements in
   * docs/decisions/0011-forecast-ensemble-measurements.md).
   */
  localScale(s: SeriesState, m: number, fallback: number): number {
    const e = s.cnt[m]! >= 3 ? s.err[m]! : NaN;
    let v = Number.isFinite(e) && e > 0 ? e : fallback;
    if (this.opts.intervalScaleFloor) {
      if (Number.isFinite(s.scale)) v = Math.max(v, s.scale);
      if (Number.isFinite(s.scaleFast)) v = Math.max(v, s.scaleFast);
    }
    return Math.max(v, 1e-9);
  }
}
