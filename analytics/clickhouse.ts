/** ClickHouse access for the sink and the analytics commands: client, schema, inserts, queries. */
import type { ClickHouseClient } from '../stores/clickhouse/client.js';
import { TABLES } from './schema.js';
import { InputError } from '../lib/errors.js';
import { ensureAddedColumns } from './positions.js';

export { createClickHouse, type ClickHouseClient } from '../stores/clickhouse/client.js';

/** Creates the database, tables and rollup views if missing, and adds columns newer than a table (idempotent). */
export async function ensureAnalyticsSchema(ch: ClickHouseClient, db: string): Promise<void> {
  await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
  for (const t of TABLES) await ch.command({ query: t.ddl(db) });
  await ensureAddedColumns(ch, db);
}

/**
 * ClickHouse error codes that mean the rows themselves are bad (a value the column cannot hold,
 * text that does not parse): 6, 25–27, 38, 41 parse errors, 53 type mismatch, 69–70 out of
 * bounds and conversion, 72 number parse (a negative into an unsigned column), 117 incorrect data,
 * 321 value out of the type's range.
 */
const BAD_ROW_CODES = new Set([6, 25, 26, 27, 38, 41, 53, 69, 70, 72, 117, 321]);

/** The server's error code: a property on current servers, only in the message on 18.16. */
function clickHouseCode(err: unknown): number | null {
  const e = err as { code?: unknown; message?: unknown };
  const code = Number(e?.code ?? /^Code: (\d+)/.exec(String(e?.message ?? ''))?.[1]);
  return Number.isInteger(code) ? code : null;
}

/** Inserts rows; rows the server refuses as data (not as a schema or server problem) raise an InputError. */
export async function insertRows(ch: ClickHouseClient, db: string, table: string, rows: readonly object[]): Promise<void> {
  if (rows.length === 0) return;
  try {
    await ch.insert({ table: `${db}.${table}`, values: rows as object[], format: 'JSONEachRow' });
  } catch (err) {
    const code = clickHouseCode(err);
    if (code !== null && BAD_ROW_CODES.has(code)) {
      const first = String((err as Error).message)
        .split('\n')[0]!
        .slice(0, 300);
      throw new InputError(`ClickHouse refused a row of ${table}: ${first}`, { cause: err });
    }
    throw err;
  }
}

export async function queryRows<T = Record<string, unknown>>(
  ch: ClickHouseClient,
  query: string,
  params: Record<string, unknown> = {},
): Promise<T[]> {
  const rs = await ch.query({ query, format: 'JSONEachRow', query_params: params });
  return (await rs.json()) as T[];
}
