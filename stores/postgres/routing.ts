/**
 * The routing map on node 0 (the coordinator), which is authoritative: a logical table (e.g.
 * `orders`) is split into key ranges [lo, hi) on a bigint key column, each range a shard on one
 * node, with its replicas. Reading it, and changing it: every routing change is one transaction
 * that bumps the table's version (`switchRouting`).
 */
import { StateError } from '../../lib/errors.js';
import type pg from 'pg';
import { type KeyLike, keyText } from './keys.js';
import { inTx, q, type Queryable } from './nodes.js';

export interface ShardRoute {
  shard: string;
  lo: string | null;
  hi: string | null;
  node: string;
  version: number;
  state: string;
  owner: string | null;
  replicas: string[];
}

export interface TableRoutes {
  table: string;
  keyColumn: string;
  /** Ranges cut hashint8(key), not the key (schemas/keyHash.ts). */
  keyHash: boolean;
  version: number;
  shards: ShardRoute[];
}

export interface NodeInfo {
  node: string;
  url: string;
  state: string;
  managedDir: string | null;
  port: number | null;
}

export async function listNodes(coord: Queryable): Promise<NodeInfo[]> {
  const rows = await q<{ node: string; url: string; state: string; managed_dir: string | null; port: number | null }>(
    coord,
    `SELECT node, url, state, managed_dir, port FROM shardcast_route.nodes ORDER BY length(node), node`,
  );
  return rows.map((r) => ({ node: r.node, url: r.url, state: r.state, managedDir: r.managed_dir, port: r.port }));
}

/**
 * A table's routing map, read in one statement: its key column, version and ranges come from one
 * snapshot, so a reader never pairs the key column before a rekey with the ranges after it (a
 * write routed that way lands on an active shard that does not hold the row and matches nothing).
 */
export async function loadRoutes(coord: Queryable, table: string): Promise<TableRoutes | null> {
  const rows = await q<{
    key_column: string;
    key_hash: boolean;
    table_version: string;
    shard: string | null;
    lo: string | null;
    hi: string | null;
    node: string;
    version: string;
    state: string;
    owner: string | null;
    replicas: string[];
  }>(
    coord,
    `SELECT t.key_column, t.key_hash, t.version AS table_version, r.shard, r.lo::text, r.hi::text, r.node, r.version, r.state, r.owner,
            coalesce((SELECT array_agg(x.node ORDER BY x.node) FROM shardcast_route.replicas x
                      WHERE x.table_name = r.table_name AND x.shard = r.shard AND x.state = 'active'), '{}') AS replicas
     FROM shardcast_route.tables t LEFT JOIN shardcast_route.ranges r ON r.table_name = t.table_name
     WHERE t.table_name = $1 ORDER BY r.lo NULLS FIRST`,
    [table],
  );
  const head = rows[0];
  if (!head) return null;
  return {
    table,
    keyColumn: head.key_column,
    keyHash: head.key_hash,
    version: Number(head.table_version),
    shards: rows
      .filter((r) => r.shard !== null)
      .map((r) => ({
        shard: r.shard!,
        lo: r.lo,
        hi: r.hi,
        node: r.node,
        version: Number(r.version),
        state: r.state,
        owner: r.owner,
        replicas: r.replicas,
      })),
  };
}

/** The shard and node that hold `key` of `table` (via `shardcast_route.lookup`), or null. */
export async function lookupRoute(
  coord: Queryable,
  table: string,
  key: KeyLike,
): Promise<{ shard: string; node: string; version: number; replicas: string[] } | null> {
  const rows = await q<{ shard: string; node: string; version: string; replicas: string[] }>(
    coord,
    'SELECT shard, node, version, replicas FROM shardcast_route.lookup($1, $2::bigint)',
    [table, keyText(key)],
  );
  const r = rows[0];
  return r ? { shard: r.shard, node: r.node, version: Number(r.version), replicas: r.replicas } : null;
}

/**
 * Changes the routing of `table` atomically: one transaction on the coordinator that checks the
 * table's version is still `expectedVersion` (null: any), runs `mutate`, and bumps the version
 * (stamped on every range row it touched). Returns the new version. Commit the returned
 * transaction yourself with `commit: false` to order it against other commits.
 */
export async function switchRouting(
  coord: pg.Pool,
  table: string,
  expectedVersion: number | null,
  mutate: (c: pg.PoolClient, newVersion: number) => Promise<void>,
): Promise<number> {
  return inTx(coord, (c) => switchRoutingIn(c, table, expectedVersion, mutate));
}

/** The body of `switchRouting` inside a transaction the caller holds open. */
export async function switchRoutingIn(
  c: pg.PoolClient,
  table: string,
  expectedVersion: number | null,
  mutate: (c: pg.PoolClient, newVersion: number) => Promise<void>,
): Promise<number> {
  const rows = await q<{ version: string }>(c, 'SELECT version FROM shardcast_route.tables WHERE table_name = $1 FOR UPDATE', [table]);
  if (!rows[0]) throw new StateError(`routing: unknown table ${table}`);
  const current = Number(rows[0].version);
  if (expectedVersion !== null && current !== expectedVersion) {
    throw new StateError(`routing: ${table} changed concurrently (version ${current}, expected ${expectedVersion})`);
  }
  const next = current + 1;
  await mutate(c, next);
  await c.query('UPDATE shardcast_route.tables SET version = $2 WHERE table_name = $1', [table, next]);
  return next;
}
