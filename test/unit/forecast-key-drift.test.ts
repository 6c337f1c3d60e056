/**
 * The key-drift model: a hot range moving along a table's key buckets is forecast to reach the
 * buckets ahead of it (which no model of a bucket's own series can see coming); a table whose
 * hot buckets stay put, and a series that is not a key bucket, get no forecast from it. The
 * stage's bucket naming places the series.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OnlineForecaster } from '../../models/online.js';
import { MODEL_NAMES } from '../../models/registry.js';
import { pipelineForecasterOptions } from '../../processors/forecast/forecasterOptions.js';
import { bucketOrder } from '../../processors/forecast/keyOrder.js';

const H = 10;
const UNITS = 32;
const DRIFT = MODEL_NAMES.indexOf('key_drift');
/** 100 a bucket, plus a hot range 3 buckets either side of `center`, 1,000 at its middle. */
const load = (u: number, center: number) => 100 + 1_000 * Math.max(0, 1 - Math.abs(u - center) / 3);

async function run(center: (t: number) => number, steps: number) {
  const f = new OnlineForecaster({ ...pipelineForecasterOptions({ stepMs: 1, horizon: H, backend: null }), global: false });
  f.keepDetails = true;
  for (let t = 0; t < steps; t++) {
    for (let u = 0; u < UNITS; u++) f.observe(`app|orders|k${u}|node0`, t, load(u, center(t)));
    f.observe('app|#template|abc|node0', t, 50);
    await f.step(t);
  }
  return f;
}

test('the stage names place key buckets along their table; other series are not placed', () => {
  assert.deepEqual(bucketOrder('app|orders|k12|node1'), { group: 'app|orders|node1', position: 12 });
  assert.deepEqual(bucketOrder('app|orders|k0'), { group: 'app|orders', position: 0 });
  assert.equal(bucketOrder('app|#template|k1|node1'), null);
  assert.equal(bucketOrder('kafka|orders-events|topic.records_in_total'), null);
  assert.equal(bucketOrder('app|*|*||node0'), null);
});

test('a hot range drifting one bucket per 5 steps is forecast to arrive at the buckets ahead of it', async () => {
  const steps = 120;
  const center = (t: number) => 4 + t / 5;
  const f = await run(center, steps);
  await f.step(steps - 1); // details of the last step (a repeat: no training)
  const now = steps - 1;
  const ahead = Math.ceil(center(now)) + 3; // the range reaches it within the horizon
  const d = f.lastDetails.find((x) => x.seriesId === `app|orders|k${ahead}|node0`)!;
  const drift = d.models[DRIFT]!;
  assert.ok(drift, 'key_drift has a forecast for a bucket of a drifting table');
  const truth = load(ahead, center(now + H));
  const hw = d.models[MODEL_NAMES.indexOf('holt_winters')]!.predicted[H - 1]!;
  const got = drift.predicted[H - 1]!;
  assert.ok(Math.abs(got - truth) < 0.25 * truth, `key_drift at h=${H}: ${got.toFixed(0)}, truth ${truth.toFixed(0)}`);
  assert.ok(Math.abs(got - truth) < Math.abs(hw - truth) / 2, `closer than Holt-Winters (${hw.toFixed(0)})`);
  const template = f.lastDetails.find((x) => x.seriesId === 'app|#template|abc|node0')!;
  assert.equal(template.models[DRIFT], undefined, 'a series that is not a key bucket gets none');
});

test('a table whose hot buckets stay put gets no key-drift forecast', async () => {
  const f = await run(() => 10, 80);
  await f.step(79);
  const d = f.lastDetails.find((x) => x.seriesId === 'app|orders|k10|node0')!;
  assert.equal(d.models[DRIFT], undefined);
  assert.equal(f.lastTimings.driftingTables, 0);
});
