/**
 * Per-series state of the online forecaster: the history handle, the season, the ensemble's
 * error records and pending forecasts (indexed by model, the ensemble last), and one slot per
 * model for that model's own state (see model.ts).
 */
import { recordSize } from './ensemble.js';
import type { HistoryStore, SeriesHistory } from './history.js';

export interface SeriesState {
  h: SeriesHistory;
  season: number;
  /** Observations at the last season detection (Infinity: the season is configured). */
  seasonAt: number;
  /** Each model's own state, indexed like the model list. */
  slots: unknown[];
  /** Model i's forecasts issued before recordFrom[i] are kept out of the ensemble's records (an older fit made them). */
  recordFrom: Float64Array;
  sawNegative: boolean;
  /** Recent |error| of each model and of the ensemble (last), for the intervals and refit triggers. */
  err: Float64Array;
  cnt: Uint32Array;
  /** Recent error of the models for the weights: like `err`, each |error| winsorised. */
  werr: Float64Array;
  /** Long- and short-memory validation records of the models (see ensemble.ts). */
  rec: Float64Array;
  recShort: Float64Array;
  /** Models the dominance test has set aside (1), for its hysteresis. */
  aside: Uint8Array;
  /** Models admitted beside the anchor (1), for the anchoring hysteresis. */
  admitted: Uint8Array;
  scale: number;
  /** Like `scale`, with a half-life of one step: the newest seasonal change. */
  scaleFast: number;
  /** Pending forecasts: [model][issue slot][h], their interval scales and issue steps. */
  pend: Float32Array;
  pendW: Float32Array;
  pendIssue: Float64Array;
  /** Newest step whose value has been scored. */
  accounted: number;
}

/** Fresh state for `models` models (the ensemble comes on top) and horizon `H`. */
export function newSeriesState(h: SeriesHistory, models: number, H: number, init: Partial<SeriesState>): SeriesState {
  const all = models + 1;
  return {
    h,
    season: 1,
    seasonAt: 0,
    slots: [],
    recordFrom: new Float64Array(models).fill(-Infinity),
    sawNegative: false,
    err: new Float64Array(all).fill(NaN),
    cnt: new Uint32Array(all),
    werr: new Float64Array(models).fill(NaN),
    rec: new Float64Array(recordSize(models)),
    recShort: new Float64Array(recordSize(models)),
    aside: new Uint8Array(models),
    admitted: new Uint8Array(models),
    scale: NaN,
    scaleFast: NaN,
    pend: new Float32Array(all * H * H).fill(NaN),
    pendW: new Float32Array(all * H).fill(NaN),
    pendIssue: new Float64Array(H).fill(NaN),
    accounted: h.lastStep - 1,
    ...init,
  };
}

/** The newest finite value at or before `now` within the buffer (NaN when none). */
export function lastObserved(history: HistoryStore, h: SeriesHistory, now: number): number {
  for (let t = now; t > now - history.maxLength; t--) {
    const v = history.at(h, t);
    if (Number.isFinite(v)) return v;
  }
  return NaN;
}
