/**
 * The ensemble's stages (dominance, anchoring, weights, calibration) and the online forecaster
 * over them. One file because the cases build on the same synthetic series and read as one
 * argument, from each rule to the combination.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  anchorAdmit,
  combine,
  dominanceKeep,
  ensembleName,
  ensembleWeights,
  recordError,
  recordReset,
  recordSize,
  recordUpdate,
  recordWorseT,
  recordWorseTest,
  tCritical,
  winsorisedAverage,
} from '../../models/ensemble.js';
import { ConformalCalibrator } from '../../models/calibrator.js';
import { HistoryStore } from '../../models/history.js';
import { OnlineForecaster } from '../../models/online.js';
import { rng } from '../../models/util.js';
import { MODEL_NAMES } from '../../models/registry.js';

/** The ensemble's index in a forecast's per-model details (after every model). */
const ENSEMBLE = MODEL_NAMES.indexOf('ensemble');

test('weights are inverse recent error to a power, cold models excluded', () => {
  const w = ensembleWeights([1, 2, NaN], [10, 10, 0], [true, true, true], { power: 1 });
  assert.ok(Math.abs(w[0]! - 2 / 3) < 1e-12 && Math.abs(w[1]! - 1 / 3) < 1e-12 && w[2] === 0);
  const w2 = ensembleWeights([1, 2], [10, 10], [true, true], { power: 2 });
  assert.ok(Math.abs(w2[0]! - 0.8) < 1e-12);
  // Exclusion ratio drops a model far behind the best.
  assert.deepEqual(ensembleWeights([1, 3], [5, 5], [true, true], { power: 1, exclusionRatio: 2 }), [1, 0]);
  // Nobody has a track record: equal weights over the available models.
  assert.deepEqual(ensembleWeights([NaN, NaN, NaN], [0, 0, 0], [true, false, true]), [0.5, 0, 0.5]);
  assert.deepEqual(
    combine(
      [
        [1, 2],
        [3, 4],
      ],
      [0.25, 0.75],
    ),
    [2.5, 3.5],
  );
  assert.equal(ensembleName(['a', 'b'], [0.3, 0.7]), 'ensemble(b)');
  assert.equal(ensembleName(['a', 'b'], [1, 0]), 'a');
});

test('conformal calibrator returns the level quantile of pooled scores', () => {
  const c = new ConformalCalibrator(1, 1, 0.9, 1000, 0);
  for (let i = 1; i <= 100; i++) c.add(0, 1, i / 100);
  c.update();
  const f = c.factor(0, 1);
  assert.ok(f > 0.89 && f < 0.93, `factor ${f}`);
  const snap = c.toJSON();
  const d = new ConformalCalibrator(1, 1, 0.9, 1000, 0);
  d.restore(snap);
  assert.equal(d.factor(0, 1), f);
  assert.throws(() => new ConformalCalibrator(2, 1).restore(snap));
});

test('history ring buffer: gaps are NaN, bounded, stale series evicted', () => {
  const h = new HistoryStore({ maxLength: 4, maxSeries: 2 });
  h.observe('a', 10, 1);
  h.observe('a', 12, 3);
  const s = h.get('a')!;
  assert.ok(Number.isNaN(h.at(s, 11)));
  assert.equal(h.at(s, 12), 3);
  const out = new Float64Array(4);
  h.read(s, 12, 4, out);
  assert.deepEqual(
    Array.from(out).map((v) => (Number.isNaN(v) ? null : v)),
    [null, 1, null, 3],
  );
  h.observe('a', 20, 5); // jumps past the buffer
  assert.ok(Number.isNaN(h.at(s, 12)) && h.at(s, 20) === 5);
  assert.equal(h.observe('a', 15, 9), undefined); // older than the buffer
  assert.equal(h.droppedLate, 1);
  h.observe('b', 20, 1);
  h.observe('c', 21, 1); // over capacity: the stalest ('a', first at step 20) goes
  assert.equal(h.size, 2);
  assert.equal(h.get('a'), undefined);
  assert.deepEqual(h.evictStale(21), ['b']);
  assert.equal(h.bytes(), 16);
});

