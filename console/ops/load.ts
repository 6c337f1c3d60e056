/**
 * Load over time for operators, from the ClickHouse analytics tables: the key space of a table
 * (reads and writes per key range and window, in the manner of a key visualizer) continued by
 * the latest forecast of each range with its interval, the decisions that acted on it; and the
 * load of each node against its capacity with its forecast band. SQL is plain (ClickHouse 18.16
 * has no query parameters): the only values spliced in are checked integers and tokens.
 */
import { type ClickHouseClient, queryRows } from '../../analytics/clickhouse.js';
import { PG_STORE } from '../../processors/decide/postgres/state.js';
import { quoteToken } from '../../stores/identifiers.js';
import { ParameterError } from './errors.js';

export const MAX_LOAD_SPAN_MS = 7 * 24 * 3_600_000;
const DEFAULT_SPAN_MS = 30 * 60_000;
const NAME = /^[A-Za-z0-9_.-]{1,128}$/;

export interface LoadRange {
  since?: number;
  until?: number;
}

export interface Span {
  since: number;
  until: number;
}

/** The time span asked for: default the last 30 minutes up to `now`; checked (pure). */
export function loadSpan(r: LoadRange, now: number): Span {
  const until = r.until ?? now;
  const since = r.since ?? until - DEFAULT_SPAN_MS;
  if (!Number.isSafeInteger(since) || since < 0) throw new ParameterError('since', 'must be epoch milliseconds');
  if (!Number.isSafeInteger(until) || until < 0) throw new ParameterError('until', 'must be epoch milliseconds');
  if (until <= since) throw new ParameterError('until', 'must be after since');
  if (until - since > MAX_LOAD_SPAN_MS) throw new ParameterError('since', `the span may be at most ${MAX_LOAD_SPAN_MS / 3_600_000} hours`);
  return { since, until };
}

function checkName(parameter: string, v: string): string {
  if (!NAME.test(v)) throw new ParameterError(parameter, `${JSON.stringify(v)} is not a name`);
  return v;
}

/** Key buckets in key order: k2 before k10. */
export const byKeyOrder = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

/** The key bucket of a series id `source|table|bucket|partition|node` (null when it has none). */
export function bucketOfSeries(seriesId: string): string | null {
  const b = seriesId.split('|')[2];
  return b && b !== '*' ? b : null;
}

export interface KeyspaceCell {
  t: number;
  bucket: string;
  reads: number;
  writes: number;
}

export interface ForecastCell {
  t: number;
  bucket: string;
  predicted: number;
  lower: number;
  upper: number;
}

export interface DecisionMark {
  commandId: string;
  action: string;
  t: number;
  bucket: string | null;
  partition: string;
  status: string | null;
  explanation: string;
}

export interface KeyspaceView {
  table: string;
  since: number;
  until: number;
  windowMs: number | null;
  buckets: string[];
  cells: KeyspaceCell[];
  forecast: ForecastCell[];
  decisions: DecisionMark[];
}

export interface NodeLoadView {
  source: string;
  since: number;
  until: number;
  nodes: string[];
  points: { t: number; node: string; queries: number; reads: number; writes: number }[];
  forecast: { t: number; node: string; predicted: number; lower: number; upper: number }[];
}

export interface ForecastsView {
  series: {
    seriesId: string;
    originTs: number;
    stepMs: number;
    model: string;
    metric: string;
    points: { horizon: number; ts: number; predicted: number; lower: number; upper: number }[];
  }[];
}

const n = (v: unknown) => Number(v ?? 0);

