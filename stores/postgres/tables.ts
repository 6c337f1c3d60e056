/**
 * Creating and dropping a sharded table: the routing entries on the coordinator and one
 * physical table per range on its node, each registered with the node's shard guard. The
 * columns are the caller's (the demo's `orders` columns live in demo/ordersTable.ts).
 */
import { InputError, StateError } from '../../lib/errors.js';
import type pg from 'pg';
import { isPlainIdentifier, quoteIdent } from '../identifiers.js';
import { type KeyLike, keyText, physicalName } from './keys.js';
import { inTx, PgPools, q } from './nodes.js';
import { listNodes, loadRoutes, type TableRoutes } from './routing.js';
import { ensureNodeSupport, ensureRoutingSchema, registerLocalShard } from './setup.js';

export interface ColumnSpec {
  name: string;
  /** One of COLUMN_TYPES. */
  type: string;
}

export interface RangeSpec {
  shard: string;
  /** Inclusive lower bound; null = unbounded. */
  lo: KeyLike;
  /** Exclusive upper bound; null = unbounded. */
  hi: KeyLike;
  node: string;
}

export const COLUMN_TYPES = ['bigint', 'integer', 'numeric', 'text', 'timestamptz', 'boolean', 'double precision', 'date', 'jsonb'];

export interface CreateOptions {
  keyColumn?: string;
  columns: ColumnSpec[];
  /** Drop an existing table of that name (routing and physical shards) first. */
  replace?: boolean;
}

/** Checks a range layout: plain names, known nodes, int64 bounds, sorted and non-overlapping. */
export function checkLayout(table: string, ranges: RangeSpec[], nodes: readonly string[]): string | null {
  if (!isPlainIdentifier(table)) return `table ${JSON.stringify(table)} is not a plain identifier`;
  if (ranges.length === 0) return 'at least one range is needed';
  const seen = new Set<string>();
  let prevHi: bigint | null | undefined;
  const sorted = [...ranges].sort((a, b) => cmpLo(a.lo, b.lo));
  for (const r of sorted) {
    if (!isPlainIdentifier(r.shard)) return `shard ${JSON.stringify(r.shard)} is not a plain identifier`;
    if (seen.has(r.shard)) return `shard ${r.shard} appears twice`;
    seen.add(r.shard);
    try {
      physicalName(table, r.shard);
    } catch (e) {
      return (e as Error).message;
    }
    if (!nodes.includes(r.node)) return `unknown node ${JSON.stringify(r.node)}`;
    let lo: string | null, hi: string | null;
    try {
      lo = keyText(r.lo);
      hi = keyText(r.hi);
    } catch (e) {
      return (e as Error).message;
    }
    if (lo !== null && hi !== null && BigInt(lo) >= BigInt(hi)) return `shard ${r.shard}: empty range [${lo}, ${hi})`;
    if (prevHi !== undefined && (prevHi === null || lo === null || BigInt(lo) < prevHi))
      return `shard ${r.shard} overlaps the previous range`;
    prevHi = hi === null ? null : BigInt(hi);
  }
  return null;
}