test('validation record: hand-computed means and differential t statistic', () => {
  // Two models, no decay: |e| = (1, 2), (3, 2), (2, 5).
  const rec = new Float64Array(recordSize(2));
  assert.equal(rec.length, 8);
  for (const e of [
    [1, 2],
    [3, 2],
    [2, 5],
  ])
    recordUpdate(rec, e, 1);
  assert.equal(recordError(rec, 0), 2);
  assert.equal(recordError(rec, 1), 3);
  // d = e1 − e0 = (1, −1, 3): mean 1, population variance (0 + 4 + 4)/3 = 8/3, n = 3.
  const t = 1 / Math.sqrt(8 / 3 / 3);
  assert.ok(Math.abs(recordWorseT(rec, 2, 1, 0) - t) < 1e-12);
  assert.ok(Math.abs(recordWorseT(rec, 2, 0, 1) + t) < 1e-12);
  // Overlapping forecasts count for less evidence.
  assert.ok(Math.abs(recordWorseT(rec, 2, 1, 0, 1.5) - 1 / Math.sqrt(8 / 3 / 2)) < 1e-12);
  // A missing forecast updates the other model only, never the pair.
  recordUpdate(rec, [NaN, 10], 1);
  assert.equal(recordError(rec, 1), 19 / 4);
  assert.ok(Math.abs(recordWorseT(rec, 2, 1, 0) - t) < 1e-12);
  recordReset(rec, 2, 1);
  assert.ok(Number.isNaN(recordError(rec, 1)) && Number.isNaN(recordWorseT(rec, 2, 1, 0)));
  assert.equal(recordError(rec, 0), 2);
});

test('dominance: clearly worse models are set aside, close or unrecorded ones kept', () => {
  const k = 3;
  const rec = new Float64Array(recordSize(k));
  // Model 1 is best; model 0 is 30% worse with little noise; model 2 is within noise of 1.
  for (let i = 0; i < 400; i++) {
    const noise = i % 2 ? 1 : -1;
    recordUpdate(rec, [1.3 + 0.1 * noise, 1, 1 + 0.5 * noise], 0.999);
  }
  assert.deepEqual(dominanceKeep(rec, [true, true, true], { z: 2 }), [false, true, true]);
  // Not available now: never kept; the best available model is then the reference.
  assert.deepEqual(dominanceKeep(rec, [true, false, true], { z: 2 }), [false, false, true]);
  assert.deepEqual(dominanceKeep(rec, [true, false, false], { z: 2 }), [true, false, false]);
  // Counted as one sample per 400 forecasts, the evidence is too thin to set anything aside.
  assert.deepEqual(dominanceKeep(rec, [true, true, true], { z: 2, overlap: 400 }), [true, true, true]);
  // A model with too short a record is kept for the combination stage to judge.
  assert.deepEqual(dominanceKeep(rec, [true, true, true], { z: 2, minRecord: 1e6 }), [true, true, true]);
  // The short record shows model 0 clearly better now (it recovered): it is kept.
  const recent = new Float64Array(recordSize(k));
  for (let i = 0; i < 50; i++) recordUpdate(recent, [0.5 + 0.01 * (i % 3), 1, 1], 0.9);
  assert.deepEqual(dominanceKeep(rec, [true, true, true], { z: 2, recent }), [true, true, true]);
});

