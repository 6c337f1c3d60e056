import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../../models/backend.js';
import { GlobalModel } from '../../models/global.js';
import { OnlineForecaster } from '../../models/online.js';
import { createHash } from 'node:crypto';
import { restoreForecaster, serializeForecaster } from '../../models/checkpoint.js';

let backend = 'cpu';
before(async () => {
  backend = await initBackend('wasm');
});

const wave = (s: number, t: number): number =>
  50 + 5 * s + (8 + s) * Math.sin((2 * Math.PI * (t + 2 * s)) / 12) + 0.5 * (((t * 7 + s) % 5) - 2);

test('initBackend falls back cleanly and names the backend in use', async () => {
  assert.ok(['wasm', 'cpu'].includes(backend));
  // No GPU here: asking for webgpu falls back along the order.
  assert.ok(['webgpu', 'wasm', 'cpu'].includes(await initBackend('webgpu')));
  backend = await initBackend('wasm');
});

test('global model learns a clean seasonal signal to a small error', async () => {
  const clean = (s: number, t: number): number => 50 + 5 * s + (8 + s) * Math.sin((2 * Math.PI * (t + 2 * s)) / 12);
  const series = Array.from({ length: 12 }, (_, s) => Array.from({ length: 200 }, (_, t) => clean(s, t)));
  const train = series.map((x) => x.slice(0, 180));
  const g = new GlobalModel({ lags: 24, horizon: 6, season: 12, hidden: 32, seed: 3 });
  const w = GlobalModel.windowsFrom(train, 24, 6);
  for (let e = 0; e < 15; e++) await g.fit(w, 1, e, 256);
  const fc = await g.forecastBatch(train.map((h) => ({ history: h, horizon: 6 })));
  let err = 0,
    n = 0;
  for (const [i, f] of fc.entries()) {
    for (const [h, p] of f.predicted.entries()) {
      err += Math.abs(p - series[i]![180 + h]!);
      n++;
    }
  }
  const mae = err / n;
  assert.ok(mae < 0.5, `MAE ${mae} (amplitude 8–19)`);
  for (const f of fc) for (const [h, p] of f.predicted.entries()) assert.ok(f.lower[h]! <= p && p <= f.upper[h]!);
  g.dispose();
});

test('global model is robust to gaps, zeros, negatives, bursts', async () => {
  const g = new GlobalModel({ lags: 16, horizon: 4, season: 4, hidden: 8 });
  const hist = [
    Array.from({ length: 40 }, (_, t) => (t % 7 === 0 ? NaN : t % 4)),
    new Array(40).fill(0),
    Array.from({ length: 40 }, (_, t) => (t === 30 ? 1e6 : -3 + (t % 4))),
    [NaN, NaN],
  ];
  const w = GlobalModel.windowsFrom(hist, 16, 4);
  await g.fit(w, 2, 0, 64);
  const fc = await g.forecastBatch(hist.map((h) => ({ history: h, horizon: 4 })));
  for (const f of fc.slice(0, 3)) for (const v of f.predicted) assert.ok(Number.isFinite(v));
  assert.deepEqual(
    fc[1]!.predicted.map((v) => Math.abs(v) < 1e-3),
    [true, true, true, true],
  );
  for (const v of fc[0]!.predicted) assert.ok(v >= 0, 'non-negative series clipped at 0');
  g.dispose();
});

async function runForecaster(f: OnlineForecaster, from: number, to: number, stepMs: number) {
  let last: Awaited<ReturnType<OnlineForecaster['step']>> = [];
  for (let t = from; t < to; t++) {
    for (let s = 0; s < 4; s++) if (!(s === 3 && t > 60)) f.observe(`s${s}`, t * stepMs, wave(s, t));
    if (t >= 30) last = await f.step(t * stepMs);
  }
  return last;
}

