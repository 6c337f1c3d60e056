/** `shardcast analytics <query-name> [--json]`: runs a canned ClickHouse query. */
import { createClickHouse, queryRows } from '../../analytics/clickhouse.js';
import { CANNED_QUERIES, cannedQuery, describeQueries } from '../../analytics/queries.js';
import { loadConfig } from '../../lib/config.js';
import { UsageError } from '../../lib/errors.js';
import { printTable } from '../../lib/table.js';

export async function analyticsCommand(
  name: string | undefined,
  opts: { json?: boolean; limit: number; since?: number; until?: number },
): Promise<void> {
  if (!name) {
    process.stdout.write(`queries:\n${describeQueries()}\n`);
    return;
  }
  const q = cannedQuery(name);
  if (!q) throw new UsageError(`unknown analytics query ${JSON.stringify(name)}; one of: ${CANNED_QUERIES.map((c) => c.name).join(', ')}`);
  if (opts.since !== undefined && opts.until !== undefined && opts.until <= opts.since)
    throw new UsageError('--until must be after --since');
  const cfg = loadConfig();
  const ch = createClickHouse(cfg);
  try {
    const sql = q.sql(cfg.clickhouseDatabase, opts.limit, { since: opts.since, until: opts.until });
    const rows = await queryRows(ch, sql);
    if (opts.json) process.stdout.write(`${JSON.stringify({ query: name, sql, rows }, null, 2)}\n`);
    else printTable(rows);
  } finally {
    await ch.close();
  }
}
