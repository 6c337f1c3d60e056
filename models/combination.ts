/**
 * The step's combination pass for one series: the models' point forecasts → the ensemble's
 * weights (dominance, anchoring, recent error: see ensemble.ts) → one Forecast with calibrated
 * intervals. Every model's forecast and the ensemble's are kept pending for scoring.
 */
import type { Forecast, ForecastPoint } from '../schemas/types.js';
import type { ConformalCalibrator } from './calibrator.js';
import { anchorAdmit, combine, dominanceKeep, ensembleName, ensembleWeights } from './ensemble.js';
import type { ForecastModel } from './model.js';
import type { ResolvedOptions } from './options.js';
import type { ForecastScorer } from './scoring.js';
import type { SeriesState } from './series.js';

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

export class EnsembleCombiner {
  private readonly names: string[];
  private readonly inEnsemble: boolean[];
  /** Index of the anchor model, -1 for none (or when it is not in the ensemble). */
  readonly anchorIndex: number;

  constructor(
    private readonly opts: ResolvedOptions,
    private readonly models: readonly ForecastModel[],
    private readonly calibrator: ConformalCalibrator,
    private readonly scorer: ForecastScorer,
  ) {
    this.names = models.map((m) => m.name);
    this.inEnsemble = this.names.map((n) => opts.ensembleOf.includes(n));
    const a = opts.anchor ? this.names.indexOf(opts.anchor) : -1;
    this.anchorIndex = a >= 0 && this.inEnsemble[a] ? a : -1;
  }

  private clipsAtZero(s: SeriesState): boolean {
    return this.opts.nonNegative === true || (this.opts.nonNegative === 'auto' && !s.sawNegative);
  }

  /**
   * Combines the models' forecasts `pts` (indexed like the model list; modified in place: gaps
   * filled with `last`, the newest observation, and clipped at 0 for counts) for series `s` at
   * step `now`. Undefined when no model has a forecast.
   */
  combine(
    s: SeriesState,
    pts: (number[] | undefined)[],
    last: number,
    now: number,
    issuedAt: number,
    keepDetail: boolean,
  ): { forecast: Forecast; detail?: ForecastDetail } | undefined {
    const o = this.opts;
    const H = o.horizon;
    const k = this.models.length;
    const clip = this.clipsAtZero(s);
    for (const p of pts)
      if (p && (clip || !p.every(Number.isFinite)))
        for (let h = 0; h < H; h++) p[h] = Number.isFinite(p[h]!) ? (clip ? Math.max(0, p[h]!) : p[h]!) : last;
    if (!pts.some(Boolean)) return undefined;
    const avail = pts.map((p, i) => !!p && this.inEnsemble[i]!);
    // No model of the ensemble has a forecast: the list's first model (seasonal naive) stands in.
    if (!avail.some(Boolean)) avail[0] = !!pts[0];
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
    const w = ensembleWeights(s.werr, s.cnt.subarray(0, k), keep, {
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
    const fallback = Number.isFinite(s.scale) && s.scale > 0 ? s.scale : this.fallbackScale(s, last);
    const all = [...pts, ens];
    // Record pending forecasts for scoring.
    const slot = ((now % H) + H) % H;
    s.pendIssue[slot] = now;
    for (let mi = 0; mi <= k; mi++) {
      const p = all[mi];
      const base = mi * H * H + slot * H;
      s.pendW[mi * H + slot] = this.scorer.localScale(s, mi, fallback);
      for (let h = 0; h < H; h++) s.pend[base + h] = p ? p[h]! : NaN;
    }
    const ls = this.scorer.localScale(s, k, fallback);
    const points: ForecastPoint[] = [];
    for (let h = 1; h <= H; h++) {
      const half = this.calibrator.factor(k, h) * ls;
      const p = ens[h - 1]!;
      points.push({
        horizon: h,
        ts: (now + h) * o.stepMs,
        predicted: p,
        lower: clip ? Math.max(0, p - half) : p - half,
        upper: p + half,
      });
    }
    const recent = s.cnt[k]! >= 1 && Number.isFinite(s.scale) && s.scale > 0 ? s.err[k]! / s.scale : null;
    const forecast: Forecast = {
      seriesId: s.h.id,
      issuedAt,
      originTs: now * o.stepMs,
      stepMs: o.stepMs,
      metric: o.metric,
      model: ensembleName(this.names, w),
      backend: o.backend,
      points,
      recentError: recent,
      intervalLevel: o.level,
    };
    if (!keepDetail) return { forecast };
    const detail: ForecastDetail = {
      seriesId: s.h.id,
      originStep: now,
      weights: w,
      models: all.map((p, mi) => {
        if (!p) return undefined;
        const lsm = this.scorer.localScale(s, mi, fallback);
        const lower: number[] = [],
          upper: number[] = [];
        for (let h = 1; h <= H; h++) {
          const half = this.calibrator.factor(mi, h) * lsm;
          lower.push(clip ? Math.max(0, p[h - 1]! - half) : p[h - 1]! - half);
          upper.push(p[h - 1]! + half);
        }
        return { predicted: p.slice(), lower, upper };
      }),
    };
    return { forecast, detail };
  }

  /** Interval scale for a series without a seasonal change yet: the first model's that has one, else a tenth of the level. */
  private fallbackScale(s: SeriesState, last: number): number {
    for (const m of this.models) {
      const v = m.fallbackScale?.(s);
      if (v !== undefined) return v;
    }
    return Math.abs(last) * 0.1 + 1e-6;
  }
}