test('dominance hysteresis: a model set aside comes back only once its t falls to zBack', () => {
  const k = 2;
  // Model 0 clearly worse than model 1: set aside, flag raised.
  const rec = new Float64Array(recordSize(k));
  for (let i = 0; i < 200; i++) recordUpdate(rec, [1.3 + (i % 2 ? 0.2 : -0.2), 1], 1);
  const aside = new Uint8Array(k);
  assert.deepEqual(dominanceKeep(rec, [true, true], { z: 2, zBack: 1, aside }), [false, true]);
  assert.deepEqual(Array.from(aside), [1, 0]);
  // A record where model 0 is worse with 1 < t < 2: kept without a flag, still aside with it.
  const mid = new Float64Array(recordSize(k));
  for (let i = 0; i < 100; i++) recordUpdate(mid, [1 + (i % 2 ? 1.15 : -0.85), 1], 1);
  const t = recordWorseT(mid, k, 0, 1);
  assert.ok(t > 1 && t < 2, `t ${t}`);
  assert.deepEqual(dominanceKeep(mid, [true, true], { z: 2 }), [true, true]);
  assert.deepEqual(dominanceKeep(mid, [true, true], { z: 2, zBack: 1, aside }), [false, true]);
  assert.equal(aside[0], 1);
  // Once t is under zBack it is back, and the flag is cleared.
  const close = new Float64Array(recordSize(k));
  for (let i = 0; i < 100; i++) recordUpdate(close, [1 + (i % 2 ? 1 : -1), 1], 1);
  assert.deepEqual(dominanceKeep(close, [true, true], { z: 2, zBack: 1, aside }), [true, true]);
  assert.deepEqual(Array.from(aside), [0, 0]);
});

test('winsorised recent error: a burst moves the average by at most k times itself', () => {
  const d = 0.9;
  let a = NaN;
  for (let n = 0; n < 20; n++) a = winsorisedAverage(a, n, 1, d, 6, 4);
  assert.ok(Math.abs(a - 1) < 1e-12);
  // A burst error of 100 counts as 6.
  assert.ok(Math.abs(winsorisedAverage(a, 20, 100, d, 6, 4) - (0.9 + 0.1 * 6)) < 1e-12);
  // Before minCount errors, and with k = Infinity, nothing is clipped.
  assert.ok(Math.abs(winsorisedAverage(1, 2, 100, d, 6, 4) - (0.9 + 10)) < 1e-12);
  assert.ok(Math.abs(winsorisedAverage(1, 20, 100, d, Infinity, 4) - (0.9 + 10)) < 1e-12);
  assert.equal(winsorisedAverage(NaN, 0, 3, d, 6, 4), 3);
});

test('where Holt-Winters is clearly best, bursts included, the ensemble is Holt-Winters', async () => {
  // Season + trend + noise + ×3 bursts of 1–2 steps: seasonal naive repeats bursts and noise
  // a season later, so Holt-Winters (burst-capped, smoothed) is clearly better. The ensemble
  // must settle on it and stay there through the bursts (before the hysteresis and the
  // winsorised weights it mixed seasonal naive back in after bursts: 278 of 300 origins,
  // MAE 2% above Holt-Winters'). Only data before each origin is used (online steps).
  const H = 6,
    m = 12;
  const r = rng(11);
  const gauss = (): number => Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
  let burst = 0;
  const y = Array.from({ length: 700 }, (_, t) => {
    if (burst <= 0 && r() < 0.02) burst = 1 + Math.floor(r() * 2);
    return (burst-- > 0 ? 3 : 1) * (100 + 30 * Math.sin((2 * Math.PI * t) / m) + 0.05 * t) + 4 * gauss();
  });
  const f = new OnlineForecaster({ stepMs: 1, horizon: H, season: m, global: false, hwRefitEvery: 96 });
  f.keepDetails = true;
  let hwOnly = 0,
    n = 0,
    errEns = 0,
    errHw = 0;
  for (let t = 0; t < y.length; t++) {
    f.observe('s', t, y[t]!);
    await f.step(t);
    if (t < 400) continue;
    const d = f.lastDetails[0]!;
    n++;
    if (d.weights[1] === 1) {
      hwOnly++;
      assert.deepEqual(d.models[ENSEMBLE]!.predicted, d.models[1]!.predicted);
    }
    for (let h = 1; h <= H && t + h < y.length; h++) {
      errEns += Math.abs(y[t + h]! - d.models[ENSEMBLE]!.predicted[h - 1]!);
      errHw += Math.abs(y[t + h]! - d.models[1]!.predicted[h - 1]!);
    }
  }
  assert.ok(hwOnly / n >= 0.95, `Holt-Winters alone at ${hwOnly} of ${n} origins`);
  assert.ok(errEns <= errHw * (1 + 1e-9), `ensemble MAE ${errEns / n} vs Holt-Winters ${errHw / n}`);
});

