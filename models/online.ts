/**
 * OnlineForecaster: what the forecast pipeline drives. Observations arrive per series and
 * window (`observe`); once per window `step(now)` scores the forecasts that matured, lets every
 * model of the list (registry.ts: seasonal naive, Holt-Winters, the global tfjs model) consume
 * the new observations and refit or train within its budget, and forecasts every active series,
 * combining the models per series by their recent error.
 *
 * The ensemble: models clearly beaten on a long validation record of matured forecasts are set
 * aside; the anchor (Holt-Winters by default) is kept, and another model joins it only once
 * significantly better than it on that record; the models left are combined by their recent
 * error (see ensemble.ts for the stages). Intervals come from the pooled normalised-conformal
 * calibrator (see ensemble.ts), on a local scale that is at least the series' recent seasonal
 * change (see `localScale`).
 */
import type { Forecast, ForecastPoint } from '../schemas/types.js';
import { StateError } from '../lib/errors.js';
import { logger } from '../lib/log.js';
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
import type { GlobalModel } from './global.js';
import { HistoryStore, type SeriesHistory } from './history.js';
import type { ForecastModel } from './model.js';
import { type OnlineForecasterOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { type GlobalForecastModel, isGlobalModel } from './plugins/global.js';
import { MODELS } from './registry.js';
import { detectSeason } from './season.js';
import { type SeriesState, lastObserved, newSeriesState } from './series.js';
import { rng } from './util.js';
import { loadCheckpoint, saveCheckpoint, type CheckpointResult, type SeriesSnapshot } from './checkpoint.js';

/** Half-life, in steps, of `SeriesState.scaleFast`. */
const FAST_SCALE_HALF_LIFE = 1;

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

/** A record from a checkpoint, or an empty one when absent or malformed (older checkpoints). */
function recordFrom(a: unknown, k: number): Float64Array {
  const n = recordSize(k);
  return Array.isArray(a) && a.length === n && a.every((x) => typeof x === 'number' && Number.isFinite(x))
    ? Float64Array.from(a as number[])
    : new Float64Array(n);
}

export class OnlineForecaster {
  readonly opts: ResolvedOptions;
  readonly history: HistoryStore;
  readonly calibrator: ConformalCalibrator;
  /** The models combined, in the registry's order. */
  readonly models: readonly ForecastModel[];
  private readonly names: string[];
  private readonly globalModel: GlobalForecastModel | undefined;
  private readonly series = new Map<string, SeriesState>();
  private readonly rand: () => number;
  private readonly log = logger('forecast.online');
  private readonly decay: number;
  private readonly recDecay: number;
  private readonly fastScaleDecay = 0.5 ** (1 / FAST_SCALE_HALF_LIFE);
  private readonly absScratch: Float64Array;
  private readonly inEnsemble: boolean[];
  /** Index of the anchor model, -1 for none (or when it is not in the ensemble). */
  private readonly anchorIndex: number;
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
    this.names = MODELS.map((m) => m.name);
    const k = this.names.length;
    this.calibrator = new ConformalCalibrator(k + 1, o.horizon, o.level);
    this.rand = rng(o.seed);
    this.decay = 0.5 ** (1 / o.errorHalfLife);
    this.recDecay = 0.5 ** (1 / (o.recordHalfLife * o.horizon));
    this.absScratch = new Float64Array(k);
    this.inEnsemble = this.names.map((n) => o.ensembleOf.includes(n));
    const a = o.anchor ? this.names.indexOf(o.anchor) : -1;
    this.anchorIndex = a >= 0 && this.inEnsemble[a] ? a : -1;
    this.models = MODELS.map((entry, index) => {
      const m = entry.create({
        opts: o,
        history: this.history,
        index,
        indexOf: (name) => this.names.indexOf(name),
        rand: this.rand,
        steps: () => this.stepCount,
        restartRecord: (s, now) => this.restartRecord(s, index, now),
      });
      if (m.name !== entry.name) throw new StateError(`model registered as ${entry.name} calls itself ${m.name}`);
      return m;
    });
    this.globalModel = this.models.find(isGlobalModel);
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
      for (const model of this.models) model.seasonChanged?.(s);
    }
  }

  /** Model i's record, its recent error for the weights and its exclusion start afresh for a series. */
  private restartRecord(s: SeriesState, i: number, now: number): void {
    const k = this.models.length;
    recordReset(s.rec, k, i);
    recordReset(s.recShort, k, i);
    s.aside[i] = 0;
    s.werr[i] = NaN;
    s.recordFrom[i] = now;
  }

  /** Scores the forecasts whose targets are now known, for every model and the ensemble. */
  private score(s: SeriesState, now: number): void {
    const H = this.opts.horizon;
    const k = this.models.length;
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
  private localScale(s: SeriesState, m: number, fallback: number): number {
    const e = s.cnt[m]! >= 3 ? s.err[m]! : NaN;
    let v = Number.isFinite(e) && e > 0 ? e : fallback;
    if (this.opts.intervalScaleFloor) {
      if (Number.isFinite(s.scale)) v = Math.max(v, s.scale);
      if (Number.isFinite(s.scaleFast)) v = Math.max(v, s.scaleFast);
    }
    return Math.max(v, 1e-9);
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
    const k = this.models.length;
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

    // Combine.
    const t1 = performance.now();
    const out: Forecast[] = [];
    const details: ForecastDetail[] = [];
    const slot = ((now % H) + H) % H;
    for (const [r, s] of rows.entries()) {
      const clip = this.clipsAtZero(s);
      const last = lastObserved(this.history, s.h, now);
      const pts = preds.map((p) => p[r]);
      for (const p of pts)
        if (p && (clip || !p.every(Number.isFinite)))
          for (let h = 0; h < H; h++) p[h] = Number.isFinite(p[h]!) ? (clip ? Math.max(0, p[h]!) : p[h]!) : last;
      if (!pts.some(Boolean)) continue;
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
      s.pendIssue[slot] = now;
      for (let mi = 0; mi <= k; mi++) {
        const p = all[mi];
        const base = mi * H * H + slot * H;
        s.pendW[mi * H + slot] = this.localScale(s, mi, fallback);
        for (let h = 0; h < H; h++) s.pend[base + h] = p ? p[h]! : NaN;
      }
      const ls = this.localScale(s, k, fallback);
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
      out.push({
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

  /** Interval scale for a series without a seasonal change yet: the first model's that has one, else a tenth of the level. */
  private fallbackScale(s: SeriesState, last: number): number {
    for (const m of this.models) {
      const v = m.fallbackScale?.(s);
      if (v !== undefined) return v;
    }
    return Math.abs(last) * 0.1 + 1e-6;
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
    if (!this.global || !this.globalModel) return NaN;
    const { windows, loss } = await this.globalModel.warmFit(this.series.values(), epochs, opts);
    this.log.debug({ windows, epochs, loss }, 'global model warm fit');
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
        ...Object.assign({}, ...this.models.map((m) => m.snapshot?.(s) ?? {})),
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
    const k = this.models.length;
    const built: SeriesState[] = [];
    const hs = new HistoryStore({ maxLength: this.history.maxLength, maxSeries: this.history.maxSeries });
    for (const sn of snaps) {
      if (typeof sn.id !== 'string' || sn.err.length !== k + 1 || sn.cnt.length !== k + 1)
        throw new StateError(`series snapshot ${String(sn.id)} malformed`);
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
      const observed = sn.hist?.observed ?? 0;
      built.push(
        newSeriesState(h, k, H, {
          season: sn.season,
          seasonAt: observed,
          slots: this.models.map((m) => (m.restore ? m.restore(sn, observed) : m.initSeries(sn.accounted + 1))),
          sawNegative: !!sn.sawNegative,
          err: Float64Array.from(sn.err.map((x) => (x === null ? NaN : x))),
          cnt: Uint32Array.from(sn.cnt),
          werr: Float64Array.from({ length: k }, (_, i) => {
            const v = Array.isArray(sn.werr) ? sn.werr[i] : sn.err[i];
            return typeof v === 'number' && Number.isFinite(v) ? v : NaN;
          }),
          rec: recordFrom(sn.rec, k),
          recShort: recordFrom(sn.recShort, k),
          aside: Uint8Array.from({ length: k }, (_, i) => (Array.isArray(sn.aside) && sn.aside[i] === 1 ? 1 : 0)),
          admitted: Uint8Array.from({ length: k }, (_, i) => (Array.isArray(sn.admitted) && sn.admitted[i] === 1 ? 1 : 0)),
          scale: sn.scale ?? NaN,
          scaleFast: typeof sn.scaleFast === 'number' && Number.isFinite(sn.scaleFast) ? sn.scaleFast : (sn.scale ?? NaN),
          accounted: sn.accounted,
        }),
      );
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
