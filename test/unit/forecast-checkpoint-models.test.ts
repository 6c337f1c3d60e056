/**
 * A forecaster checkpoint written by a version with another set of models (one added since)
 * restores the series' observations and seasons, and every model starts afresh on them; before,
 * such a checkpoint was refused and days of history were gone.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { restoreForecaster, serializeForecaster } from '../../models/checkpoint.js';
import { OnlineForecaster } from '../../models/online.js';
import { pipelineForecasterOptions } from '../../processors/forecast/forecasterOptions.js';

const STEP = 60_000;
const SERIES = ['app|orders|k0', 'app|orders|k1'];
const load = (t: number, i: number) => 100 + 50 * i + 40 * Math.sin((2 * Math.PI * t) / 60);

async function trained(steps: number) {
  const f = new OnlineForecaster({ ...pipelineForecasterOptions({ stepMs: STEP, horizon: 10, backend: null }), global: false });
  for (let t = 0; t < steps; t++) {
    for (const [i, s] of SERIES.entries()) f.observe(s, t * STEP, load(t, i));
    await f.step(t * STEP);
  }
  return f;
}

/** The checkpoint as a version with the first `k` models of today's list wrote it (`names`: whether it named them). */
function olderCheckpoint(text: string, k: number, names: boolean): string {
  const outer = JSON.parse(text) as { payload: string; sha256: string };
  const p = JSON.parse(outer.payload) as {
    models?: string[];
    calibrator: { models: number };
    series: { err: unknown[]; cnt: unknown[] }[];
  };
  if (names) p.models = p.models!.slice(0, k);
  else delete p.models;
  p.calibrator.models = k + 1;
  for (const s of p.series) {
    s.err = s.err.slice(0, k + 1);
    s.cnt = s.cnt.slice(0, k + 1);
  }
  const payload = JSON.stringify(p);
  return JSON.stringify({ ...outer, payload, sha256: createHash('sha256').update(payload).digest('hex') });
}

test("a checkpoint of other models restores the series' history and starts the models afresh", async () => {
  const f = await trained(400);
  const text = await serializeForecaster(f);
  const values = (g: OnlineForecaster) =>
    g
      .snapshotSeries()
      .map((s) => [s.id, s.season, Array.from(s.hist!.values)])
      .sort();
  for (const names of [false, true]) {
    const g = new OnlineForecaster(f.opts);
    const r = restoreForecaster(g, olderCheckpoint(text, 3, names));
    assert.equal(r.ok, true, r.reason);
    assert.deepEqual(r.modelsChanged, { saved: names ? f.modelNames.slice(0, 3) : null, now: f.modelNames });
    assert.equal(r.series, SERIES.length);
    assert.deepEqual(values(g), values(f), 'observations and seasons as saved');
    for (const [i, s] of SERIES.entries()) g.observe(s, 400 * STEP, load(400, i));
    const out = await g.step(400 * STEP);
    assert.equal(out.length, SERIES.length, 'it forecasts every series at the next step');
    for (const fc of out) for (const pt of fc.points) assert.ok(Number.isFinite(pt.predicted));
  }
  // the same models: everything restored, nothing reported changed
  const same = new OnlineForecaster(f.opts);
  const r = restoreForecaster(same, text);
  assert.equal(r.ok, true, r.reason);
  assert.equal(r.modelsChanged, undefined);
});