test('calibrator: the fallback factor until enough scores; a few huge scores (a series waking up) cannot blow every interval up', () => {
  const c = new ConformalCalibrator(1, 1, 0.9, 256, 0);
  for (let i = 0; i < 20; i++) c.add(0, 1, 1);
  c.update();
  assert.equal(c.factor(0, 1), 2, 'fallback while fewer than 30 scores');
  for (let i = 0; i < 30; i++) c.add(0, 1, i % 10 === 0 ? 1e6 : 1);
  c.update();
  assert.ok(c.factor(0, 1) <= 25, `factor ${c.factor(0, 1)} is capped`);
});

test('intervals: a series that starts to move (a regime change) widens them at once, calm ones stay near nominal', async () => {
  // Six seasonal series, calm for 180 steps, then their level grows 6% a step for 24 steps
  // (a recession's unemployment counts). A model's recent error learns of the move only as
  // its forecasts mature (a 12-step one, 12 steps later); the series' seasonal change shows
  // it with the first observations, and the interval scale's floor on it widens the
  // intervals of the forecasts issued during the move. Without the floor they covered 79%
  // of those targets, with it 84%; calm-period coverage stays near 0.9.
  const H = 12,
    m = 12,
    S = 6,
    shift = 180,
    ramp = 24,
    T = 260;
  const coverage = async (intervalScaleFloor: boolean): Promise<{ calm: number; moving: number }> => {
    const r = rng(6);
    const gauss = (): number => Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
    const ys = Array.from({ length: S }, (_, i) =>
      Array.from(
        { length: T },
        (_, t) =>
          100 * (1 + i / 10) * 1.06 ** Math.min(Math.max(t - shift, 0), ramp) * (1 + 0.2 * Math.sin((2 * Math.PI * (t + i)) / m)) +
          3 * gauss(),
      ),
    );
    const f = new OnlineForecaster({ stepMs: 1, horizon: H, season: m, global: false, intervalScaleFloor });
    f.keepDetails = true;
    const n: Record<'calm' | 'moving', [number, number]> = { calm: [0, 0], moving: [0, 0] };
    for (let t = 0; t < T - H; t++) {
      for (const [i, y] of ys.entries()) f.observe(`s${i}`, t, y[t]!);
      await f.step(t);
      if (t < 60) continue;
      for (const d of f.lastDetails) {
        const y = ys[Number(d.seriesId.slice(1))]!,
          e = d.models[ENSEMBLE]!;
        for (let h = 1; h <= H; h++) {
          // Forecasts issued while the level moves; calm: targets before the move.
          const k = t >= shift + 2 && t < shift + ramp ? 'moving' : t + h < shift ? 'calm' : null;
          if (!k) continue;
          n[k][1]++;
          if (y[t + h]! >= e.lower[h - 1]! && y[t + h]! <= e.upper[h - 1]!) n[k][0]++;
        }
      }
    }
    return { calm: n.calm[0] / n.calm[1], moving: n.moving[0] / n.moving[1] };
  };
  const floor = await coverage(true),
    none = await coverage(false);
  assert.ok(
    floor.moving >= 0.82 && floor.moving >= none.moving + 0.03,
    `coverage while moving: ${floor.moving} with the floor, ${none.moving} without`,
  );
  assert.ok(floor.calm >= 0.85 && floor.calm <= 0.95, `calm coverage ${floor.calm}`);
});