test('OnlineForecaster emits Forecasts for active series; cold start, stopped series; checkpoint round-trip', async () => {
  const stepMs = 60_000;
  const mk = () => new OnlineForecaster({ stepMs, horizon: 4, season: 12, lags: 24, global: { hidden: 16 }, backend, staleAfterSteps: 6 });
  const f = mk();
  const out = await runForecaster(f, 0, 80, stepMs);
  // s3 stopped at t=60: not forecast any more.
  assert.deepEqual(out.map((o) => o.seriesId).sort(), ['s0', 's1', 's2']);
  const fc = out[0]!;
  assert.equal(fc.points.length, 4);
  assert.equal(fc.originTs, 79 * stepMs);
  assert.equal(fc.points[0]!.ts, 80 * stepMs);
  assert.equal(fc.backend, backend);
  assert.ok(fc.recentError !== null && fc.recentError < 1, `recent MASE ${fc.recentError}`);
  for (const p of fc.points) assert.ok(p.lower <= p.predicted && p.predicted <= p.upper);
  // A new series starts on the baselines.
  f.observe('fresh', 80 * stepMs, 5);
  const withNew = await f.step(80 * stepMs);
  const fresh = withNew.find((o) => o.seriesId === 'fresh')!;
  assert.equal(fresh.model, 'seasonal_naive');
  assert.equal(fresh.points[0]!.predicted, 5);

  // Round trip.
  const text = await serializeForecaster(f);
  const g = mk();
  const r = restoreForecaster(g, text);
  assert.ok(r.ok, r.reason);
  assert.equal(g.size, f.size);
  // Same weights → same global forecasts; same baseline state per series.
  const req = [{ history: Array.from({ length: 24 }, (_, t) => wave(0, t)), horizon: 4 }];
  const [pa] = await f.global!.forecastBatch(req);
  const [pb] = await g.global!.forecastBatch(req);
  assert.deepEqual(pb!.predicted, pa!.predicted);
  const sa = f.snapshotSeries(false).find((x) => x.id === 's0')!;
  const sb = g.snapshotSeries(false).find((x) => x.id === 's0')!;
  assert.deepEqual(sb.hw, sa.hw);
  assert.deepEqual(sb.cnt, sa.cnt);
  // The validation records behind the ensemble's model selection travel too.
  assert.ok(sa.rec!.some((v) => v > 0));
  assert.deepEqual(sb.rec, sa.rec);
  assert.deepEqual(sb.recShort, sa.recShort);
  assert.equal(sb.hwFitObs, sa.hwFitObs);
  const next = await g.step(81 * stepMs);
  assert.ok(next.some((o) => o.seriesId === 's0'));
  f.global?.dispose();
  g.global?.dispose();
});

test('a corrupt or mismatched checkpoint is reported and ignored', async () => {
  const stepMs = 1000;
  const f = new OnlineForecaster({ stepMs, horizon: 4, season: 12, lags: 24, global: { hidden: 8 } });
  await runForecaster(f, 0, 40, stepMs);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fc-ck-'));
  const file = path.join(dir, 'ck.json');
  const saved = await f.saveCheckpoint(file);
  assert.ok(saved.ok && saved.bytes! > 0);
  const fresh = () => new OnlineForecaster({ stepMs, horizon: 4, season: 12, lags: 24, global: { hidden: 8 } });
  const ok = fresh();
  assert.ok((await ok.loadCheckpoint(file)).ok);
  assert.equal(ok.size, 4);
  // Corrupt: flip bytes inside the payload.
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, `${text.slice(0, 200)}XX${text.slice(202)}`);
  const c = fresh();
  const bad = await c.loadCheckpoint(file);
  assert.equal(bad.ok, false);
  assert.match(bad.reason!, /checksum|JSON|Unexpected/i);
  assert.equal(c.size, 0);
  // Truncated.
  writeFileSync(file, text.slice(0, text.length / 2));
  assert.equal((await fresh().loadCheckpoint(file)).ok, false);
  // Mismatched configuration.
  writeFileSync(file, text);
  const other = new OnlineForecaster({ stepMs, horizon: 6, season: 12, lags: 24, global: { hidden: 8 } });
  const mm = await other.loadCheckpoint(file);
  assert.equal(mm.ok, false);
  assert.match(mm.reason!, /horizon/);
  // Missing file.
  assert.equal((await fresh().loadCheckpoint(path.join(dir, 'none.json'))).reason, 'no checkpoint file');
  for (const x of [f, ok, c, other]) x.global?.dispose();
});

test('a checkpoint from before the validation records loads with empty records', async () => {
  const stepMs = 1000;
  const mk = () => new OnlineForecaster({ stepMs, horizon: 4, season: 12, lags: 24, global: { hidden: 8 } });
  const f = mk();
  await runForecaster(f, 0, 40, stepMs);
  const outer = JSON.parse(await serializeForecaster(f)) as { payload: string; sha256: string };
  const payload = JSON.parse(outer.payload) as { series: Record<string, unknown>[] };
  for (const sn of payload.series) {
    delete sn.rec;
    delete sn.recShort;
    delete sn.hwFitObs;
  }
  outer.payload = JSON.stringify(payload);
  outer.sha256 = createHash('sha256').update(outer.payload).digest('hex');
  const g = mk();
  const r = restoreForecaster(g, JSON.stringify(outer));
  assert.ok(r.ok, r.reason);
  const s0 = g.snapshotSeries(false).find((x) => x.id === 's0')!;
  assert.ok(s0.rec!.every((v) => v === 0) && s0.rec!.length > 0);
  assert.ok((await g.step(40 * stepMs)).length > 0);
  f.global?.dispose();
  g.global?.dispose();
});

