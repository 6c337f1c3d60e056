/**
 * ClickHouse's query log (system.query_log) as QueryEvents: one event per finished or failed
 * query, with its duration and rows, so the queries of any ClickHouse client become telemetry
 * without changing the client. Pure: the rows are read by pipelines/collectClickHouse.ts.
 * Queries of the log itself, of system tables and of shardcast's own clients are skipped.
 */
import { queryEvent } from '../schemas/queryEvent.js';
import type { QueryEvent } from '../schemas/types.js';
import { operationOf } from './pglog.js';

/** The columns read (names as in system.query_log; ClickHouse 18.16 and later have them all). */
export interface QueryLogRow {
  query_id: string;
  /** event_time as epoch milliseconds (toUnixTimestamp(event_time) * 1000). */
  ts_ms: string | number;
  /** 2 QueryFinish, 3 ExceptionBeforeStart, 4 ExceptionWhileProcessing (1 QueryStart is not read). */
  type: string | number;
  query_duration_ms: string | number;
  read_rows: string | number;
  written_rows: string | number;
  query: string;
  user: string;
  http_user_agent: string;
  is_initial_query: string | number;
}

export interface ChCollectorOptions {
  source: string;
  /** The node name events carry (the server the log was read from). */
  node: string;
  /** The database queries without a qualified table name ran in. */
  database: string | null;
  /** Clients (HTTP user agent prefixes, users) whose queries are not telemetry: shardcast's own. */
  ignoreClients?: readonly string[];
}

export type ChLogLine = { event: QueryEvent; skipped?: undefined } | { event: null; skipped: string };

const FINISHED = new Set(['2', '3', '4']);
const SYSTEM = /\bsystem\.[a-z_]+/i;

export function eventFromQueryLog(row: QueryLogRow, opts: ChCollectorOptions): ChLogLine {
  const type = String(row.type);
  if (!FINISHED.has(type)) return { event: null, skipped: 'not a finished query' };
  if (Number(row.is_initial_query) !== 1) return { event: null, skipped: 'a distributed sub-query' };
  const sql = row.query.trim();
  if (!sql) return { event: null, skipped: 'empty query' };
  const operation = operationOf(sql);
  // reads of the server's own tables (monitoring, this collector) are not workload; an insert from them is
  if (operation !== 'insert' && SYSTEM.test(sql)) return { event: null, skipped: 'a query of system tables' };
  const client = row.http_user_agent || row.user || null;
  if (opts.ignoreClients?.some((c) => client?.startsWith(c) || row.user === c)) return { event: null, skipped: 'an ignored client' };
  const ts = Number(row.ts_ms);
  return {
    event: queryEvent({
      eventId: `${opts.source}:${row.query_id}:${type}`,
      ts: Number.isFinite(ts) ? ts : 0,
      source: opts.source,
      dialect: 'clickhouse',
      database: opts.database,
      sql,
      operation,
      durationMs: Number(row.query_duration_ms) || 0,
      rowsRead: Number(row.read_rows) || 0,
      rowsWritten: Number(row.written_rows) || 0,
      node: opts.node,
      client,
      status: type === '2' ? 'ok' : 'error',
    }),
  };
}

/**
 * Where the next read starts: the newest event time read, and the query ids read at that time
 * (the log's time has whole seconds, so the next read starts at that second again and skips
 * those ids).
 */
export interface QueryLogCursor {
  tsMs: number;
  seenAtTs: string[];
}

/** The cursor after `rows` (ordered by time) were read from `cursor`. */
export function advanceCursor(cursor: QueryLogCursor, rows: readonly Pick<QueryLogRow, 'ts_ms' | 'query_id' | 'type'>[]): QueryLogCursor {
  let { tsMs, seenAtTs } = cursor;
  for (const r of rows) {
    const t = Number(r.ts_ms);
    const key = `${r.query_id}:${r.type}`;
    if (t > tsMs) {
      tsMs = t;
      seenAtTs = [key];
    } else if (t === tsMs && !seenAtTs.includes(key)) seenAtTs = [...seenAtTs, key];
  }
  return { tsMs, seenAtTs };
}
