/** The canned ClickHouse analytics (analytics/queries.ts), with their parameters checked. */
import { type ClickHouseClient, queryRows } from '../../analytics/clickhouse.js';
import { CANNED_QUERIES, cannedQuery } from '../../analytics/queries.js';
import { NotFoundError, ParameterError } from './errors.js';

export const MAX_ANALYTICS_LIMIT = 10_000;

export interface AnalyticsParams {
  limit?: number;
  since?: number;
  until?: number;
}

export interface AnalyticsAnswer {
  query: string;
  sql: string;
  rows: Record<string, unknown>[];
}

/** The SQL of a canned query for these parameters; refuses unknown names and out-of-range values (pure). */
export function analyticsSql(db: string, name: string, p: AnalyticsParams): string {
  const q = cannedQuery(name);
  if (!q)
    throw new NotFoundError(`unknown analytics query ${JSON.stringify(name)}; one of: ${CANNED_QUERIES.map((c) => c.name).join(', ')}`);
  const limit = p.limit ?? 20;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_ANALYTICS_LIMIT)
    throw new ParameterError('limit', `must be an integer from 1 to ${MAX_ANALYTICS_LIMIT}`);
  for (const [k, v] of [
    ['since', p.since],
    ['until', p.until],
  ] as const)
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) throw new ParameterError(k, 'must be epoch milliseconds');
  if (p.since !== undefined && p.until !== undefined && p.until <= p.since) throw new ParameterError('until', 'must be after since');
  return q.sql(db, limit, { since: p.since, until: p.until });
}

export class AnalyticsService {
  constructor(
    private readonly ch: ClickHouseClient,
    private readonly db: string,
    /** Makes the tables on first use, so a query before any sink ran answers with no rows. */
    private readonly ensureSchema: () => Promise<void>,
  ) {}

  queries(): { name: string; description: string }[] {
    return CANNED_QUERIES.map((q) => ({ name: q.name, description: q.description }));
  }

  async run(name: string, p: AnalyticsParams = {}): Promise<AnalyticsAnswer> {
    const sql = analyticsSql(this.db, name, p);
    await this.ensureSchema();
    return { query: name, sql, rows: await queryRows(this.ch, sql) };
  }
}
