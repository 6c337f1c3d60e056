import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { OnlineForecaster } from '../../models/online.js';
import { ForecastRounds } from '../../processors/forecast/rounds.js';
import { bucketOrder } from '../../processors/forecast/keyOrder.js';
import { DecideRounds } from '../../processors/decide/rounds.js';
import { type Policy, simulate } from '../../bench/sim/simulator.js';
import { predictivePolicy } from '../../bench/sim/predictive.js';
import { handWorkload as workload } from './sim-helpers.js';
import { StateError } from '../../lib/errors.js';

/** The modules a source file imports, as resolved URLs. */
function importsOf(rel: string): Set<string> {
  const url = new URL(rel, import.meta.url);
  const src = readFileSync(url, 'utf8');
  return new Set([...src.matchAll(/from '(\.[^']+)'/g)].map((m) => new URL(m[1]!, url).href));
}
const mod = (rel: string) => new URL(rel, import.meta.url).href;

test('the simulated predictive policy runs the online forecaster, the forecast rounds and the decide rounds', async (t) => {
  const step = t.mock.method(OnlineForecaster.prototype, 'step');
  const next = t.mock.method(ForecastRounds.prototype, 'next');
  const decide = t.mock.method(DecideRounds.prototype, 'decide');
  const w = workload(40, 4, (s, u) => 200 + 10 * u + (s % 5));
  const policy = predictivePolicy({ horizonSteps: 6 });
  await simulate(w, policy, { capacity: 1000, partitionsPerTable: 4 });
  const { forecaster, forecastRounds, decideRounds } = policy.parts();
  assert.ok(forecaster instanceof OnlineForecaster);
  assert.ok(forecastRounds instanceof ForecastRounds);
  assert.ok(decideRounds instanceof DecideRounds);
  // a window's aggregates each step from step 1, and a forecast round for each (from the window
  // before the newest, as live)
  assert.equal(next.mock.callCount(), 39);
  assert.equal(step.mock.callCount(), 39);
  assert.ok(step.mock.calls.every((c) => c.this === forecaster));
  // a decision round on every window's forecasts once 5 origins were seen (windows 0..4, the
  // first forecast at step 2: at step 1 nothing precedes the first window)
  assert.equal(decide.mock.callCount(), 40 - 6);
  assert.ok(decide.mock.calls.every((c) => c.this === decideRounds));
  // the pipeline's forecaster options; no season handed over (it is detected per series)
  assert.equal(forecaster.opts.nonNegative, true);
  assert.equal(forecaster.opts.season, undefined);
  assert.equal(forecaster.opts.horizon, 6);
  // key buckets placed along their table's keys, as the stage names them (the key-drift model)
  assert.equal(forecaster.opts.keyOrder, bucketOrder);
});

test('run forecast and run decide are wired to the same modules as the simulated predictive policy', () => {
  const sim = importsOf('../../bench/sim/predictive.ts');
  const forecast = importsOf('../../pipelines/forecast.ts');
  const decide = importsOf('../../pipelines/decide.ts');
  for (const m of ['../../models/online.js', '../../processors/forecast/forecasterOptions.js', '../../processors/forecast/rounds.js']) {
    assert.ok(sim.has(mod(m)) && forecast.has(mod(m)), `${m} in both`);
  }
  assert.ok(sim.has(mod('../../processors/decide/rounds.js')) && decide.has(mod('../../processors/decide/rounds.js')));
  // neither calls the engine around the rounds
  assert.ok(!decide.has(mod('../../processors/decide/engine.js')));
  assert.ok(!sim.has(mod('../../processors/decide/engine.js')));
});

test('only static and clairvoyant may read ahead: a predictive policy that declares it is refused', async () => {
  const w = workload(10, 2, () => 100);
  let read = false;
  const cheat: Policy = {
    name: 'predictive',
    readsAhead: true,
    act: (o) => {
      read ||= o.ahead !== undefined;
      return [];
    },
  };
  await assert.rejects(
    () => simulate(w, cheat, { capacity: 1000, partitionsPerTable: 2 }),
    (e: unknown) => e instanceof StateError && /only static and clairvoyant may read the future/.test(e.message),
  );
  assert.equal(read, false, 'refused before its first step');
  await assert.rejects(() => simulate(w, { ...cheat, name: 'reactive' }, { capacity: 1000, partitionsPerTable: 2 }), StateError);
});