function cmpLo(a: KeyLike, b: KeyLike): number {
  if (a === null) return b === null ? 0 : -1;
  if (b === null) return 1;
  const x = BigInt(keyText(a)!),
    y = BigInt(keyText(b)!);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Creates the logical table `table` as key-range shards: the routing map on node 0, and one
 * physical table `<table>__<shard>` per range on its node, each with the shard guard.
 */
export async function createShardedTable(
  cfg: { pgNodes: string[] },
  table: string,
  ranges: RangeSpec[],
  opts: CreateOptions,
): Promise<TableRoutes> {
  const keyColumn = opts.keyColumn ?? 'id';
  const columns = opts.columns;
  if (!isPlainIdentifier(keyColumn)) throw new InputError(`key column ${JSON.stringify(keyColumn)} is not a plain identifier`);
  for (const c of columns) {
    if (!isPlainIdentifier(c.name)) throw new InputError(`column ${JSON.stringify(c.name)} is not a plain identifier`);
    if (!COLUMN_TYPES.includes(c.type))
      throw new InputError(`column ${c.name}: type ${JSON.stringify(c.type)} is not one of ${COLUMN_TYPES.join(', ')}`);
  }
  const key = columns.find((c) => c.name === keyColumn);
  if (!key || (key.type !== 'bigint' && key.type !== 'integer'))
    throw new InputError(`key column ${keyColumn} must be a bigint or integer column`);

  const pools = new PgPools({ executor: true, max: 2 });
  try {
    const coord = pools.get(cfg.pgNodes[0]!);
    await ensureRoutingSchema(coord, cfg.pgNodes);
    const nodes = await listNodes(coord);
    const reason = checkLayout(
      table,
      ranges,
      nodes.filter((n) => n.state === 'active').map((n) => n.node),
    );
    if (reason) throw new InputError(`createShardedTable: ${reason}`);
    const existing = await loadRoutes(coord, table);
    if (existing) {
      if (!opts.replace) throw new StateError(`createShardedTable: ${table} exists already`);
      await dropShardedTableWith(pools, coord, table);
    }
    const urlOf = new Map(nodes.map((n) => [n.node, n.url]));
    const colsSql = columns.map((c) => `${quoteIdent(c.name)} ${c.type}${c.name === keyColumn ? ' NOT NULL' : ''}`).join(', ');
    for (const r of ranges) {
      const pool = pools.get(urlOf.get(r.node)!);
      await ensureNodeSupport(pool);
      const phys = physicalName(table, r.shard);
      await inTx(pool, async (c) => {
        await c.query(`DROP TABLE IF EXISTS public.${quoteIdent(phys)} CASCADE`);
        await c.query(`CREATE TABLE public.${quoteIdent(phys)} (${colsSql}, PRIMARY KEY (${quoteIdent(keyColumn)}))`);
        await registerLocalShard(c, {
          physical: phys,
          table,
          shard: r.shard,
          keyColumn,
          lo: keyText(r.lo),
          hi: keyText(r.hi),
          state: 'active',
        });
      });
    }
    await inTx(coord, async (c) => {
      await c.query('INSERT INTO shardcast_route.tables (table_name, key_column) VALUES ($1, $2)', [table, keyColumn]);
      for (const r of ranges) {
        await c.query(
          `INSERT INTO shardcast_route.ranges (table_name, shard, lo, hi, node, version, state) VALUES ($1, $2, $3, $4, $5, 1, 'active')`,
          [table, r.shard, keyText(r.lo), keyText(r.hi), r.node],
        );
      }
    });
    return (await loadRoutes(coord, table))!;
  } finally {
    await pools.end();
  }
}

/** Drops a sharded table: replicas' subscriptions, physical shards and the routing entries. */
export async function dropShardedTable(cfg: { pgNodes: string[] }, table: string): Promise<void> {
  if (!isPlainIdentifier(table)) throw new InputError(`table ${JSON.stringify(table)} is not a plain identifier`);
  const pools = new PgPools({ executor: true, max: 2 });
  try {
    const coord = pools.get(cfg.pgNodes[0]!);
    await ensureRoutingSchema(coord, cfg.pgNodes);
    await dropShardedTableWith(pools, coord, table);
  } finally {
    await pools.end();
  }
}

async function dropShardedTableWith(pools: PgPools, coord: pg.Pool, table: string): Promise<void> {
  const nodes = await listNodes(coord);
  for (const n of nodes.filter((x) => x.state === 'active')) {
    const pool = pools.get(n.url);
    try {
      await ensureNodeSupport(pool);
    } catch {
      continue; // node unreachable: nothing to clean there
    }
    const subs = await q<{ subname: string }>(pool, `SELECT subname FROM pg_subscription WHERE subname LIKE $1`, [`sc_sub_${table}__%`]);
    for (const s of subs) await q(pool, `DROP SUBSCRIPTION IF EXISTS ${quoteIdent(s.subname)}`);
    const pubs = await q<{ pubname: string }>(pool, `SELECT pubname FROM pg_publication WHERE pubname LIKE $1`, [`sc_pub_${table}__%`]);
    for (const p of pubs) await q(pool, `DROP PUBLICATION IF EXISTS ${quoteIdent(p.pubname)}`);
    const local = await q<{ physical: string }>(pool, 'SELECT physical FROM shardcast_local.shards WHERE table_name = $1', [table]);
    for (const l of local) {
      await q(pool, `DROP TABLE IF EXISTS public.${quoteIdent(l.physical)} CASCADE`);
      await q(pool, 'DELETE FROM shardcast_local.changes WHERE physical = $1', [l.physical]);
    }
    await q(pool, 'DELETE FROM shardcast_local.shards WHERE table_name = $1', [table]);
  }
  await q(coord, 'DELETE FROM shardcast_route.tables WHERE table_name = $1', [table]);
}
