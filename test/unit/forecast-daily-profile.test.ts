/**
 * The daily-profile model: at one-minute steps a day is longer than the forecaster's history, so
 * only this model sees that a morning ramp comes back at the same time the next day; it is idle
 * where the step is long enough for the history to hold two days, and its day of bins survives a
 * checkpoint.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { OnlineForecaster } from '../../models/online.js';
import { MODEL_NAMES } from '../../models/registry.js';
import { pipelineForecasterOptions } from '../../processors/forecast/forecasterOptions.js';

const DAY = 1_440;
const H = 30;
const DAILY = MODEL_NAMES.indexOf('daily_profile');
const HW = MODEL_NAMES.indexOf('holt_winters');
/** Minute `t` of a business day: 100 at night, a ramp from 08:00 to 09:00 up to 1,000 until 17:00. */
const load = (t: number) => {
  const m = t % DAY;
  if (m < 480 || m >= 1_020) return 100;
  return m < 540 ? 100 + (900 * (m - 480)) / 60 : 1_000;
};

async function forecasterUntil(end: number, stepMs = 60_000) {
  const f = new OnlineForecaster({ ...pipelineForecasterOptions({ stepMs, horizon: H, backend: null }), global: false });
  f.keepDetails = true;
  for (let t = 0; t <= end; t++) {
    f.observe('app|orders|k0', t * stepMs, load(t) * (1 + 0.02 * Math.sin(t * 1.7)));
    await f.step(t * stepMs);
  }
  return f;
}

test('at one-minute steps the morning ramp is forecast from the day before; Holt-Winters cannot see it', async () => {
  const now = DAY + 470; // 07:50 on the second day: the ramp starts within the horizon
  const f = await forecasterUntil(now);
  const d = f.lastDetails[0]!;
  const daily = d.models[DAILY]!;
  assert.ok(daily, 'a day of bins: the model forecasts');
  const truth = load(now + H);
  const got = daily.predicted[H - 1]!;
  const hw = d.models[HW]!.predicted[H - 1]!;
  assert.ok(Math.abs(got - truth) < 0.15 * truth, `daily profile at +${H}: ${got.toFixed(0)}, truth ${truth.toFixed(0)}`);
  assert.ok(hw < 0.5 * truth, `Holt-Winters stays at the night level (${hw.toFixed(0)})`);

  // a checkpoint carries the day of bins: the restored forecaster forecasts the same
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'daily-')), 'ckpt.json');
  assert.equal((await f.saveCheckpoint(file)).ok, true);
  const g = new OnlineForecaster(f.opts);
  assert.equal((await g.loadCheckpoint(file)).ok, true);
  g.keepDetails = true;
  f.observe('app|orders|k0', (now + 1) * 60_000, load(now + 1));
  g.observe('app|orders|k0', (now + 1) * 60_000, load(now + 1));
  await f.step((now + 1) * 60_000);
  await g.step((now + 1) * 60_000);
  assert.deepEqual(g.lastDetails[0]!.models[DAILY]!.predicted, f.lastDetails[0]!.models[DAILY]!.predicted);
});

test('before a day of bins, and where two days fit in the history (ten-minute steps), it has no forecast', async () => {
  const early = await forecasterUntil(DAY - 10);
  assert.equal(early.lastDetails[0]!.models[DAILY], undefined);
  const coarse = await forecasterUntil(3 * 144, 600_000); // three days of ten-minute steps
  assert.equal(coarse.lastDetails[0]!.models[DAILY], undefined);
});
