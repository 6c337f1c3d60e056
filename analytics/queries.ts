/**
 * Canned analytics over the ClickHouse tables. Each query is plain SQL that runs on ClickHouse
 * 18.16 and current releases (no query parameters: 18.16 lacks them; the only value spliced in
 * are checked integers: the limit and a time range [since, until) in ms, so a report can be
 * scoped to one run). Tables are read with FINAL so redelivered rows count once.
 */
import { UsageError } from '../lib/errors.js';
export interface TimeRange {
  /** Rows from this time on (ms since the epoch); default: all. */
  since?: number;
  /** Rows before this time (ms since the epoch); default: no end. */
  until?: number;
}

export interface CannedQuery {
  name: string;
  description: string;
  sql: (db: string, limit: number, range?: TimeRange) => string;
}

const ms = (v: number | undefined, what: string) => {
  const n = Math.max(0, Math.floor(v ?? 0));
  if (!Number.isSafeInteger(n)) throw new UsageError(`${what}: not a time in ms: ${v}`);
  return n;
};

/** `col >= since AND col < until` on a column of epoch milliseconds. */
const within = (col: string, r: TimeRange = {}) =>
  `${col} >= ${ms(r.since, 'since')}${r.until !== undefined ? ` AND ${col} < ${ms(r.until, 'until')}` : ''}`;

/** The same on a DateTime column (seconds). */
const withinSeconds = (col: string, r: TimeRange = {}) =>
  `${col} >= toDateTime(${Math.floor(ms(r.since, 'since') / 1000)})${r.until !== undefined ? ` AND ${col} < toDateTime(${Math.ceil(ms(r.until, 'until') / 1000)})` : ''}`;

