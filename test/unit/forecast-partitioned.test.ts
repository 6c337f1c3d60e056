import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OnlineForecaster } from '../../models/online.js';
import { ForecastRounds } from '../../processors/forecast/rounds.js';
import { PartitionedForecast } from '../../processors/forecast/partitionedForecast.js';
import type { Forecast, WorkloadAggregate } from '../../schemas/types.js';
import { aggregate } from './sim-helpers.js';

const stepMs = 1000;
const now = 1_000_000;
const SERIES = ['a', 'b', 'c', 'd'];
const agg = (seriesId: string, w: number): WorkloadAggregate =>
  aggregate({
    seriesId,
    windowStart: w * stepMs,
    windowEnd: (w + 1) * stepMs,
    source: 'pg',
    queries: Math.round(20 + 8 * Math.sin((2 * Math.PI * w) / 6) + (seriesId.charCodeAt(0) % 5) + (w % 3)),
  });
/** Windows from..to-1 of every series, window by window (as ingest emits them). */
const windows = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => SERIES.map((s) => agg(s, from + i))).flat();
/** `xs` cut into batches at the given sizes, repeating the last. */
function cut<T>(xs: T[], sizes: number[]): T[][] {
  const out: T[][] = [];
  for (let i = 0, k = 0; i < xs.length; k++) {
    const n = sizes[Math.min(k, sizes.length - 1)]!;
    out.push(xs.slice(i, i + n));
    i += n;
  }
  return out;
}
const forecaster = (global = false) =>
  new OnlineForecaster({ stepMs, horizon: 3, season: 6, global: global ? {} : false, nonNegative: true });
const key = (f: Forecast) => `${f.seriesId}@${f.originTs}`;

test('rounds per window: where fetches cut the batches changes neither the rounds nor the forecasts', async () => {
  const input = windows(0, 30);
  const runs: Forecast[][] = [];
  for (const sizes of [[input.length], [1], [7, 3, 13], [4]]) {
    const rounds = new ForecastRounds(forecaster(), { stepMs, perWindow: true });
    const out: Forecast[] = [];
    for (const b of cut(input, sizes)) out.push(...(await rounds.next(b, now)).forecasts);
    runs.push(out);
  }
  const keys = runs[0]!.map(key);
  assert.equal(new Set(keys).size, keys.length, 'no (series, origin) twice');
  // every origin from the first forecastable one to window 28 (window 29 is still open)
  const origins = [...new Set(runs[0]!.map((f) => f.originTs / stepMs))].sort((a, b) => a - b);
  assert.equal(origins.at(-1), 28);
  assert.deepEqual(
    origins,
    Array.from({ length: origins.length }, (_, i) => origins[0]! + i),
    'no origin skipped',
  );
  for (const r of runs.slice(1)) assert.deepEqual(r, runs[0], 'the same forecasts, to the bit');
});

test('rounds per window: a series whose window comes after its round is forecast at that origin once', async () => {
  const rounds = new ForecastRounds(forecaster(), { stepMs, perWindow: true });
  for (let w = 0; w < 10; w++) await rounds.next([agg('a', w), agg('b', w)], now);
  // a's window 10 completes window 9; b's window 9 came before, b is forecast in that round
  const r = await rounds.next([agg('a', 10), agg('c', 8), agg('c', 9)], now);
  assert.deepEqual(r.forecasts.map((f) => [f.seriesId, f.originTs / stepMs]).sort(), [
    ['a', 9],
    ['b', 9],
    ['c', 9],
  ]);
  assert.equal((await rounds.next([agg('c', 9)], now)).forecasts.length, 0, 'c not again');
});

/** Runs `input` of one partition through a PartitionedForecast, moving the partition (save, release, own elsewhere) after each batch in `moves`. */
async function run(input: WorkloadAggregate[], sizes: number[], moves: Set<number>, global: boolean) {
  let at = new PartitionedForecast(() => forecaster(global), { stepMs });
  at.own(3, null);
  const out: Forecast[] = [];
  let offset = 0;
  for (const [i, b] of cut(input, sizes).entries()) {
    out.push(...(await at.next(3, b, now)).forecasts);
    offset += b.length;
    if (!moves.has(i)) continue;
    const saved = await at.snapshot(3, String(offset));
    at.release(3);
    assert.deepEqual(at.owned(), []);
    at = new PartitionedForecast(() => forecaster(global), { stepMs });
    assert.deepEqual(at.own(3, saved), { restored: true, series: SERIES.length });
  }
  return { out, at };
}

/** The largest difference of predicted values, and of interval bounds, relative to the larger of 1 and the value. */
function worstDiff(a: Forecast[], b: Forecast[]) {
  const rel = (x: number, y: number) => Math.abs(x - y) / Math.max(1, Math.abs(y));
  let predicted = 0;
  let bounds = 0;
  for (const [i, f] of a.entries()) {
    for (const [h, p] of f.points.entries()) {
      const q = b[i]!.points[h]!;
      predicted = Math.max(predicted, rel(p.predicted, q.predicted));
      bounds = Math.max(bounds, rel(p.lower, q.lower), rel(p.upper, q.upper));
    }
  }
  return { predicted, bounds };
}

test('a partition saved, released and taken over elsewhere forecasts as if it had stayed (baselines: to the bit)', async () => {
  const input = windows(0, 40);
  const stay = await run(input, [10], new Set(), false);
  const moved = await run(input, [10], new Set([3, 7, 8, 12]), false);
  assert.deepEqual(moved.out.map(key), stay.out.map(key), 'the same (series, origin), each once');
  const d = worstDiff(moved.out, stay.out);
  console.log('# baselines, moved against stayed:', JSON.stringify(d));
  assert.deepEqual(moved.out, stay.out);
  assert.equal(moved.at.forecaster(3)!.history.get('a')!.observed, 40, 'every window observed once');
});

test('with the global model, a moved partition gives the same (series, origin) and forecasts close to those of one that stayed', async () => {
  const input = windows(0, 40);
  const stay = await run(input, [12], new Set(), true);
  const moved = await run(input, [12], new Set([4, 8]), true);
  assert.deepEqual(moved.out.map(key), stay.out.map(key));
  const d = worstDiff(moved.out, stay.out);
  console.log('# global model, moved against stayed:', JSON.stringify(d));
  assert.ok(d.predicted <= 0.05, `largest relative difference ${d.predicted}`);
});

test('a refused saved state starts the partition empty and says why', () => {
  const p = new PartitionedForecast(() => forecaster(), { stepMs });
  const r = p.own(0, '{"format":"nope"}');
  assert.equal(r.restored, false);
  assert.match(String((r as { reason: string }).reason), /not a forecaster checkpoint/);
  assert.equal(p.forecaster(0)!.size, 0);
});
