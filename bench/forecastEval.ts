/**
 * `shardcast forecast-eval`: rolling-origin evaluation of the forecaster on a CSV
 * `ts,series,value` (header optional, columns found by name when present; any number of
 * series; irregular timestamps). Timestamps are aligned to the median step between
 * consecutive observations (calendar months when the data are monthly); several values
 * landing in one step are averaged; missing steps are gaps. Writes every prediction as
 * `ts,series,horizon,actual,predicted,lower,upper,model` and returns a JSON summary.
 */
import { createWriteStream, promises as fs } from 'node:fs';
import { once } from 'node:events';
import { initBackend, type BackendPref } from '../models/backend.js';
import { rollingOriginEval, type EvalSummary, type EvalSeries } from '../models/evaluate.js';
import { median } from '../models/util.js';

export interface ForecastEvalOptions {
  input: string;
  horizon: number;
  season?: number;
  out: string;
  level?: number;
  backend?: BackendPref;
  /** Warm-fit epochs of the global model (default 30). */
  warmEpochs?: number;
}

export interface ForecastEvalSummary extends EvalSummary {
  input: string;
  out: string;
  rowsRead: number;
  rowsSkipped: number;
  stepMs: number;
  calendarMonthly: boolean;
  predictionsWritten: number;
}

/** Thrown for unusable input (the CLI maps it to exit code 2). */
export class ForecastInputError extends Error {
  override name = 'ForecastInputError';
}

export interface AlignedData {
  series: EvalSeries[];
  t0: number;
  stepMs: number;
  calendarMonthly: boolean;
  tsIsNumeric: boolean;
  rowsRead: number;
  rowsSkipped: number;
  /** Timestamp (ms or numeric unit) of aligned step index i. */
  tsOf: (i: number) => number;
}

function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (q) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') q = false;
      else cur += c;
    } else if (c === '"') q = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.map((s) => s.trim());
}

/** Parses and aligns `ts,series,value` CSV text. */
export function parseSeriesCsv(text: string): AlignedData {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (!lines.length) throw new ForecastInputError('input CSV is empty');
  let iTs = 0,
    iSeries = 1,
    iValue = 2;
  let start = 0;
  const head = splitCsvLine(lines[0]!).map((h) => h.toLowerCase());
  if (head.includes('ts') || head.includes('value') || head.includes('series')) {
    iTs = head.indexOf('ts');
    iSeries = head.indexOf('series');
    iValue = head.indexOf('value');
    if (iTs < 0 || iValue < 0) throw new ForecastInputError(`input CSV header must name ts and value columns (got: ${head.join(',')})`);
    start = 1;
  }
  const raw: { ts: number; series: string; value: number }[] = [];
  let skipped = 0;
  let numeric = true;
  for (let i = start; i < lines.length; i++) {
    const f = splitCsvLine(lines[i]!);
    const tsText = f[iTs] ?? '';
    let ts = Number(tsText);
    if (tsText === '' || !Number.isFinite(ts)) {
      ts = Date.parse(tsText);
      numeric = false;
    }
    const vText = f[iValue] ?? '';
    const value = vText === '' || /^nan$/i.test(vText) ? NaN : Number(vText);
    if (!Number.isFinite(ts) || (vText !== '' && !/^nan$/i.test(vText) && !Number.isFinite(value))) {
      skipped++;
      continue;
    }
    raw.push({ ts, series: iSeries >= 0 ? f[iSeries] || 'series' : 'series', value });
  }
  if (!raw.length) throw new ForecastInputError('input CSV has no parsable rows');
  const bySeries = new Map<string, { ts: number; value: number }[]>();
  for (const r of raw) {
    let a = bySeries.get(r.series);
    if (!a) {
      a = [];
      bySeries.set(r.series, a);
    }
    a.push(r);
  }
  const diffs: number[] = [];
  for (const a of bySeries.values()) {
    a.sort((x, y) => x.ts - y.ts);
    for (let i = 1; i < a.length; i++) if (a[i]!.ts > a[i - 1]!.ts) diffs.push(a[i]!.ts - a[i - 1]!.ts);
  }
  if (!diffs.length) throw new ForecastInputError('input CSV needs at least two distinct timestamps per series');
  const stepMs = median(diffs);
  const t0 = Math.min(...raw.map((r) => r.ts));
  const DAY = 86_400_000;
  // Calendar months: every timestamp on a month's first day (UTC) and a step of 28–31 days.
  const monthly = !numeric && stepMs >= 28 * DAY && stepMs <= 31 * DAY && raw.every((r) => new Date(r.ts).getUTCDate() === 1);
  const d0 = new Date(t0);
  const m0 = d0.getUTCFullYear() * 12 + d0.getUTCMonth();
  const indexOf = (ts: number): number => {
    if (monthly) {
      const d = new Date(ts);
      return d.getUTCFullYear() * 12 + d.getUTCMonth() - m0;
    }
    return Math.round((ts - t0) / stepMs);
  };
  const tsOf = (i: number): number => (monthly ? Date.UTC(Math.floor((m0 + i) / 12), (m0 + i) % 12, 1) : t0 + i * stepMs);
  let T = 0;
  for (const r of raw) T = Math.max(T, indexOf(r.ts) + 1);
  if (T > 5_000_000) throw new ForecastInputError(`aligned series would have ${T} steps: timestamps too irregular for the median step`);
  const series: EvalSeries[] = [];
  for (const [id, a] of bySeries) {
    const sum = new Float64Array(T),
      cnt = new Uint32Array(T);
    for (const r of a) {
      if (!Number.isFinite(r.value)) continue;
      const i = indexOf(r.ts);
      sum[i]! += r.value;
      cnt[i]!++;
    }
    series.push({ id, values: Float64Array.from(sum, (s, i) => (cnt[i] ? s / cnt[i]! : NaN)) });
  }
  return { series, t0, stepMs, calendarMonthly: monthly, tsIsNumeric: numeric, rowsRead: raw.length, rowsSkipped: skipped, tsOf };
}