export class LoadService {
  constructor(
    private readonly ch: ClickHouseClient,
    private readonly db: string,
    private readonly ensureSchema: () => Promise<void>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Latest forecast points of the series the subquery names (rows: series_id, target_ms, predicted, lower, upper). */
  private latestForecasts(seriesSql: string) {
    return queryRows(
      this.ch,
      `SELECT series_id, target_ms, predicted, lower, upper FROM ${this.db}.forecasts FINAL
       WHERE (series_id, origin_ms) IN (
         SELECT series_id, max(origin_ms) FROM ${this.db}.forecasts WHERE series_id IN (${seriesSql}) GROUP BY series_id)
       ORDER BY target_ms`,
    );
  }

  async keyspace(table: string, range: LoadRange = {}): Promise<KeyspaceView> {
    const t = quoteToken(checkName('table', table));
    const { since, until } = loadSpan(range, this.now());
    await this.ensureSchema();
    const where = `table_name = ${t} AND key_bucket NOT IN ('', '*') AND window_start_ms >= ${since} AND window_start_ms < ${until}`;
    const cells = await queryRows(
      this.ch,
      `SELECT window_start_ms AS t, key_bucket AS bucket, sum(reads) AS reads, sum(writes) AS writes, any(window_end_ms - window_start_ms) AS w
       FROM ${this.db}.aggregates FINAL WHERE ${where} GROUP BY t, bucket ORDER BY t, bucket`,
    );
    const fc = await this.latestForecasts(`SELECT DISTINCT series_id FROM ${this.db}.aggregates WHERE ${where}`);
    const cmds = await queryRows(
      this.ch,
      `SELECT c.command_id AS command_id, c.action AS action, c.issued_at_ms AS t, c.partition_id AS partition_id,
         c.evidence_series AS evidence_series, c.explanation AS explanation, r.status AS status
       FROM (SELECT * FROM ${this.db}.commands FINAL WHERE table_name = ${t} AND issued_at_ms >= ${since} AND issued_at_ms < ${until}) AS c
       ANY LEFT JOIN (SELECT command_id, argMax(status, ts_ms) AS status FROM ${this.db}.results FINAL GROUP BY command_id) AS r
       USING (command_id) ORDER BY t`,
    );
    const forecast = new Map<string, ForecastCell>();
    for (const r of fc) {
      const bucket = bucketOfSeries(String(r.series_id));
      if (!bucket) continue;
      const key = `${r.target_ms}|${bucket}`;
      const c = forecast.get(key) ?? { t: n(r.target_ms), bucket, predicted: 0, lower: 0, upper: 0 };
      c.predicted += n(r.predicted);
      c.lower += Math.max(0, n(r.lower));
      c.upper += n(r.upper);
      forecast.set(key, c);
    }
    // a range whose latest forecast is older than the last window observed has no forecast ahead
    const lastObserved = Math.max(0, ...cells.map((c) => n(c.t)));
    for (const [k, f] of forecast) if (f.t <= lastObserved) forecast.delete(k);
    const buckets = new Set<string>([...cells.map((c) => String(c.bucket)), ...[...forecast.values()].map((f) => f.bucket)]);
    return {
      table,
      since,
      until,
      windowMs: cells.length > 0 ? n(cells[0]!.w) : null,
      buckets: [...buckets].sort(byKeyOrder),
      cells: cells.map((c) => ({ t: n(c.t), bucket: String(c.bucket), reads: n(c.reads), writes: n(c.writes) })),
      forecast: [...forecast.values()].sort((a, b) => a.t - b.t || byKeyOrder(a.bucket, b.bucket)),
      decisions: cmds.map((c) => ({
        commandId: String(c.command_id),
        action: String(c.action),
        t: n(c.t),
        bucket: bucketOfSeries(String(c.evidence_series ?? '')),
        partition: String(c.partition_id ?? ''),
        status: c.status ? String(c.status) : null,
        explanation: String(c.explanation ?? ''),
      })),
    };
  }

  /** The latest forecast of each series (of one table, when given): points with their intervals. */
  async forecasts(q: { table?: string; limit?: number } = {}): Promise<ForecastsView> {
    const limit = q.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ParameterError('limit', 'must be an integer from 1 to 1000');
    const filter = q.table === undefined ? '' : `WHERE table_name = ${quoteToken(checkName('table', q.table))}`;
    await this.ensureSchema();
    const rows = await queryRows(
      this.ch,
      `SELECT series_id, origin_ms, step_ms, model, metric, horizon, target_ms, predicted, lower, upper FROM ${this.db}.forecasts FINAL
       WHERE (series_id, origin_ms) IN (
         SELECT series_id, max(origin_ms) FROM ${this.db}.forecasts
         WHERE series_id IN (SELECT DISTINCT series_id FROM ${this.db}.aggregates ${filter}) GROUP BY series_id)
       ORDER BY series_id, horizon`,
    );
    const series = new Map<string, ForecastsView['series'][number]>();
    for (const r of rows) {
      const id = String(r.series_id);
      let s = series.get(id);
      if (!s) {
        if (series.size >= limit) continue;
        s = { seriesId: id, originTs: n(r.origin_ms), stepMs: n(r.step_ms), model: String(r.model), metric: String(r.metric), points: [] };
        series.set(id, s);
      }
      s.points.push({ horizon: n(r.horizon), ts: n(r.target_ms), predicted: n(r.predicted), lower: n(r.lower), upper: n(r.upper) });
    }
    return { series: [...series.values()] };
  }

  /** Queries per window of each node of a source (its total series), and the latest forecast of each. */
  async nodes(range: LoadRange & { source?: string } = {}): Promise<NodeLoadView> {
    const source = quoteToken(checkName('source', range.source ?? PG_STORE));
    const { since, until } = loadSpan(range, this.now());
    await this.ensureSchema();
    const where = `source = ${source} AND node != '' AND table_name = '' AND window_start_ms >= ${since} AND window_start_ms < ${until}`;
    const points = await queryRows(
      this.ch,
      `SELECT window_start_ms AS t, node, sum(queries) AS queries, sum(reads) AS reads, sum(writes) AS writes
       FROM ${this.db}.aggregates FINAL WHERE ${where} GROUP BY t, node ORDER BY t, node`,
    );
    const fc = await this.latestForecasts(`SELECT DISTINCT series_id FROM ${this.db}.aggregates WHERE ${where}`);
    const nodeOf = (s: string) => s.split('|')[4] ?? '';
    const nodes = new Set([...points.map((p) => String(p.node)), ...fc.map((f) => nodeOf(String(f.series_id)))].filter(Boolean));
    return {
      source: range.source ?? PG_STORE,
      since,
      until,
      nodes: [...nodes].sort(byKeyOrder),
      points: points.map((p) => ({ t: n(p.t), node: String(p.node), queries: n(p.queries), reads: n(p.reads), writes: n(p.writes) })),
      // only forecasts ahead of the node's last window observed
      forecast: fc
        .map((f) => ({
          t: n(f.target_ms),
          node: nodeOf(String(f.series_id)),
          predicted: n(f.predicted),
          lower: Math.max(0, n(f.lower)),
          upper: n(f.upper),
        }))
        .filter((f) => f.t > Math.max(0, ...points.filter((p) => p.node === f.node).map((p) => n(p.t)))),
    };
  }
}
