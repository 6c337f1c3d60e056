import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Forecast, WorkloadAggregate } from '../../schemas/types.js';
import { decideConfig } from '../../processors/decide/config.js';
import { DecideRounds } from '../../processors/decide/rounds.js';
import { ForecastSkill, discountForecasts } from '../../processors/decide/skill.js';
import { STEP, twoNodes } from './decide-helpers.js';
import { aggregate } from './sim-helpers.js';

const T0 = 1_700_000_000_000;
const H = 10;
const buckets = [0, 1, 2, 3].map((i) => ({ seriesId: `pg|t|k${i}`, table: 't', lo: i * 100, hi: (i + 1) * 100 }));

function agg(bucket: number, step: number, queries: number): WorkloadAggregate {
  const windowStart = T0 + step * STEP;
  return aggregate({
    seriesId: `pg|t|k${bucket}`,
    windowStart,
    windowEnd: windowStart + STEP,
    source: 'pg',
    table: 't',
    keyBucket: `k${bucket}`,
    queries,
  });
}

/** A forecast from window `origin` of `value(h)` for h = 1..H, with a ±10% interval. */
function forecast(bucket: number, origin: number, value: (h: number) => number): Forecast {
  return {
    seriesId: `pg|t|k${bucket}`,
    issuedAt: T0 + (origin + 1) * STEP,
    originTs: T0 + origin * STEP,
    stepMs: STEP,
    metric: 'queries',
    model: 'hand',
    backend: null,
    recentError: null,
    intervalLevel: 0.9,
    points: Array.from({ length: H }, (_, k) => ({
      horizon: k + 1,
      ts: T0 + (origin + k + 1) * STEP,
      predicted: value(k + 1),
      lower: 0.9 * value(k + 1),
      upper: 1.1 * value(k + 1),
    })),
  };
}

const actual = (step: number) => (step % 2 ? 220 : 200);
const skillCfg = decideConfig({ skill: { minMatured: 20 } }).skill;

test('skill: forecasts that hit get skill near 1 and full trust; no evidence yet means trust', () => {
  const s = new ForecastSkill(skillCfg);
  assert.equal(s.skill, null);
  assert.equal(s.trust, 1, 'trusted until enough points matured');
  for (let t = 0; t < 40; t++) {
    s.observeAggregate(agg(0, t, actual(t)));
    s.track([forecast(0, t, (h) => actual(t + h))]);
    s.update();
  }
  assert.ok(s.skill! > 0.99, `skill ${s.skill}`);
  assert.equal(s.trust, 1);
});

test('skill: forecasts worse than carrying the current load forward get no trust', () => {
  const s = new ForecastSkill(skillCfg);
  for (let t = 0; t < 40; t++) {
    s.observeAggregate(agg(0, t, actual(t)));
    s.track([forecast(0, t, () => 600)]);
    s.update();
  }
  assert.ok(s.skill! < -5, `skill ${s.skill}`);
  assert.equal(s.trust, 0);
});

test('skill: a forecast no better than persistence sits at skill 0, between them the trust is linear', () => {
  const s = new ForecastSkill(skillCfg);
  // persistence's error, exactly: the value at the origin carried forward
  for (let t = 0; t < 40; t++) {
    s.observeAggregate(agg(0, t, actual(t)));
    s.track([forecast(0, t, () => actual(t))]);
    s.update();
  }
  assert.ok(Math.abs(s.skill!) < 1e-9, `skill ${s.skill}`);
  assert.equal(s.trust, 0);
  const cfg = { ...skillCfg, noTrust: -1, fullTrust: 1 };
  const half = new ForecastSkill(cfg);
  for (let t = 0; t < 40; t++) {
    half.observeAggregate(agg(0, t, actual(t)));
    half.track([forecast(0, t, () => actual(t))]);
    half.update();
  }
  assert.ok(Math.abs(half.trust - 0.5) < 1e-9);
});

test('discountForecasts: trust 1 leaves a forecast alone, 0 plans on the current load, 0.5 halfway', () => {
  const f = forecast(0, 0, () => 600);
  const cur = new Map([['pg|t|k0', 200]]);
  assert.deepEqual(discountForecasts([f], cur, 1), [f]);
  const zero = discountForecasts([f], cur, 0)[0]!;
  assert.ok(zero.points.every((p) => p.predicted === 200 && p.lower === 200 && p.upper === 200));
  const half = discountForecasts([f], cur, 0.5)[0]!;
  assert.equal(half.points[0]!.predicted, 400);
  assert.equal(half.points[0]!.upper, 200 + 0.5 * (660 - 200));
  const unknown = forecast(1, 0, () => 600);
  assert.deepEqual(discountForecasts([unknown], cur, 0)[0], unknown, 'no current load: left alone');
});

test('decide rounds: after a run of forecasts that kept missing, the engine plans on the current load and does not scale out for them', () => {
  const state = { ...twoNodes(), buckets };
  const rounds = () =>
    new DecideRounds({ capacity: 1000, warmupWindows: 1, decide: { stepMs: STEP, horizonSteps: H, skill: { minMatured: 20 } } });
  // n1 holds k0..k2 at 200–220 each (60–66%); every forecast says 600 each (180%, far over capacity)
  const feed = (r: DecideRounds, t: number) => {
    for (let b = 0; b < 4; b++) r.observeAggregate(agg(b, t, actual(t)));
    for (let b = 0; b < 4; b++) r.observeForecast(forecast(b, t, () => 600));
    const now = r.due();
    assert.equal(now, T0 + (t + 1) * STEP);
    return r.decide(state, now!);
  };
  const fresh = feed(rounds(), 30);
  assert.equal(fresh.trust, 1);
  assert.ok(
    fresh.result.commands.some((c) => c.action === 'scale_out'),
    'trusted, the forecast overload is provisioned for',
  );

  const burnt = rounds();
  let last = feed(burnt, 0);
  for (let t = 1; t <= 30; t++) last = feed(burnt, t);
  assert.ok(last.skill! < 0, `skill ${last.skill}`);
  assert.equal(last.trust, 0);
  assert.ok(
    !last.result.commands.some((c) => c.action === 'scale_out'),
    'the missed forecasts are not provisioned for: the current load fits',
  );
  assert.ok(last.result.explanations.some((l) => /forecast skill -?\d/.test(l)));
});

test('decide rounds: no round before new forecasts and the warm-up', () => {
  const r = new DecideRounds({ capacity: 1000, warmupWindows: 2 });
  assert.equal(r.due(), null);
  r.observeForecast(forecast(0, 0, () => 1));
  assert.equal(r.due(), null, 'one origin of two');
  assert.equal(r.due(), null, 'nothing new');
  r.observeForecast(forecast(0, 1, () => 1));
  assert.equal(r.due(), T0 + 2 * STEP);
});
