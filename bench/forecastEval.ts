/**
 * `shardcast forecast-eval`: rolling-origin evaluation of the forecaster on a CSV
 * `ts,series,value` (header optional, columns found by name when present; any number of
 * series; irregular timestamps; a row with a bad timestamp or value is an error naming its
 * line). Timestamps are aligned to the median step between
 * consecutive observations (calendar months when the data are monthly); several values
 * landing in one step are averaged; missing steps are gaps. Writes every prediction as
 * `ts,series,horizon,actual,predicted,lower,upper,model` and returns a JSON summary.
 */
import { createWriteStream, promises as fs } from 'node:fs';
import { once } from 'node:events';
import { parse } from 'csv-parse/sync';
import { InputError, UsageError } from '../lib/errors.js';
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
  stepMs: number;
  calendarMonthly: boolean;
  predictionsWritten: number;
}

/** Unusable input (exit code 2). */
export class ForecastInputError extends InputError {}

export interface AlignedData {
  series: EvalSeries[];
  t0: number;
  stepMs: number;
  calendarMonthly: boolean;
  tsIsNumeric: boolean;
  rowsRead: number;
  /** Timestamp (ms or numeric unit) of aligned step index i. */
  tsOf: (i: number) => number;
}

/** CSV options shared by the readers: rows may be ragged (checked per row), blank lines skipped. */
const CSV_OPTIONS = {
  relax_column_count: true,
  skip_empty_lines: true,
  skip_records_with_empty_values: true,
  trim: true,
  info: true,
} as const;

/** Parses and aligns `ts,series,value` CSV text; a malformed or unusable row is an error naming its line. */
export function parseSeriesCsv(text: string): AlignedData {
  let rows: { record: string[]; info: { lines: number } }[];
  try {
    rows = parse(text, CSV_OPTIONS) as unknown as typeof rows;
  } catch (err) {
    throw new ForecastInputError(`input CSV: ${(err as Error).message}`);
  }
  if (!rows.length) throw new ForecastInputError('input CSV is empty');
  let iTs = 0,
    iSeries = 1,
    iValue = 2;
  let start = 0;
  const head = rows[0]!.record.map((h) => h.toLowerCase());
  if (head.includes('ts') || head.includes('value') || head.includes('series')) {
    iTs = head.indexOf('ts');
    iSeries = head.indexOf('series');
    iValue = head.indexOf('value');
    if (iTs < 0 || iValue < 0) throw new ForecastInputError(`input CSV header must name ts and value columns (got: ${head.join(',')})`);
    start = 1;
  }
  const raw: { ts: number; series: string; value: number }[] = [];
  let numeric = true;
  for (const { record: f, info } of rows.slice(start)) {
    const at = `input CSV line ${info.lines}`;
    const tsText = f[iTs] ?? '';
    let ts = Number(tsText);
    if (tsText === '' || !Number.isFinite(ts)) {
      ts = Date.parse(tsText);
      numeric = false;
    }
    if (!Number.isFinite(ts)) throw new ForecastInputError(`${at}: timestamp '${tsText}' is neither a number nor a date`);
    const vText = f[iValue] ?? '';
    // An empty value or NaN is a gap.
    const value = vText === '' || /^nan$/i.test(vText) ? NaN : Number(vText);
    if (vText !== '' && !/^nan$/i.test(vText) && !Number.isFinite(value))
      throw new ForecastInputError(`${at}: value '${vText}' is not a number`);
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
  return { series, t0, stepMs, calendarMonthly: monthly, tsIsNumeric: numeric, rowsRead: raw.length, tsOf };
}

const csvField = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
const num = (v: number): string => (Number.isFinite(v) ? String(Math.round(v * 1e6) / 1e6) : '');

/** Runs the evaluation; writes the predictions CSV; returns the summary. */
export async function runForecastEval(opts: ForecastEvalOptions): Promise<ForecastEvalSummary> {
  if (!(Number.isInteger(opts.horizon) && opts.horizon >= 1)) throw new UsageError('horizon must be a positive integer');
  if (opts.season !== undefined && !(Number.isInteger(opts.season) && opts.season >= 1))
    throw new UsageError('season must be a positive integer');
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
    stepMs: data.stepMs,
    calendarMonthly: data.calendarMonthly,
    predictionsWritten: written,
  };
}
