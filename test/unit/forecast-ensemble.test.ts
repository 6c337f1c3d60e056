import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConformalCalibrator, combine, dominanceKeep, ensembleName, ensembleWeights, recordError, recordReset, recordSize, recordUpdate, recordWorseT, winsorisedAverage } from '../../models/ensemble.js';
import { HistoryStore } from '../../models/history.js';
import { OnlineForecaster } from '../../models/online.js';
import { rng } from '../../models/util.js';

test('weights are inverse recent error to a power, cold models excluded', () => {
  const w = ensembleWeights([1, 2, NaN], [10, 10, 0], [true, true, true], { power: 1 });
  assert.ok(Math.abs(w[0]! - 2 / 3) < 1e-12 && Math.abs(w[1]! - 1 / 3) < 1e-12 && w[2] === 0);
  const w2 = ensembleWeights([1, 2], [10, 10], [true, true], { power: 2 });
  assert.ok(Math.abs(w2[0]! - 0.8) < 1e-12);
  // Exclusion ratio drops a model far behind the best.
  assert.deepEqual(ensembleWeights([1, 3], [5, 5], [true, true], { power: 1, exclusionRatio: 2 }), [1, 0]);
  // Nobody has a track record: equal weights over the available models.
  assert.deepEqual(ensembleWeights([NaN, NaN, NaN], [0, 0, 0], [true, false, true]), [0.5, 0, 0.5]);
  assert.deepEqual(combine([[1, 2], [3, 4]], [0.25, 0.75]), [2.5, 3.5]);
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
  assert.deepEqual(Array.from(out).map((v) => (Number.isNaN(v) ? null : v)), [null, 1, null, 3]);
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
  for (const e of [[1, 2], [3, 2], [2, 5]]) recordUpdate(rec, e, 1);
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
  const H = 6, m = 12;
  const r = rng(11);
  const gauss = (): number => Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
  let burst = 0;
  const y = Array.from({ length: 700 }, (_, t) => {
    if (burst <= 0 && r() < 0.02) burst = 1 + Math.floor(r() * 2);
    return (burst-- > 0 ? 3 : 1) * (100 + 30 * Math.sin((2 * Math.PI * t) / m) + 0.05 * t) + 4 * gauss();
  });
  const f = new OnlineForecaster({ stepMs: 1, horizon: H, season: m, global: false, hwRefitEvery: 96 });
  f.keepDetails = true;
  let hwOnly = 0, n = 0, errEns = 0, errHw = 0;
  for (let t = 0; t < y.length; t++) {
    f.observe('s', t, y[t]!);
    await f.step(t);
    if (t < 400) continue;
    const d = f.lastDetails[0]!;
    n++;
    if (d.weights[1] === 1) {
      hwOnly++;
      assert.deepEqual(d.models[3]!.predicted, d.models[1]!.predicted);
    }
    for (let h = 1; h <= H && t + h < y.length; h++) {
      errEns += Math.abs(y[t + h]! - d.models[3]!.predicted[h - 1]!);
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
