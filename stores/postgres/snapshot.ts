/**
 * The routing map as one snapshot for planning: the nodes, and each routed table's shards
 * with their size and row estimate as the holding node reports them (null when it does not
 * answer: a node that is down still appears, with its shards unsized).
 */
import type pg from 'pg';
import { reportedKey } from '../../schemas/keyBuckets.js';
import { physicalName } from './keys.js';
import { listNodes, loadRoutes, type NodeInfo } from './routing.js';

export interface ShardStats {
  shard: string;
  lo: string | null;
  hi: string | null;
  node: string;
  replicas: string[];
  bytes: number | null;
  rows: number | null;
}

export interface RoutingSnapshot {
  nodes: NodeInfo[];
  /** The given tables the routing map knows, in the order given. */
  tables: { table: string; keyColumn: string; shards: ShardStats[] }[];
}

/** Total size (bytes, indexes and TOAST included) and planner row estimate of a physical table. */
export async function relationStats(pool: pg.Pool, physical: string): Promise<{ bytes: number; rows: number } | null> {
  const { rows } = await pool
    .query<{ bytes: string; rows: string }>(
      'SELECT pg_total_relation_size($1::regclass)::bigint AS bytes, (SELECT reltuples FROM pg_class WHERE oid = $1::regclass)::bigint AS rows',
      [physical],
    )
    .catch(() => ({ rows: [] as { bytes: string; rows: string }[] }));
  return rows[0] ? { bytes: Number(rows[0].bytes ?? 0), rows: Number(rows[0].rows ?? 0) } : null;
}

export async function routingSnapshot(
  pools: ReadonlyMap<string, pg.Pool>,
  coord: pg.Pool,
  tables: readonly string[],
): Promise<RoutingSnapshot> {
  const nodes = await listNodes(coord);
  const out: RoutingSnapshot['tables'] = [];
  for (const table of tables) {
    const routes = await loadRoutes(coord, table);
    if (!routes) continue;
    const shards: ShardStats[] = [];
    for (const s of routes.shards) {
      const pool = pools.get(s.node);
      const stats = pool ? await relationStats(pool, physicalName(table, s.shard)) : null;
      shards.push({
        shard: s.shard,
        lo: s.lo,
        hi: s.hi,
        node: s.node,
        replicas: s.replicas,
        bytes: stats?.bytes ?? null,
        rows: stats?.rows ?? null,
      });
    }
    out.push({ table, keyColumn: reportedKey(routes.keyColumn, routes.keyHash), shards });
  }
  return { nodes, tables: out };
}
