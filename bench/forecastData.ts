/**
 * Real public time series shipped by a registry package: the npm `vega-datasets` package
 * (data/co2-concentration.csv: monthly Mauna Loa CO2, NOAA/Scripps, 1958–2020, with gaps;
 * data/unemployment-across-industries.json: monthly US unemployed persons by industry,
 * BLS, 2000–2010, 14 series). Read from node_modules; nothing is downloaded at run time.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { parse } from 'csv-parse/sync';
import type { EvalSeries } from '../models/evaluate.js';

const require = createRequire(import.meta.url);

function dataDir(): string {
  // The package exports only its index; its data/ folder sits beside build/.
  return path.join(path.dirname(require.resolve('vega-datasets')), '..', 'data');
}

export interface RealDataset {
  name: string;
  source: string;
  season: number;
  series: EvalSeries[];
}

/** Monthly Mauna Loa CO2 (ppm), one series on a calendar-month grid (missing months are gaps). */
export async function loadCo2(): Promise<RealDataset> {
  const text = await fs.readFile(path.join(dataDir(), 'co2-concentration.csv'), 'utf8');
  const rows = parse(text, { from_line: 2, skip_empty_lines: true, trim: true }) as string[][];
  const idx = (d: string): number => {
    const [y, m] = d.split('-').map(Number);
    return y! * 12 + (m! - 1);
  };
  const first = idx(rows[0]![0]!);
  const T = idx(rows[rows.length - 1]![0]!) - first + 1;
  const values = new Float64Array(T).fill(NaN);
  for (const r of rows) {
    const v = Number(r[1]);
    if (Number.isFinite(v)) values[idx(r[0]!) - first] = v;
  }
  return {
    name: 'co2-concentration',
    source: 'npm vega-datasets data/co2-concentration.csv (Mauna Loa monthly CO2)',
    season: 12,
    series: [{ id: 'co2', values }],
  };
}

/** Monthly unemployed persons (thousands) for 14 US industries, 2000–2010. */
export async function loadUnemployment(): Promise<RealDataset> {
  const rows = JSON.parse(await fs.readFile(path.join(dataDir(), 'unemployment-across-industries.json'), 'utf8')) as {
    series: string;
    year: number;
    month: number;
    count: number;
  }[];
  const by = new Map<string, Map<number, number>>();
  let lo = Infinity,
    hi = -Infinity;
  for (const r of rows) {
    const i = r.year * 12 + (r.month - 1);
    lo = Math.min(lo, i);
    hi = Math.max(hi, i);
    let m = by.get(r.series);
    if (!m) {
      m = new Map();
      by.set(r.series, m);
    }
    m.set(i, r.count);
  }
  const series: EvalSeries[] = [...by].map(([id, m]) => ({
    id,
    values: Float64Array.from({ length: hi - lo + 1 }, (_, k) => m.get(lo + k) ?? NaN),
  }));
  return {
    name: 'unemployment-across-industries',
    source: 'npm vega-datasets data/unemployment-across-industries.json (BLS, monthly, 14 industries)',
    season: 12,
    series,
  };
}
