import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../../models/backend.js';
import { GlobalModel } from '../../models/global.js';
import { OnlineForecaster } from '../../models/online.js';
import { restoreForecaster, serializeForecaster } from '../../models/checkpoint.js';

let backend = 'cpu';
before(async () => {
  backend = await initBackend('wasm');
});

const wave = (s: number, t: number): number => 50 + 5 * s + (8 + s) * Math.sin((2 * Math.PI * (t + 2 * s)) / 12) + 0.5 * (((t * 7 + s) % 5) - 2);

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
  let err = 0, n = 0;
  fc.forEach((f, i) => f.predicted.forEach((p, h) => { err += Math.abs(p - series[i]![180 + h]!); n++; }));
  const mae = err / n;
  assert.ok(mae < 0.5, `MAE ${mae} (amplitude 8–19)`);
  fc.forEach((f) => f.predicted.forEach((p, h) => assert.ok(f.lower[h]! <= p && p <= f.upper[h]!)));
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
  assert.deepEqual(fc[1]!.predicted.map((v) => Math.abs(v) < 1e-3), [true, true, true, true]);
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
  writeFileSync(file, text.slice(0, 200) + 'XX' + text.slice(202));
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
