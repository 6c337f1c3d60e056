/** ClickHouse access for the sink and the analytics commands: client, schema, inserts, queries. */
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import type { Config } from '../lib/config.js';
import { TABLES } from './schema.js';

export type { ClickHouseClient };

export function createClickHouse(cfg: Pick<Config, 'clickhouseUrl' | 'clickhouseUser' | 'clickhousePassword'>): ClickHouseClient {
  return createClient({
    url: cfg.clickhouseUrl,
    username: cfg.clickhouseUser,
    password: cfg.clickhousePassword,
    request_timeout: 60_000,
    compression: { request: false, response: false },
  });
}

/** Creates the database, tables and rollup views if missing (idempotent). */
export async function ensureAnalyticsSchema(ch: ClickHouseClient, db: string): Promise<void> {
  await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
  for (const t of TABLES) await ch.command({ query: t.ddl(db) });
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
