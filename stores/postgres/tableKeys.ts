/**
 * The keys the routing map records for tables (`shardcast_route.tables`): the key column, the
 * bucket bounds a rekey set with it (null otherwise) and whether they cut the key's hash.
 * schemas/keyBuckets.ts `currentKeys` lays them over the configured keys.
 */
import type { RecordedKey } from '../../schemas/keyBuckets.js';
import { q, type Queryable } from './nodes.js';

const UNDEFINED_TABLE = '42P01';
const UNDEFINED_COLUMN = '42703';

export async function loadTableKeys(coord: Queryable, tables: readonly string[]): Promise<RecordedKey[]> {
  if (tables.length === 0) return [];
  const rows = await q<{ table_name: string; key_column: string; key_bounds: string[] | null; key_hash: boolean }>(
    coord,
    `SELECT table_name, key_column, key_bounds::text[] AS key_bounds, key_hash FROM shardcast_route.tables WHERE table_name = ANY($1) ORDER BY table_name`,
    [tables],
  ).catch((err: unknown) => {
    // no routing map yet (no table distributed), or one made before key_bounds and key_hash: nothing re-keyed
    if ((err as { code?: string }).code === UNDEFINED_TABLE || (err as { code?: string }).code === UNDEFINED_COLUMN) return [];
    throw err;
  });
  return rows.map((r) => ({
    table: r.table_name,
    column: r.key_column,
    bounds: r.key_bounds === null ? null : r.key_bounds.map(Number),
    hashed: r.key_hash === true,
  }));
}
