/**
 * Per-series state to and from checkpoint records (checkpoint.ts writes and reads the file):
 * the forecaster's part, and each model's fields (see `ForecastModel.snapshot`).
 */
import type { SeriesSnapshot } from './checkpoint.js';
import { recordSize } from './ensemble.js';
import { InputError } from '../lib/errors.js';
import { HistoryStore, type SeriesHistory } from './history.js';
import type { ForecastModel } from './model.js';
import { type SeriesState, newSeriesState } from './series.js';

/** A record from a checkpoint, or an empty one when absent or malformed (older checkpoints). */
function recordFrom(a: unknown, k: number): Float64Array {
  const n = recordSize(k);
  return Array.isArray(a) && a.length === n && a.every((x) => typeof x === 'number' && Number.isFinite(x))
    ? Float64Array.from(a as number[])
    : new Float64Array(n);
}

const finiteOrNull = (a: ArrayLike<number>) => Array.from(a, (x) => (Number.isFinite(x) ? x : null));

/** A saved array of `n` numbers (null for `missing`) into `into`; left as it is when absent or malformed. */
function fill<A extends Float32Array | Float64Array>(into: A, saved: unknown, missing: number): A {
  if (!Array.isArray(saved) || saved.length !== into.length) return into;
  if (!saved.every((x) => x === null || (typeof x === 'number' && Number.isFinite(x)))) return into;
  saved.forEach((x: number | null, i) => {
    into[i] = x === null ? missing : x;
  });
  return into;
}

/** One series' checkpoint record (its history too when `includeHistory`). */
export function snapshotSeries(
  s: SeriesState,
  history: HistoryStore,
  models: readonly ForecastModel[],
  includeHistory: boolean,
): SeriesSnapshot {
  let hist: SeriesSnapshot['hist'] = null;
  if (includeHistory) {
    const span = history.span(s.h);
    const values = new Float32Array(span);
    history.read(s.h, s.h.lastStep, span, values);
    hist = {
      lastStep: s.h.lastStep,
      firstStep: s.h.lastStep - span + 1,
      lastObservedStep: s.h.lastObservedStep,
      observed: s.h.observed,
      values,
    };
  }
  return {
    id: s.h.id,
    season: s.season,
    seasonAt: Number.isFinite(s.seasonAt) ? s.seasonAt : null,
    ...Object.assign({}, ...models.map((m) => m.snapshot?.(s) ?? {})),
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
    pend: finiteOrNull(s.pend),
    pendW: finiteOrNull(s.pendW),
    pendIssue: finiteOrNull(s.pendIssue),
    recordFrom: finiteOrNull(s.recordFrom),
    hist,
  };
}

/**
 * Rebuilds series states from checkpoint records into `history`, replacing what it holds.
 * Everything is validated before anything changes (a malformed record throws, `history` is
 * left as it was); records without history are dropped. `historyOnly` (records of another set
 * of models): the observations and season are kept, each model starts afresh on them (the
 * error scale too: it measures the old models' errors).
 */
export function restoreSeries(
  snaps: SeriesSnapshot[],
  history: HistoryStore,
  models: readonly ForecastModel[],
  horizon: number,
  historyOnly = false,
): SeriesState[] {
  const k = models.length;
  const built: SeriesState[] = [];
  const hs = new HistoryStore({ maxLength: history.maxLength, maxSeries: history.maxSeries });
  for (const sn of snaps) {
    if (typeof sn.id !== 'string' || (!historyOnly && (sn.err.length !== k + 1 || sn.cnt.length !== k + 1)))
      throw new InputError(`series snapshot ${String(sn.id)} malformed`);
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
    // what the series is, whatever models read it
    const kept = {
      season: sn.season,
      seasonAt: sn.seasonAt === undefined ? observed : (sn.seasonAt ?? Number.POSITIVE_INFINITY),
      sawNegative: !!sn.sawNegative,
      accounted: sn.accounted,
    };
    if (historyOnly) {
      built.push(newSeriesState(h, k, horizon, { ...kept, slots: models.map((m) => m.initSeries(sn.accounted + 1)) }));
      continue;
    }
    const fresh = newSeriesState(h, k, horizon, {});
    built.push(
      newSeriesState(h, k, horizon, {
        ...kept,
        pend: fill(fresh.pend, sn.pend, NaN),
        pendW: fill(fresh.pendW, sn.pendW, NaN),
        pendIssue: fill(fresh.pendIssue, sn.pendIssue, NaN),
        recordFrom: fill(fresh.recordFrom, sn.recordFrom, Number.NEGATIVE_INFINITY),
        slots: models.map((m) => (m.restore ? m.restore(sn, observed) : m.initSeries(sn.accounted + 1))),
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
      }),
    );
  }
  for (const id of [...history.ids()]) history.delete(id);
  for (const s of built) {
    const h = history.observe(s.h.id, s.h.firstStep, NaN)!;
    for (let t = s.h.firstStep; t <= s.h.lastStep; t++) history.observe(s.h.id, t, hs.at(s.h, t));
    h.observed = s.h.observed;
    h.lastObservedStep = s.h.lastObservedStep;
    s.h = h;
  }
  return built;
}