export const CANNED_QUERIES: CannedQuery[] = [
  {
    name: 'hot-ranges',
    description: 'hottest table key ranges by queries over the last windows seen, with their peak window',
    sql: (db, limit, range) => `SELECT source, table_name, key_bucket, sum(queries) AS total_queries, sum(reads) AS total_reads,
        sum(writes) AS total_writes, max(queries) AS peak_window_queries, count() AS windows
      FROM ${db}.aggregates FINAL
      WHERE ${within('window_start_ms', range)}
      GROUP BY source, table_name, key_bucket ORDER BY total_queries DESC LIMIT ${limit}`,
  },
  {
    name: 'hot-templates',
    description: "statement templates by time spent (executions × mean latency), from ingest's template profiles",
    sql: (db, limit, range) => `SELECT source, t_id AS template_id, any(t_text) AS template, any(t_tables) AS tables,
        sum(t_queries) AS total_queries, round(sum(t_latency) / greatest(sum(t_queries), 1), 3) AS mean_latency_ms,
        sum(t_rows) AS total_rows_read, round(sum(t_latency), 1) AS total_ms
      FROM ${db}.aggregates FINAL
      ARRAY JOIN template_ids AS t_id, template_texts AS t_text, template_tables AS t_tables,
        template_queries AS t_queries, template_latency_sum_ms AS t_latency, template_rows_read AS t_rows
      WHERE ${within('window_start_ms', range)}
      GROUP BY source, template_id ORDER BY total_ms DESC LIMIT ${limit}`,
  },
  {
    name: 'hot-partitions-over-time',
    description: 'queries per minute for the hottest key ranges',
    sql: (db, limit, range) => `SELECT toStartOfMinute(ts) AS minute, table_name, key_bucket, sum(queries) AS total_queries
      FROM ${db}.aggregates FINAL
      WHERE ${within('window_start_ms', range)} AND (table_name, key_bucket) IN (
        SELECT table_name, key_bucket FROM ${db}.aggregates FINAL WHERE ${within('window_start_ms', range)}
        GROUP BY table_name, key_bucket ORDER BY sum(queries) DESC LIMIT 5)
      GROUP BY minute, table_name, key_bucket ORDER BY minute, total_queries DESC LIMIT ${limit}`,
  },
  {
    name: 'forecast-error',
    description: 'forecast error by model and series: mean absolute error and interval coverage against observed aggregates',
    sql: (db, limit, range) => `SELECT f.model AS model, f.series_id AS series_id, count() AS points,
        avg(abs(f.predicted - a.queries)) AS mae,
        avg(if(a.queries >= f.lower AND a.queries <= f.upper, 1, 0)) AS coverage
      FROM (SELECT model, series_id, target_ms, predicted, lower, upper FROM ${db}.forecasts FINAL WHERE ${within('target_ms', range)}) AS f
      ANY INNER JOIN (SELECT series_id, window_start_ms AS target_ms, queries FROM ${db}.aggregates FINAL) AS a
      USING (series_id, target_ms)
      GROUP BY model, series_id ORDER BY points DESC, mae DESC LIMIT ${limit}`,
  },
  {
    name: 'decisions',
    description:
      'every decision with its evidence, predicted benefit and latest outcome (results of refused forgeries and replays left out)',
    sql: (
      db,
      limit,
      range,
    ) => `SELECT c.command_id AS command_id, c.issued_at_ms AS issued_at_ms, c.action AS action, c.table_name AS table_name,
        c.partition_id AS partition_id, c.current_load AS current_load, c.forecast_peak AS forecast_peak,
        c.forecast_lower AS forecast_lower, c.forecast_upper AS forecast_upper,
        c.expected_benefit AS expected_benefit, c.expected_cost AS expected_cost, c.explanation AS explanation,
        r.status AS status, r.reason AS reason, r.rows_copied AS rows_copied, r.verified AS verified
      FROM (SELECT * FROM ${db}.commands FINAL WHERE ${within('issued_at_ms', range)}) AS c
      ANY LEFT JOIN (
        SELECT command_id, argMax(status, ts_ms) AS status, argMax(reason, ts_ms) AS reason,
          max(rows_copied) AS rows_copied, argMax(verified, ts_ms) AS verified
        FROM ${db}.results FINAL WHERE NOT has(details_keys, 'refused') GROUP BY command_id) AS r
      USING (command_id)
      ORDER BY c.issued_at_ms DESC LIMIT ${limit}`,
  },
  {
    name: 'migrations',
    description: 'migration history: commands that moved data, with rows, bytes, duration and verification',
    sql: (db, limit, range) => `SELECT command_id, action, store, argMax(status, ts_ms) AS final_status,
        max(rows_copied) AS rows_copied, max(bytes_moved) AS bytes_moved, max(duration_ms) AS duration_ms,
        argMax(verified, ts_ms) AS verified, min(ts) AS started
      FROM ${db}.results FINAL
      WHERE ${within('ts_ms', range)} AND NOT has(details_keys, 'refused')
      GROUP BY command_id, action, store ORDER BY started DESC LIMIT ${limit}`,
  },
  {
    name: 'dlq-reasons',
    description: 'dead letters by source topic, stage and reason',
    sql: (db, limit, range) => `SELECT source_topic, stage, reason, count() AS letters, max(ts) AS last_seen_at
      FROM ${db}.dlq FINAL WHERE ${withinSeconds('ts', range)} GROUP BY source_topic, stage, reason ORDER BY letters DESC LIMIT ${limit}`,
  },
  {
    name: 'node-load',
    description: 'queries per node in 15-second buckets (the total series of each node, so each query counts once)',
    sql: (db, limit, range) => `SELECT node, intDiv(window_start_ms, 15000) * 15000 AS bucket_ms, sum(queries) AS total_queries,
        sum(reads) AS total_reads, sum(writes) AS total_writes
      FROM ${db}.aggregates FINAL
      WHERE node != '' AND table_name = '' AND ${within('window_start_ms', range)}
      GROUP BY node, bucket_ms ORDER BY bucket_ms, node LIMIT ${limit}`,
  },
];

export function cannedQuery(name: string): CannedQuery | undefined {
  return CANNED_QUERIES.find((q) => q.name === name);
}

/** One line per query, for `--help` and the bare `shardcast analytics`. */
export function describeQueries(): string {
  return CANNED_QUERIES.map((q) => `  ${q.name.padEnd(26)} ${q.description}`).join('\n');
}
