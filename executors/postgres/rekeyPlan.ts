/**
 * What a rekey command asks of the store, checked and planned against the routing map and the
 * table's rows: the row identity rows are copied by, the new key's ranges (from each shard's
 * quantiles) and the new shards' names and nodes. Used by the PostgreSQL adapter (adapter.ts).
 */
import type pg from 'pg';
import { firstFreeShardName } from '../../schemas/shardNames.js';
import { isPlainIdentifier, quoteIdent } from '../../stores/identifiers.js';
import { physicalName } from '../../stores/postgres/keys.js';
import { q } from '../../stores/postgres/nodes.js';
import type { TableRoutes } from '../../stores/postgres/routing.js';
import { hashCuts } from '../../schemas/keyHash.js';
import { rangeBounds } from './checks.js';
import { describeTable } from './ddl.js';
import type { RekeyPlan, RekeyShard } from './migrationPlan.js';

/** Key-range buckets of a new key (ingest's series and the planner's split points), when the command names none. */
export const KEY_BUCKETS = 16;

/** A node's pool by its name. */
export type NodeDb = (node: string) => Promise<pg.Pool>;

export type RekeyPlanned = { op: 'rekey'; plan: RekeyPlan } | { reason: string };

/**
 * The column rows are copied and captured by: the table's primary key, one column (the key
 * column, unless a rekey made another column the key); else why rows cannot be moved.
 */
export async function rowIdentity(db: NodeDb, routes: TableRoutes): Promise<string | { reason: string }> {
  const first = routes.shards[0];
  if (!first) return { reason: `table ${routes.table} has no shards` };
  const desc = await describeTable(await db(first.node), physicalName(routes.table, first.shard));
  const col = /^PRIMARY KEY \(([a-z_][a-z0-9_]*)\)$/.exec(desc.primaryKey ?? '')?.[1];
  const type = desc.columns.find((c) => c.name === col)?.type;
  if (col && (type === 'bigint' || type === 'integer')) return col;
  return { reason: `${routes.table} has no one-column integer primary key (${desc.primaryKey ?? 'none'}) to move its rows by` };
}

/**
 * A rekey re-shards the whole table: every shard active and unclaimed (its replicas are dropped
 * with it after the switch; the new shards start without); the new key one integer column of
 * it, holding no null, not the current key (the same column is allowed when `keyHash` changes
 * whether it is hashed); a one-column integer primary key (rows keep it as their identity). The
 * new shards, as many as the old, split the new key's values into ranges of about equal row
 * counts, or its hash into ranges of equal width, and take the old shards' nodes in turn.
 */
export async function planRekey(
  db: NodeDb,
  commandId: string,
  routes: TableRoutes,
  keyColumns: string | undefined,
  partition: string | null,
  graceMs: number,
  batchRows: number,
  { keyBuckets = KEY_BUCKETS, keyHash = false }: { keyBuckets?: number; keyHash?: boolean } = {},
): Promise<RekeyPlanned> {
  const reject = (reason: string): RekeyPlanned => ({ reason });
  const table = routes.table;
  if (partition !== null) return reject(`rekey re-shards the whole table ${table}: partition must be null, not ${partition}`);
  const cols = (keyColumns ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  if (cols.length !== 1)
    return reject(`keyColumns ${JSON.stringify(keyColumns ?? null)}: the shard router ranges over one integer column, not ${cols.length}`);
  const col = cols[0]!;
  if (!isPlainIdentifier(col)) return reject(`key column ${JSON.stringify(col)} is not a plain identifier`);
  if (col === routes.keyColumn && keyHash === routes.keyHash)
    return reject(`${table} is already keyed on ${keyHash ? `the hash of ${col}` : col}`);
  for (const s of routes.shards) {
    if (s.owner !== null && s.owner !== commandId) return reject(`shard ${s.shard} is busy with command ${s.owner}`);
    if (s.state !== 'active') return reject(`shard ${s.shard} is ${s.state}`);
  }
  const rowKey = await rowIdentity(db, routes);
  if (typeof rowKey !== 'string') return reject(rowKey.reason);
  const first = routes.shards[0]!;
  const desc = await describeTable(await db(first.node), physicalName(table, first.shard));
  const column = desc.columns.find((c) => c.name === col);
  if (!column) return reject(`unknown column ${col} of ${table} (columns: ${desc.columns.map((c) => c.name).join(', ')})`);
  if (column.type !== 'bigint' && column.type !== 'integer')
    return reject(`key column ${col} is ${column.type}; the shard router needs bigint or integer`);
  // Range bounds of the new key from each shard's quantiles, weighted by its rows; a hash's
  // values are spread evenly, so its ranges are of equal width.
  const n = routes.shards.length;
  const quantiles: { values: string[]; rows: number }[] = [];
  for (const s of routes.shards) {
    const k = quoteIdent(col);
    const r = await q<{ n: string; nulls: string; qs: (string | null)[] | null }>(
      await db(s.node),
      `SELECT count(*) AS n, count(*) FILTER (WHERE ${k} IS NULL) AS nulls,
              percentile_disc(ARRAY(SELECT g / 32.0 FROM generate_series(1, 31) g)) WITHIN GROUP (ORDER BY ${k})::text[] AS qs
       FROM public.${quoteIdent(physicalName(table, s.shard))}`,
    );
    if (Number(r[0]!.nulls) > 0) return reject(`column ${col} is null in ${r[0]!.nulls} rows of shard ${s.shard}; a key may not be null`);
    quantiles.push({ values: (r[0]!.qs ?? []).filter((v): v is string => v !== null), rows: Number(r[0]!.n) });
  }
  const bounds = keyHash ? hashCuts(n).map(String) : rangeBounds(quantiles, n);
  // Finer than the shards, so a hot stretch of the new key can be found and split at a bound; a
  // hashed key's buckets are equal ranges of the hash, as its shards are (ingest hashes the key)
  const keyBounds = keyHash ? hashCuts(keyBuckets).map(String) : rangeBounds(quantiles, keyBuckets);
  const taken = new Set(routes.shards.map((s) => s.shard));
  const targets: RekeyShard[] = [];
  for (let i = 0; i <= bounds.length; i++) {
    const shard = firstFreeShardName(taken);
    taken.add(shard);
    targets.push({
      shard,
      node: routes.shards[i % n]!.node,
      physical: physicalName(table, shard),
      lo: i === 0 ? null : bounds[i - 1]!,
      hi: i === bounds.length ? null : bounds[i]!,
    });
  }
  const sources: RekeyShard[] = routes.shards.map((s) => ({
    shard: s.shard,
    node: s.node,
    physical: physicalName(table, s.shard),
    lo: s.lo,
    hi: s.hi,
    replicas: [...s.replicas],
  }));
  return {
    op: 'rekey',
    plan: {
      kind: 'rekey',
      commandId,
      table,
      keyColumn: routes.keyColumn,
      rowKey,
      newKeyColumn: col,
      ...(keyHash ? { keyHash: true } : {}),
      ...(keyBounds ? { keyBounds } : {}),
      sources,
      targets,
      graceMs,
      batchRows,
    },
  };
}
