import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OnlineForecaster } from '../../models/online.js';
import { ForecastRounds } from '../../processors/forecast/rounds.js';
import type { WorkloadAggregate } from '../../schemas/types.js';
import { aggregate } from './sim-helpers.js';

const stepMs = 1000;
const agg = (seriesId: string, step: number, queries: number, source = 'pg'): WorkloadAggregate =>
  aggregate({ seriesId, windowStart: step * stepMs, windowEnd: (step + 1) * stepMs, source, queries, reads: 0 });

test('forecast rounds: a newer window forecasts the one before it; late series at that origin once; others wait', async () => {
  const f = new OnlineForecaster({ stepMs, horizon: 3, season: 4, global: false });
  const rounds = new ForecastRounds(f, { stepMs });
  const now = 1_000_000;
  for (let t = 0; t < 10; t++) await rounds.next([agg('a', t, 10 + (t % 4))], now);
  // Window 10 arrives for a: window 9 is complete and forecast.
  const r1 = await rounds.next([agg('a', 10, 12)], now);
  assert.deepEqual(
    r1.forecasts.map((x) => [x.seriesId, x.originTs]),
    [['a', 9 * stepMs]],
  );
  // b's window 9 arrives in a later batch (another partition): forecast at the same origin, once.
  const r2 = await rounds.next([agg('b', 8, 5), agg('b', 9, 6)], now);
  assert.deepEqual(
    r2.forecasts.map((x) => [x.seriesId, x.originTs]),
    [['b', 9 * stepMs]],
  );
  assert.equal((await rounds.next([agg('b', 9, 6)], now)).forecasts.length, 0);
  // Nothing newer: no round.
  assert.equal((await rounds.next([], now)).forecasts.length, 0);
});

test('forecast rounds: other sources and far-future windows do not move the clock', async () => {
  const f = new OnlineForecaster({ stepMs, horizon: 3, season: 4, global: false });
  const rounds = new ForecastRounds(f, { stepMs, sources: ['pg'], maxFutureMs: 60_000 });
  const now = 20 * stepMs;
  for (let t = 0; t < 6; t++) await rounds.next([agg('a', t, 10)], now);
  const r = await rounds.next([agg('x', 7, 1, 'mongo'), agg('z', 10_000, 1)], now);
  assert.equal(r.forecasts.length, 0);
  assert.deepEqual(
    r.future.map((a) => a.seriesId),
    ['z'],
  );
  const r2 = await rounds.next([agg('a', 6, 10)], now);
  assert.deepEqual(
    r2.forecasts.map((x) => x.originTs),
    [5 * stepMs],
  );
});