test('OnlineForecaster copes with gaps, NaN, negatives and bursts; cold series fall back to the baselines', async () => {
  const stepMs = 60_000;
  const H = 4;
  const mk = (nonNegative: boolean | 'auto') =>
    new OnlineForecaster({ stepMs, horizon: H, season: 12, lags: 24, global: { hidden: 8 }, nonNegative, staleAfterSteps: 20, backend });
  const f = mk(true);
  const g = mk('auto');
  let last: Awaited<ReturnType<OnlineForecaster['step']>> = [];
  let lastAuto: typeof last = [];
  for (let t = 0; t < 90; t++) {
    const base = wave(1, t);
    const obs: [string, number][] = [
      ['gappy', t % 5 === 0 ? NaN : base], // NaN windows are gaps
      ['negative', base - 70], // mostly negative values
      ['bursty', t % 17 < 2 ? base * 20 : base],
      ['zeros', 0],
    ];
    if (t % 9 !== 4) obs.push(['holes', base]); // missing windows altogether
    for (const [id, v] of obs) {
      f.observe(id, t * stepMs, v);
      g.observe(id, t * stepMs, v);
    }
    if (t >= 20) {
      last = await f.step(t * stepMs);
      lastAuto = await g.step(t * stepMs);
    }
  }
  assert.deepEqual(last.map((o) => o.seriesId).sort(), ['bursty', 'gappy', 'holes', 'negative', 'zeros']);
  for (const fc of [...last, ...lastAuto]) {
    assert.equal(fc.points.length, H);
    assert.ok(fc.model.length > 0);
    for (const p of fc.points) {
      assert.ok([p.lower, p.predicted, p.upper].every(Number.isFinite), `${fc.seriesId} finite`);
      assert.ok(p.lower <= p.predicted && p.predicted <= p.upper, `${fc.seriesId} ordered`);
    }
  }
  // Counts (nonNegative: true): negatives are clamped to 0 and nothing is forecast below 0.
  for (const fc of last) for (const p of fc.points) assert.ok(p.lower >= 0, `${fc.seriesId} clipped at 0`);
  // 'auto' keeps a series that went negative unclipped: its forecasts follow it below 0.
  const neg = lastAuto.find((o) => o.seriesId === 'negative')!;
  assert.ok(
    neg.points.some((p) => p.predicted < 0),
    'negative series forecast below 0',
  );
  // An all-zero series is forecast as zeros.
  for (const p of last.find((o) => o.seriesId === 'zeros')!.points) assert.ok(Math.abs(p.predicted) < 1e-6);
  // The gappy series stays close to its pattern despite the gaps.
  const gappy = last.find((o) => o.seriesId === 'gappy')!;
  for (const [i, p] of gappy.points.entries()) {
    assert.ok(Math.abs(p.predicted - wave(1, 90 + i)) < 5, `gappy h=${i + 1}: ${p.predicted} vs ${wave(1, 90 + i)}`);
  }
  // A series seen for the first time is forecast by a baseline only.
  f.observe('cold', 90 * stepMs, 7);
  const cold = (await f.step(90 * stepMs)).find((o) => o.seriesId === 'cold')!;
  assert.ok(['seasonal_naive', 'holt_winters'].includes(cold.model), cold.model);
  f.global?.dispose();
  g.global?.dispose();
});

test("a restored model takes the saved model's next steps: the optimizer's state travels with the weights", async () => {
  const series = Array.from({ length: 6 }, (_, s) => Array.from({ length: 120 }, (_, t) => wave(s, t)));
  const w = GlobalModel.windowsFrom(series, 24, 6);
  const opts = { lags: 24, horizon: 6, season: 12, hidden: 16, seed: 5 };
  const saved = new GlobalModel(opts);
  for (let e = 0; e < 4; e++) await saved.fit(w, 1, e, 64);
  const state = await saved.getWeights();
  assert.equal(state.optimizer!.names.length, 1 + 2 * state.names.length, 'the step count and two moments per weight');
  const restored = new GlobalModel(opts);
  restored.setWeights(state);
  const forgetful = new GlobalModel(opts);
  forgetful.setWeights({ ...state, optimizer: undefined });
  for (const g of [saved, restored, forgetful]) for (let e = 4; e < 7; e++) await g.fit(w, 1, e, 64);
  const largestDiff = async (a: GlobalModel, b: GlobalModel) => {
    const [x, y] = [await a.getWeights(), await b.getWeights()];
    return Math.max(...x.data.map((d, i) => Math.max(...d.map((v, k) => Math.abs(v - y.data[i]![k]!)))));
  };
  const withState = await largestDiff(saved, restored);
  const without = await largestDiff(saved, forgetful);
  assert.ok(withState <= 1e-6, `restored with the optimizer's state: weights within 1e-6 (${withState})`);
  assert.ok(without > 1e-4, `without it the steps differ (${without}): the check above can fail`);

  // bad optimizer state is refused before anything changes
  const bad = { ...state, optimizer: { ...state.optimizer!, shapes: state.optimizer!.shapes.map((s, i) => (i === 1 ? [1, 1] : s)) } };
  assert.throws(() => new GlobalModel(opts).setWeights(bad), /optimizer state: tensor/);
  for (const g of [saved, restored, forgetful]) g.dispose();
});
