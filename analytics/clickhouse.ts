/** ClickHouse access for the sink and the analytics commands: client, schema, inserts, queries. */
import type { ClickHouseClient } from '../stores/clickhouse/client.js';
import { TABLES } from './schema.js';
import { ensurePositionColumns } from './positions.js';

export { createClickHouse, type ClickHouseClient } from '../stores/clickhouse/client.js';

/** Creates the database, tables and rollup views if missing, and adds columns newer than a table (idempotent). */
export async function ensureAnalyticsSchema(ch: ClickHouseClient, db: string): Promise<void> {
  await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
  for (const t of TABLES) await ch.command({ query: t.ddl(db) });
  await ensurePositionColumns(ch, db);
}

export async function insertRows(ch: ClickHouseClient, db: string, table: string, rows: readonly object[]): Promise<void> {
  if (rows.length === 0) return;
  await ch.insert({ table: `${db}.${table}`, values: rows as object[], format: 'JSONEachRow' });
}

export async function queryRows<T = Record<string, unknown>>(
  ch: ClickHouseClient,
  query: string,
  params: Record<string, unknown> = {},
): Promise<T[]> {
  const rs = await ch.query({ query, format: 'JSONEachRow', query_params: params });
  return (await rs.json()) as T[];
}
