/**
 * The ClickHouse telemetry collector: reads what system.query_log gained since the last read
 * (collectors/chQueryLog.ts turns each row into a QueryEvent) and publishes the events to
 * shardcast.telemetry.queries under the source `clickhouse`, so ingest, forecast and decide see
 * the warehouse's workload as they see the shard nodes'. shardcast's own ClickHouse clients
 * (user agent `shardcast`) are skipped. The read position is kept in memory: a restarted
 * collector starts at the server's present time. A server that does not answer is retried.
 */
import type { Config } from '../lib/config.js';
import { UnavailableError } from '../lib/errors.js';
import { logger } from '../lib/log.js';
import { type QueryLogCursor, type QueryLogRow, advanceCursor, eventFromQueryLog } from '../collectors/chQueryLog.js';
import { SHARDCAST_CLICKHOUSE_APP, createClickHouse } from '../stores/clickhouse/client.js';
import { TelemetryPublisher } from '../topics/sdk.js';
import { initialHealth, pollWhileRunning, type StageHealth } from './failure.js';

export const CLICKHOUSE_SOURCE = 'clickhouse';

export interface ClickHouseCollectorOptions {
  source?: string;
  /** The node name on events (default: the server's host name from the URL). */
  node?: string;
  pollMs?: number;
  /** Most rows read per poll. */
  batchRows?: number;
  /** Ask the server to write its buffered query log before each read (tests; default false). */
  flushLogs?: boolean;
}

export interface RunningClickHouseCollector {
  stats: { published: number; skipped: Record<string, number> };
  health: StageHealth;
  done: Promise<void>;
  stop(): Promise<void>;
}

const rowsOf = async <T>(ch: ReturnType<typeof createClickHouse>, query: string): Promise<T[]> =>
  (await (await ch.query({ query, format: 'JSONEachRow' })).json()) as T[];

export async function startClickHouseCollector(cfg: Config, opts: ClickHouseCollectorOptions = {}): Promise<RunningClickHouseCollector> {
  const log = logger('collect-clickhouse');
  const source = opts.source ?? CLICKHOUSE_SOURCE;
  const node = opts.node ?? new URL(cfg.clickhouseUrl).hostname;
  const ch = createClickHouse(cfg);
  const publisher = await TelemetryPublisher.connect(cfg, { clientId: 'shardcast-collector-clickhouse' });
  const stats: RunningClickHouseCollector['stats'] = { published: 0, skipped: {} };
  const unavailable = (err: unknown) => new UnavailableError(`clickhouse query log: ${(err as Error).message}`, { cause: err });
  const [start] = await rowsOf<{ now_ms: string }>(ch, 'SELECT toUnixTimestamp(now()) * 1000 AS now_ms').catch((err) => {
    throw unavailable(err);
  });
  let cursor: QueryLogCursor = { tsMs: Number(start!.now_ms), seenAtTs: [] };
  const health = initialHealth();
  const stopped = new AbortController();
  const batchRows = opts.batchRows ?? 5_000;

  const once = async () => {
    let rows: QueryLogRow[];
    try {
      if (opts.flushLogs) await ch.command({ query: 'SYSTEM FLUSH LOGS' });
      const sinceSec = Math.floor(cursor.tsMs / 1000);
      // toUInt8(type): an Enum8 on current releases, a UInt8 on 18.16
      rows = await rowsOf<QueryLogRow>(
        ch,
        `SELECT query_id, toUnixTimestamp(event_time) * 1000 AS ts_ms, toUInt8(type) AS type, query_duration_ms, read_rows,
                written_rows, query, user, http_user_agent, is_initial_query
         FROM system.query_log
         WHERE event_date >= toDate(toDateTime(${sinceSec})) AND event_time >= toDateTime(${sinceSec}) AND toUInt8(type) IN (2, 3, 4)
         ORDER BY event_time, query_id
         LIMIT ${batchRows}`,
      );
    } catch (err) {
      throw unavailable(err);
    }
    const seen = new Set(cursor.seenAtTs);
    const fresh = rows.filter((r) => !(Number(r.ts_ms) === cursor.tsMs && seen.has(`${r.query_id}:${r.type}`)));
    for (const r of fresh) {
      const line = eventFromQueryLog(r, { source, node, database: cfg.clickhouseDatabase, ignoreClients: [SHARDCAST_CLICKHOUSE_APP] });
      if (line.event) {
        await publisher.publishQuery(line.event);
        stats.published++;
      } else stats.skipped[line.skipped] = (stats.skipped[line.skipped] ?? 0) + 1;
    }
    // the position moves only after the events before it were acknowledged
    await publisher.flush();
    cursor = advanceCursor(cursor, fresh);
  };
  const done = pollWhileRunning(once, {
    step: 'collect-clickhouse',
    health,
    signal: stopped.signal,
    intervalMs: opts.pollMs ?? 1_000,
    log,
    retrying: 'reading the ClickHouse query log failed; retrying',
    failed: 'clickhouse collector failed',
  });
  return {
    stats,
    health,
    done,
    async stop() {
      stopped.abort();
      await done.catch(() => undefined);
      await publisher.close();
      await ch.close();
    },
  };
}