const csvField = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
const num = (v: number): string => (Number.isFinite(v) ? String(Math.round(v * 1e6) / 1e6) : '');

/** Runs the evaluation; writes the predictions CSV; returns the summary. */
export async function runForecastEval(opts: ForecastEvalOptions): Promise<ForecastEvalSummary> {
  if (!(Number.isInteger(opts.horizon) && opts.horizon >= 1)) throw new ForecastInputError('horizon must be a positive integer');
  if (opts.season !== undefined && !(Number.isInteger(opts.season) && opts.season >= 1))
    throw new ForecastInputError('season must be a positive integer');
  let text: string;
  try {
    text = await fs.readFile(opts.input, 'utf8');
  } catch (err) {
    throw new ForecastInputError(`cannot read ${opts.input}: ${(err as Error).message}`);
  }
  const data = parseSeriesCsv(text);
  const T = Math.max(...data.series.map((s) => s.values.length));
  if (T < 2 * opts.horizon + 4) throw new ForecastInputError(`series too short (${T} steps) for horizon ${opts.horizon}`);
  const backend = await initBackend(opts.backend ?? 'auto');
  const out = createWriteStream(opts.out);
  out.write('ts,series,horizon,actual,predicted,lower,upper,model\n');
  let written = 0;
  const fmtTs = (i: number): string => (data.tsIsNumeric ? String(data.tsOf(i)) : new Date(data.tsOf(i)).toISOString());
  const summary = await rollingOriginEval(data.series, {
    horizon: opts.horizon,
    ...(opts.season ? { season: opts.season } : {}),
    level: opts.level ?? 0.9,
    warmEpochs: opts.warmEpochs ?? 30,
    backend,
    onRow: (r) => {
      written++;
      if (
        !out.write(
          `${fmtTs(r.step)},${csvField(r.series)},${r.horizon},${num(r.actual)},${num(r.predicted)},${num(r.lower)},${num(r.upper)},${r.model}\n`,
        )
      ) {
        /* the stream buffers; flushed at the end */
      }
    },
  });
  out.end();
  await once(out, 'finish');
  return {
    ...summary,
    input: opts.input,
    out: opts.out,
    rowsRead: data.rowsRead,
    rowsSkipped: data.rowsSkipped,
    stepMs: data.stepMs,
    calendarMonthly: data.calendarMonthly,
    predictionsWritten: written,
  };
}
