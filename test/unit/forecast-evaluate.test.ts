import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type EvalRow, coverage, mase, rollingOriginEval, smape } from '../../models/evaluate.js';
import { seasonalScale } from '../../models/util.js';
import { InputError } from '../../lib/errors.js';
import { parseSeriesCsv, runForecastEval } from '../../bench/forecastEval.js';

test('metrics match hand-computed values', () => {
  // |errors| 1, 2 → MAE 1.5; scale 0.5 → MASE 3.
  assert.equal(mase([1, 2, NaN], [2, 4, 5], 0.5), 3);
  // sMAPE: 200·1/(1+2)=66.67, 200·0/(0+0)=0 → 33.33.
  assert.ok(Math.abs(smape([1, 0], [2, 0]) - 100 / 3) < 1e-9);
  assert.equal(coverage([1, 5, 3, 10], [0, 0, 4, 0], [2, 4, 5, 10]), 0.5);
  // Seasonal scale: |3-1|,|4-2| over m=2 → 2.
  assert.equal(seasonalScale([1, 2, 3, 4], 2), 2);
});

test('CSV alignment: median step, irregular gaps, calendar months', () => {
  const d = parseSeriesCsv('ts,series,value\n0,a,1\n10,a,2\n30,a,4\n0,b,5\n10,b,6\n');
  assert.equal(d.stepMs, 10);
  const a = d.series.find((s) => s.id === 'a')!;
  assert.deepEqual(
    Array.from(a.values).map((v) => (Number.isNaN(v) ? null : v)),
    [1, 2, null, 4],
  );
  const m = parseSeriesCsv('ts,series,value\n2020-01-01,x,1\n2020-02-01,x,2\n2020-03-01,x,3\n2020-05-01,x,5\n');
  assert.equal(m.calendarMonthly, true);
  assert.equal(m.series[0]!.values.length, 5);
  assert.ok(Number.isNaN(m.series[0]!.values[3]!));
  assert.equal(new Date(m.tsOf(4)).toISOString().slice(0, 10), '2020-05-01');
});

test('forecast-eval on a tiny CSV writes predictions and a per-model summary', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fc-eval-'));
  const input = path.join(dir, 'in.csv');
  const out = path.join(dir, 'out.csv');
  const lines = ['ts,series,value'];
  for (let t = 0; t < 96; t++) {
    if (t === 40) continue; // a gap
    for (const s of ['p', 'q'])
      lines.push(`${t * 3_600_000},${s},${(s === 'p' ? 10 : 20) + 5 * Math.sin((2 * Math.PI * t) / 12) + ((t * 7) % 3)}`);
  }
  writeFileSync(input, lines.join('\n'));
  const sum = await runForecastEval({ input, horizon: 4, season: 12, out, warmEpochs: 3, backend: 'wasm' });
  assert.equal(sum.series, 2);
  for (const m of ['seasonal_naive', 'holt_winters', 'ensemble']) {
    assert.ok(Number.isFinite(sum.models[m]!.mase), m);
    assert.ok(sum.models[m]!.coverage >= 0 && sum.models[m]!.coverage <= 1);
  }
  const csv = readFileSync(out, 'utf8').trim().split('\n');
  assert.equal(csv[0], 'ts,series,horizon,actual,predicted,lower,upper,model');
  assert.equal(csv.length - 1, sum.predictionsWritten);
  const row = csv[1]!.split(',');
  assert.equal(row.length, 8);
  assert.ok(Number(row[5]) <= Number(row[4]) && Number(row[4]) <= Number(row[6]));
  await assert.rejects(runForecastEval({ input: path.join(dir, 'missing.csv'), horizon: 4, out }), /cannot read/);
});

test('no season leak: two inputs equal up to origin t give identical forecasts at every origin up to t', async () => {
  const T = 240,
    H = 4,
    t0 = 100;
  const a = Float64Array.from({ length: T }, (_, t) => 100 + 20 * Math.sin((2 * Math.PI * t) / 12) + ((t * 7) % 5));
  // After t0 the second input turns into a strong season of 5: detected from the whole data (or
  // its first half), it changed the season, and so the forecasts, at origins before t0.
  const b = Float64Array.from(a, (v, t) => (t <= t0 ? v : 100 + 400 * Math.sin((2 * Math.PI * t) / 5)));
  const rows = async (values: Float64Array): Promise<Map<string, EvalRow>> => {
    const out = new Map<string, EvalRow>();
    await rollingOriginEval([{ id: 's', values }], {
      horizon: H,
      forecaster: { global: false },
      onRow: (r) => {
        if (r.step - r.horizon <= t0) out.set(`${r.step}/${r.horizon}`, r);
      },
    });
    return out;
  };
  const ra = await rows(a);
  const rb = await rows(b);
  assert.ok(ra.size > 20, `${ra.size} rows at origins up to ${t0}`);
  for (const [k, r] of ra) {
    const o = rb.get(k);
    assert.ok(o, `row ${k} missing`);
    // Actuals after t0 differ by construction; the forecasts may not.
    assert.deepEqual([o.predicted, o.lower, o.upper, o.model], [r.predicted, r.lower, r.upper, r.model], `row ${k}`);
  }
});

test('CSV input: quoted fields, blank lines; a bad row is an error naming its line', () => {
  const d = parseSeriesCsv('ts,series,value\n0,"a,b",1\n\n10,"a,b",2\n20,"a,b",\n30,"a,b",NaN\n40,"a,b",5\n');
  assert.deepEqual(
    d.series.map((s) => s.id),
    ['a,b'],
  );
  assert.deepEqual(
    Array.from(d.series[0]!.values).map((v) => (Number.isNaN(v) ? null : v)),
    [1, 2, null, null, 5],
  );
  assert.throws(() => parseSeriesCsv('ts,series,value\n0,a,1\n10,a,2\n20,a,lots\n'), /line 4: value 'lots' is not a number/);
  assert.throws(() => parseSeriesCsv('ts,series,value\n0,a,1\nsoon,a,2\n'), /line 3: timestamp 'soon'/);
  assert.throws(() => parseSeriesCsv('ts,series,value\n0,a,1\n10,"a,2\n'), /input CSV: .*line/i);
  assert.throws(
    () => parseSeriesCsv('ts,series,value\n0,a,1\n'),
    (err: Error) => err instanceof InputError,
  );
});
