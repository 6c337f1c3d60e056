/**
 * Turns what PostgreSQL itself records into QueryEvents: its CSV log (`log_destination =
 * csvlog`, `log_min_duration_statement = 0`), one line per finished statement with its duration.
 * Pure: lines in, events out; tailing the files is done by `collectors/tail.ts`.
 *
 * Extended-protocol statements arrive as `execute <name>: SELECT ... $1` with the bound values
 * in the DETAIL field (`parameters: $1 = '42', $2 = 'x'`); the values are put back into the
 * statement as literals so the featurizer sees the keys touched, and also passed as keyValues.
 */
import { createHash } from 'node:crypto';
import { parse } from 'csv-parse/sync';
import type { Operation, QueryEvent } from '../schemas/types.js';

/** Column positions of PostgreSQL 13–16 csvlog. */
const COL = {
  logTime: 0,
  user: 1,
  database: 2,
  pid: 3,
  connectionFrom: 4,
  sessionId: 5,
  sessionLine: 6,
  commandTag: 7,
  virtualTx: 9,
  txId: 10,
  severity: 11,
  sqlState: 12,
  message: 13,
  detail: 14,
  applicationName: 22,
} as const;

const DURATION = /^duration: ([0-9.]+) ms\s+(?:statement|execute [^:]*|bind [^:]*|parse [^:]*): ([\s\S]*)$/;
const PARAM = /\$(\d+) = (NULL|'((?:[^']|'')*)')/g;

export interface CollectorOptions {
  source: string;
  node: string;
  /** Statements from these users/applications are ignored (the collector's own, replication). */
  ignoreApplications?: string[];
}

export interface ParsedLine {
  event: QueryEvent | null;
  /** Why a line did not become an event (not a duration line, a parse/bind phase, ignored app). */
  skipped?: string;
}

/** Values bound to $n placeholders, from a DETAIL `parameters: ...` field. */
export function parseParameters(detail: string): Map<number, string | null> {
  const out = new Map<number, string | null>();
  if (!detail.startsWith('parameters:')) return out;
  for (const m of detail.matchAll(PARAM)) out.set(Number(m[1]), m[2] === 'NULL' ? null : m[3]!.replace(/''/g, "'"));
  return out;
}

/** Puts bound values back into the statement as SQL literals (numbers bare, text quoted). */
export function inlineParameters(sql: string, params: Map<number, string | null>): string {
  if (params.size === 0) return sql;
  return sql.replace(/\$(\d+)\b/g, (whole, n: string) => {
    if (!params.has(Number(n))) return whole;
    const v = params.get(Number(n));
    if (v === null || v === undefined) return 'NULL';
    return /^-?\d+(\.\d+)?$/.test(v) ? v : `'${v.replace(/'/g, "''")}'`;
  });
}

export function operationOf(sql: string): Operation {
  const w = /^\s*(?:with\b[\s\S]*?\)\s*)?(\w+)/i.exec(sql)?.[1]?.toLowerCase() ?? '';
  if (w === 'select' || w === 'insert' || w === 'update' || w === 'delete') return w;
  if (['create', 'alter', 'drop', 'truncate'].includes(w)) return 'ddl';
  return 'other';
}

/** csvlog log_time "2026-11-23 05:01:02.345 UTC" → epoch ms. */
export function parseLogTime(s: string): number {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?) ?(\w+|[+-]\d{2}(?::?\d{2})?)?$/.exec(s.trim());
  if (!m) return Number.NaN;
  const zone = !m[3] || m[3] === 'UTC' || m[3] === 'GMT' ? 'Z' : /^[+-]/.test(m[3]) ? m[3] : 'Z';
  return Date.parse(`${m[1]}T${m[2]}${zone}`);
}

export function eventFromRecord(rec: string[], opts: CollectorOptions): ParsedLine {
  const message = rec[COL.message] ?? '';
  const m = DURATION.exec(message);
  if (!m) return { event: null, skipped: 'not a statement duration line' };
  const phase = message.slice(message.indexOf('ms') + 2).trim();
  if (phase.startsWith('parse') || phase.startsWith('bind')) return { event: null, skipped: `${phase.split(' ')[0]} phase` };
  const app = rec[COL.applicationName] ?? '';
  if (opts.ignoreApplications?.includes(app)) return { event: null, skipped: `application ${app} ignored` };
  const params = parseParameters(rec[COL.detail] ?? '');
  const sql = inlineParameters(m[2]!.trim(), params);
  const ts = parseLogTime(rec[COL.logTime] ?? '');
  const id = createHash('sha1')
    .update(`${opts.source}|${opts.node}|${rec[COL.sessionId]}|${rec[COL.sessionLine]}`)
    .digest('hex')
    .slice(0, 24);
  const keyValues: Record<string, string> = {};
  const event: QueryEvent = {
    eventId: id,
    ts: Number.isFinite(ts) ? ts : 0,
    source: opts.source,
    dialect: 'postgres',
    database: rec[COL.database] || null,
    sql,
    fingerprint: null,
    tables: [],
    operation: operationOf(sql),
    durationMs: Number(m[1]),
    rowsRead: 0,
    rowsWritten: 0,
    node: opts.node,
    partition: null,
    keyValues,
    client: app || rec[COL.user] || null,
    status: (rec[COL.sqlState] ?? '00000') === '00000' ? 'ok' : 'error',
    txId: rec[COL.virtualTx] ? `${opts.node}:${rec[COL.virtualTx]}` : null,
  };
  return { event };
}

/** Parses a chunk of complete csvlog records (records may span lines: statements have newlines). */
export function parseCsvLog(text: string, opts: CollectorOptions): ParsedLine[] {
  const records = parse(text, { relax_column_count: true, skip_empty_lines: true }) as string[][];
  return records.map((r) => eventFromRecord(r, opts));
}