test('t critical values: Student-t quantiles at the one-sided level of z', () => {
  const z = 1.959964; // 97.5%
  // Tabulated t quantiles (0.975): df 5 → 2.5706, 10 → 2.2281, 30 → 2.0423.
  assert.ok(Math.abs(tCritical(z, 5) - 2.5706) < 0.01, `df 5: ${tCritical(z, 5)}`);
  assert.ok(Math.abs(tCritical(z, 10) - 2.2281) < 0.002, `df 10: ${tCritical(z, 10)}`);
  assert.ok(Math.abs(tCritical(z, 30) - 2.0423) < 0.001, `df 30: ${tCritical(z, 30)}`);
  assert.equal(tCritical(z, Infinity), z);
  assert.equal(tCritical(z, 0), Infinity);
  // Larger z, fewer samples: stricter.
  assert.ok(tCritical(3, 10) > tCritical(2, 10) && tCritical(2, 3) > tCritical(2, 10));
});

test('dominance: a few effective samples are not evidence, however large t looks', () => {
  // d = e0 − e1 = (1, 2, 0): mean 1, t = 1 / sqrt(2/3/3) = 2.12 > 2, but 3 samples (df 2).
  const few = new Float64Array(recordSize(2));
  for (const e of [
    [2, 1],
    [3, 1],
    [1, 1],
  ])
    recordUpdate(few, e, 1);
  const { t, df } = recordWorseTest(few, 2, 0, 1);
  assert.ok(t > 2 && Math.abs(df - 2) < 1e-12, `t ${t} df ${df}`);
  assert.deepEqual(dominanceKeep(few, [true, true], { z: 2 }), [true, true]);
  // The same pattern ten times over is evidence.
  const many = new Float64Array(recordSize(2));
  for (let i = 0; i < 10; i++)
    for (const e of [
      [2, 1],
      [3, 1],
      [1, 1],
    ])
      recordUpdate(many, e, 1);
  assert.deepEqual(dominanceKeep(many, [true, true], { z: 2 }), [false, true]);
});

test('dominance with an anchor: the anchor is set aside only on the evidence that admits another model', () => {
  // Model 1 worse than model 0 with t ≈ 2.5 (200 samples): above z = 2, under anchorZ = 3.
  const rec = new Float64Array(recordSize(2));
  for (let i = 0; i < 200; i++) recordUpdate(rec, [1, 1 + 0.18 + (i % 2 ? 1 : -1)], 1);
  const t = recordWorseT(rec, 2, 1, 0);
  assert.ok(t > 2.2 && t < 2.8, `t ${t}`);
  assert.deepEqual(dominanceKeep(rec, [true, true], { z: 2 }), [true, false]);
  assert.deepEqual(dominanceKeep(rec, [true, true], { z: 2, anchor: 1, anchorZ: 3 }), [true, true]);
  // Any other model is still set aside at z.
  assert.deepEqual(dominanceKeep(rec, [true, true], { z: 2, anchor: 0, anchorZ: 3 }), [true, false]);
});

