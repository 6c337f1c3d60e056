/**
 * Trace CSV for the cluster simulator, read and written. Two shapes: `ts,table,key,reads,writes`
 * (keys are mapped onto `units` equal-width units per table) or `ts,series,value` (each series
 * is a one-unit table, all reads). `ts` is epoch milliseconds or an ISO-8601 time (UTC when it
 * names no zone). The step is any regular one: the smallest gap between times, every time on its
 * grid (a time with no rows is a step without load). A row that does not fit is an InputError
 * naming its line.
 */
import { CsvError, type Info, parse } from 'csv-parse/sync';
import { InputError } from '../../lib/errors.js';
import type { Workload, WorkloadTable } from './workload.js';

const WIDE = ['ts', 'table', 'key', 'reads', 'writes'];
const NARROW = ['ts', 'series', 'value'];
const MAX_STEPS = 200_000;

const EPOCH = /^[-+]?\d+(\.\d+)?(e[-+]?\d+)?$/i;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/** Epoch milliseconds of a trace timestamp, or NaN. */
export function traceTime(s: string): number {
  if (EPOCH.test(s)) return Number(s);
  const m = ISO_8601.exec(s);
  if (!m) return Number.NaN;
  // Date.parse reads a date-time without a zone as local time; a trace means UTC
  const hasTime = /[T ]\d/i.test(s);
  return Date.parse(hasTime && !m[1] ? `${s.replace(' ', 'T')}Z` : s.replace(' ', 'T'));
}

interface TraceRow {
  ts: number;
  table: string;
  key: number;
  reads: number;
  writes: number;
}

/** The rows of a trace CSV, checked; `wide` tells the shape. */
function readRows(text: string): { rows: TraceRow[]; wide: boolean } {
  let records: { info: Info; record: string[] }[];
  try {
    // `info: true` yields { info, record } per row; csv-parse's types do not model the option
    records = parse(text, {
      bom: true,
      skip_empty_lines: true,
      trim: true,
      info: true,
      relax_column_count: true,
    }) as unknown as typeof records;
  } catch (err) {
    if (err instanceof CsvError) {
      const line = typeof err.lines === 'number' ? `trace line ${err.lines}: ` : '';
      throw new InputError(`${line}${err.message}`, { cause: err });
    }
    throw err;
  }
  if (records.length === 0) throw new InputError('empty trace');
  const header = records[0]!.record.map((h) => h.toLowerCase());
  const wide = header.join(',') === WIDE.join(',');
  if (!wide && header.join(',') !== NARROW.join(','))
    throw new InputError(`trace header must be ${WIDE.join(',')} or ${NARROW.join(',')} (got ${records[0]!.record.join(',')})`);
  const rows: TraceRow[] = [];
  for (const { info, record: c } of records.slice(1)) {
    const bad = (why: string) => new InputError(`trace line ${info.lines}: ${why}`);
    if (c.length !== header.length) throw bad(`expected ${header.length} fields, got ${c.length}`);
    const ts = traceTime(c[0]!);
    if (!Number.isFinite(ts)) throw bad(`ts is neither epoch milliseconds nor an ISO-8601 time: ${c[0]}`);
    if (wide) {
      const [key, reads, writes] = [c[2], c[3], c[4]].map((v) => (v === '' ? Number.NaN : Number(v))) as [number, number, number];
      if (![key, reads, writes].every(Number.isFinite)) throw bad('key, reads and writes must be numbers');
      if (reads < 0 || writes < 0) throw bad('reads and writes must be ≥ 0');
      rows.push({ ts, table: c[1]!, key, reads, writes });
    } else {
      const value = c[2] === '' ? Number.NaN : Number(c[2]);
      if (!Number.isFinite(value) || value < 0) throw bad(`value must be a number ≥ 0: ${c[2]}`);
      rows.push({ ts, table: c[1]!, key: 0, reads: value, writes: 0 });
    }
  }
  if (!rows.length) throw new InputError('trace has a header but no rows');
  return { rows, wide };
}

/** Parses a trace CSV (`ts,table,key,reads,writes` or `ts,series,value`) into a workload. */
export function parseTrace(text: string, opts: { name?: string; units?: number; unitBytes?: number } = {}): Workload {
  const { rows, wide } = readRows(text);
  const times = [...new Set(rows.map((r) => r.ts))].sort((a, b) => a - b);
  let stepMs = Infinity;
  for (let i = 1; i < times.length; i++) stepMs = Math.min(stepMs, times[i]! - times[i - 1]!);
  if (!Number.isFinite(stepMs) || stepMs <= 0) stepMs = 60_000;
  const t0 = times[0]!;
  // any step, but one step: the smallest gap; every time must sit on that grid (a missing time is a step without load)
  for (const ts of times) {
    const k = (ts - t0) / stepMs;
    if (Math.abs(k - Math.round(k)) > 1e-6)
      throw new InputError(
        `trace times are not on a regular step: ${new Date(ts).toISOString()} is not a whole number of ${stepMs / 1000}s steps after ${new Date(t0).toISOString()}`,
      );
  }
  const steps = Math.round((times[times.length - 1]! - t0) / stepMs) + 1;
  if (steps > MAX_STEPS) throw new InputError(`trace spans ${steps} steps; at most ${MAX_STEPS}`);
  const names = [...new Set(rows.map((r) => r.table))].sort();
  const tables: WorkloadTable[] = names.map((name) => {
    // a loop, not Math.min(...keys): long traces have more rows than a call's argument limit
    let lo = Infinity,
      hi = -Infinity;
    for (const r of rows)
      if (r.table === name) {
        lo = Math.min(lo, r.key);
        hi = Math.max(hi, r.key + 1);
      }
    const units = wide ? Math.max(1, Math.min(opts.units ?? 64, Math.ceil(hi - lo))) : 1;
    return { name, units, keyLo: lo, keyHi: hi };
  });
  const reads = tables.map((t) => new Float64Array(steps * t.units));
  const writes = tables.map((t) => new Float64Array(steps * t.units));
  const idx = new Map(names.map((n, i) => [n, i]));
  for (const r of rows) {
    const ti = idx.get(r.table)!,
      t = tables[ti]!;
    const step = Math.round((r.ts - t0) / stepMs);
    const u = Math.min(t.units - 1, Math.floor(((r.key - t.keyLo) / (t.keyHi - t.keyLo)) * t.units));
    reads[ti]![step * t.units + u]! += r.reads;
    writes[ti]![step * t.units + u]! += r.writes;
  }
  // Warm-up before the metrics count: a day when the trace spans ≥ 2 days.
  const day = Math.round(86_400_000 / stepMs);
  const warmDay = steps >= 2 * day && day >= 4;
  return {
    name: opts.name ?? 'trace',
    kind: 'trace',
    description: `trace, ${steps} steps of ${stepMs / 1000}s, ${names.length} tables`,
    stepMs,
    steps,
    startTs: t0,
    tables,
    reads,
    writes,
    coAccess: [],
    evalStart: warmDay ? Math.min(day, Math.floor(steps / 2)) : Math.min(60, Math.floor(steps / 4)),
    unitBytes: opts.unitBytes ?? 1024 ** 3,
  };
}

/** Writes a workload as a `ts,table,key,reads,writes` CSV (key = the unit's lower key). */
export function toTraceCsv(w: Workload): string {
  const out = [WIDE.join(',')];
  for (let t = 0; t < w.steps; t++) {
    w.tables.forEach((tb, ti) => {
      for (let u = 0; u < tb.units; u++) {
        const r = w.reads[ti]![t * tb.units + u]!,
          wr = w.writes[ti]![t * tb.units + u]!;
        if (r === 0 && wr === 0) continue;
        const key = tb.keyLo + ((tb.keyHi - tb.keyLo) * u) / tb.units;
        out.push(`${w.startTs + t * w.stepMs},${tb.name},${key},${r.toFixed(3)},${wr.toFixed(3)}`);
      }
    });
  }
  return `${out.join('\n')}\n`;
}