test('anchoring: another model joins the anchor only when significantly better than it', () => {
  const k = 3,
    anchor = 1;
  const n = (i: number): number => (i % 2 ? 1 : -1);
  // Model 0 is the anchor's equal within noise; model 2 is clearly better than the anchor.
  const rec = new Float64Array(recordSize(k));
  for (let i = 0; i < 200; i++) recordUpdate(rec, [1 + 0.5 * n(i), 1, 0.7 + 0.1 * n(i)], 1);
  const admitted = new Uint8Array(k);
  assert.deepEqual(anchorAdmit(rec, [true, true, true], anchor, { z: 3, zBack: 1, admitted }), [false, true, true]);
  assert.deepEqual(Array.from(admitted), [0, 0, 1]);
  // No record at all (e.g. the anchor was just refitted): the anchor alone.
  assert.deepEqual(anchorAdmit(new Float64Array(recordSize(k)), [true, true, true], anchor, { z: 3 }), [false, true, false]);
  // The anchor not kept (unavailable, or set aside): nothing to anchor to, keep as given.
  assert.deepEqual(anchorAdmit(rec, [true, false, true], anchor, { z: 3 }), [true, false, true]);
  // Hysteresis: anchor worse than model 2 with 1 < t < 3 keeps an admitted model in, admits no new one.
  const mid = new Float64Array(recordSize(k));
  for (let i = 0; i < 200; i++) recordUpdate(mid, [1, 1, 1 - 0.1 - 0.9 * n(i)], 1);
  const tm = recordWorseT(mid, k, anchor, 2);
  assert.ok(tm > 1.2 && tm < 2.5, `t ${tm}`);
  assert.deepEqual(anchorAdmit(mid, [false, true, true], anchor, { z: 3, zBack: 1, admitted }), [false, true, true]);
  assert.deepEqual(anchorAdmit(mid, [false, true, true], anchor, { z: 3, zBack: 1, admitted: new Uint8Array(k) }), [false, true, false]);
  // The short record alone can admit a model (the long one lags when a model pulls ahead).
  const flat = new Float64Array(recordSize(k));
  for (let i = 0; i < 200; i++) recordUpdate(flat, [1 + 0.5 * n(i), 1, 1 + 0.5 * n(i)], 1);
  const recent = new Float64Array(recordSize(k));
  for (let i = 0; i < 60; i++) recordUpdate(recent, [1 + 0.5 * n(i), 1, 0.5 + 0.05 * n(i)], 0.95);
  assert.deepEqual(anchorAdmit(flat, [true, true, true], anchor, { z: 3 }), [false, true, false]);
  assert.deepEqual(anchorAdmit(flat, [true, true, true], anchor, { z: 3, recent }), [false, true, true]);
});

test('weights: the anchor is exempt from the exclusion ratio', () => {
  assert.deepEqual(ensembleWeights([1, 3], [5, 5], [true, true], { power: 1, exclusionRatio: 2 }), [1, 0]);
  const w = ensembleWeights([1, 3], [5, 5], [true, true], { power: 1, exclusionRatio: 2, anchor: 1 });
  assert.ok(Math.abs(w[0]! - 0.75) < 1e-12 && Math.abs(w[1]! - 0.25) < 1e-12, `${w}`);
});

test('a Holt-Winters refit from a short history starts a record of its own forecasts only', async () => {
  // Until the fit window is full every refit replaces a provisional fit and resets its record.
  // The old fit's forecasts still pending must not refill it: one step after the reset the
  // record holds the new fit's one matured forecast (h = 1), not the H pending ones.
  const H = 6,
    m = 12;
  const f = new OnlineForecaster({ stepMs: 1, horizon: H, season: m, global: false });
  let resets = 0,
    prevFitObs = 0,
    justReset = false;
  for (let t = 0; t < 150; t++) {
    f.observe('s', t, 100 + 20 * Math.sin((2 * Math.PI * t) / m) + 0.3 * t + ((t * 7) % 5));
    await f.step(t);
    const s = f.snapshotSeries(false)[0]!;
    const hwWeight = s.rec![2 * 1 + 1]!;
    if (justReset) assert.ok(hwWeight <= 1 + 1e-9, `step ${t}: Holt-Winters record weight ${hwWeight} one step after its reset`);
    justReset = (s.hwFitObs ?? 0) !== prevFitObs && prevFitObs > 0 && hwWeight === 0;
    if (justReset) resets++;
    prevFitObs = s.hwFitObs ?? 0;
  }
  assert.ok(resets >= 3, `resets ${resets}`);
});

/** Online MAE over origins ≥ from: [ensemble, Holt-Winters, seasonal naive], and the share of origins that used model `model`. */
async function onlineErrors(
  y: number[],
  opts: { horizon: number; season: number; from: number; anchor?: 'holt_winters' | null; model?: number },
): Promise<{ ens: number; hw: number; sn: number; used: number; firstUsed: number }> {
  const H = opts.horizon;
  const f = new OnlineForecaster({
    stepMs: 1,
    horizon: H,
    season: opts.season,
    global: false,
    ...(opts.anchor !== undefined ? { anchor: opts.anchor } : {}),
  });
  f.keepDetails = true;
  let ens = 0,
    hw = 0,
    sn = 0,
    used = 0,
    n = 0,
    firstUsed = -1;
  for (let t = 0; t < y.length; t++) {
    f.observe('s', t, y[t]!);
    await f.step(t);
    if (t < opts.from) continue;
    const d = f.lastDetails[0]!;
    n++;
    if (opts.model !== undefined && d.weights[opts.model]! > 0) {
      used++;
      if (firstUsed < 0) firstUsed = t;
    }
    for (let h = 1; h <= H && t + h < y.length; h++) {
      ens += Math.abs(y[t + h]! - d.models[ENSEMBLE]!.predicted[h - 1]!);
      hw += Math.abs(y[t + h]! - d.models[1]!.predicted[h - 1]!);
      sn += Math.abs(y[t + h]! - d.models[0]!.predicted[h - 1]!);
    }
  }
  return { ens, hw, sn, used: used / n, firstUsed };
}

test('short, trending series with no model clearly better than Holt-Winters: the ensemble is Holt-Winters', async () => {
  // Ten years of a monthly series whose slope wanders (a business cycle), as in the BLS
  // unemployment series: seasonal naive and Holt-Winters trade places, and recent-error
  // weights chase the noise (without the anchor the ensemble loses to Holt-Winters on some of
  // these). Only data before each origin is used.
  const worseWithout: number[] = [];
  for (let seed = 1; seed <= 6; seed++) {
    const r = rng(seed);
    const gauss = (): number => Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
    let level = 1000,
      slope = 0;
    const y = Array.from({ length: 122 }, (_, t) => {
      slope = 0.9 * slope + 4 * gauss();
      level += slope;
      return level + 60 * Math.sin((2 * Math.PI * t) / 12) + 15 * gauss();
    });
    const a = await onlineErrors(y, { horizon: 12, season: 12, from: 40 });
    assert.ok(a.ens <= a.hw * (1 + 1e-9), `seed ${seed}: ensemble MAE ${a.ens} vs Holt-Winters ${a.hw}`);
    const b = await onlineErrors(y, { horizon: 12, season: 12, from: 40, anchor: null });
    if (b.ens > b.hw * 1.01) worseWithout.push(seed);
  }
  assert.ok(worseWithout.length > 0, 'the scenario should be one where unanchored weights lose');
});

test('a model clearly better than the anchor joins it: seasonal naive after a level shift', async () => {
  // Daily season, level ×1.8 at 60% of four weeks (hourly). Holt-Winters lags the shift;
  // seasonal naive is right one season after it and must be admitted within two seasons.
  const r = rng(5);
  const gauss = (): number => Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
  const daily = (hour: number): number => {
    const x = (hour % 24) / 24;
    return 0.5 - 0.5 * Math.cos(2 * Math.PI * (x - 0.1)) + 0.15 * Math.sin(4 * Math.PI * x);
  };
  const T = 24 * 7 * 4,
    shift = Math.floor(0.6 * T);
  const y = Array.from({ length: T }, (_, t) => (t > shift ? 1.8 : 1) * (60 + 50 * daily(t)) + 4 * gauss());
  const a = await onlineErrors(y, { horizon: 12, season: 24, from: shift + 1, model: 0 });
  assert.ok(a.firstUsed > 0 && a.firstUsed - shift <= 48, `seasonal naive first used ${a.firstUsed - shift} steps after the shift`);
  assert.ok(a.ens <= 0.6 * a.hw, `ensemble MAE ${a.ens} vs Holt-Winters ${a.hw} after the shift`);
});
