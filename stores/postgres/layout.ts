/**
 * The sharded table model on the PostgreSQL shard nodes.
 *
 * A logical table (e.g. `orders`) is split into key ranges [lo, hi) on a bigint key column;
 * each range is a shard, a physical table `<table>__<shard>` on one node. The routing map on
 * node 0 (the coordinator) is authoritative:
 *
 *   shardcast_route.nodes    (node, url, state, managed_dir, port)
 *   shardcast_route.tables   (table_name, key_column, version)
 *   shardcast_route.ranges   (table_name, shard, lo, hi, node, version, state, owner)
 *   shardcast_route.replicas (table_name, shard, node, state)
 *   shardcast_route.designs  (table_name, kind, name, spec)   -- precomputations to re-create
 *
 * `shardcast_route.lookup(table, key)` answers which shard and node hold a key. Every routing
 * change is one transaction that bumps the table's version (`switchRouting`).
 *
 * Each node also keeps its own view of the shards it holds (`shardcast_local.shards`) and a
 * guard trigger on every shard table that rejects client writes outside the shard's current
 * range or to a shard that moved away (SQLSTATE SCR01: "refresh your routing and retry").
 * That guard is what makes a routing switch safe for writers that still hold an old route.
 */
import type pg from 'pg';
import { isPlainIdentifier, quoteIdent } from '../identifiers.js';
import { configNodes, COORDINATOR, inTx, PgPools, q, sleep, type Queryable } from './nodes.js';

/** SQLSTATE raised by the guard when a write reached a shard that no longer owns the key. */
export const ROUTE_CHANGED = 'SCR01';

export interface ColumnSpec {
  name: string;
  /** One of COLUMN_TYPES. */
  type: string;
}

export type KeyLike = string | number | bigint | null;

export interface RangeSpec {
  shard: string;
  /** Inclusive lower bound; null = unbounded. */
  lo: KeyLike;
  /** Exclusive upper bound; null = unbounded. */
  hi: KeyLike;
  node: string;
}

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

export const COLUMN_TYPES = ['bigint', 'integer', 'numeric', 'text', 'timestamptz', 'boolean', 'double precision', 'date', 'jsonb'];

export const ORDERS_COLUMNS: ColumnSpec[] = [
  { name: 'id', type: 'bigint' },
  { name: 'customer_id', type: 'bigint' },
  { name: 'amount', type: 'numeric' },
  { name: 'payload', type: 'text' },
  { name: 'updated_at', type: 'timestamptz' },
];

/** `<table>__<shard>`, checked to be a plain identifier (≤ 63 characters). */
export function physicalName(table: string, shard: string): string {
  const name = `${table}__${shard}`;
  if (!isPlainIdentifier(table) || !isPlainIdentifier(shard) || !isPlainIdentifier(name)) {
    throw new Error(`not a valid shard name: ${JSON.stringify(name)}`);
  }
  return name;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A key as a canonical decimal string, or null; throws on anything that is not an int64. */
export function keyText(k: KeyLike): string | null {
  if (k === null) return null;
  const s = typeof k === 'string' ? k.trim() : String(k);
  if (!/^-?[0-9]{1,19}$/.test(s)) throw new Error(`not an integer key: ${JSON.stringify(String(k))}`);
  const b = BigInt(s);
  if (b < INT64_MIN || b > INT64_MAX) throw new Error(`key out of bigint range: ${s}`);
  return b.toString();
}

/** True when key k lies in [lo, hi) (null bounds unbounded). */
export function inRange(k: string, lo: string | null, hi: string | null): boolean {
  const b = BigInt(k);
  return (lo === null || b >= BigInt(lo)) && (hi === null || b < BigInt(hi));
}

// ---------------------------------------------------------------------------------------------
// DDL

const ROUTING_DDL = `
CREATE SCHEMA IF NOT EXISTS shardcast_route;
CREATE TABLE IF NOT EXISTS shardcast_route.nodes (
  node text PRIMARY KEY,
  url text NOT NULL,
  state text NOT NULL DEFAULT 'active',
  managed_dir text,
  port int,
  added_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS shardcast_route.tables (
  table_name text PRIMARY KEY,
  key_column text NOT NULL,
  version bigint NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS shardcast_route.ranges (
  table_name text NOT NULL REFERENCES shardcast_route.tables ON DELETE CASCADE,
  shard text NOT NULL,
  lo bigint,
  hi bigint,
  node text NOT NULL REFERENCES shardcast_route.nodes,
  version bigint NOT NULL DEFAULT 1,
  state text NOT NULL DEFAULT 'active',
  owner text,
  PRIMARY KEY (table_name, shard),
  CHECK (lo IS NULL OR hi IS NULL OR lo < hi));
CREATE TABLE IF NOT EXISTS shardcast_route.replicas (
  table_name text NOT NULL,
  shard text NOT NULL,
  node text NOT NULL REFERENCES shardcast_route.nodes,
  state text NOT NULL DEFAULT 'active',
  since timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (table_name, shard, node),
  FOREIGN KEY (table_name, shard) REFERENCES shardcast_route.ranges ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS shardcast_route.designs (
  table_name text NOT NULL REFERENCES shardcast_route.tables ON DELETE CASCADE,
  kind text NOT NULL,
  name text NOT NULL,
  spec jsonb NOT NULL,
  PRIMARY KEY (table_name, kind, name));
CREATE OR REPLACE FUNCTION shardcast_route.lookup(p_table text, p_key bigint)
RETURNS TABLE (shard text, node text, version bigint, replicas text[]) LANGUAGE sql STABLE AS $$
  SELECT r.shard, r.node, t.version,
         coalesce((SELECT array_agg(x.node ORDER BY x.node) FROM shardcast_route.replicas x
                   WHERE x.table_name = r.table_name AND x.shard = r.shard AND x.state = 'active'), '{}')
  FROM shardcast_route.ranges r JOIN shardcast_route.tables t USING (table_name)
  WHERE r.table_name = p_table AND (r.lo IS NULL OR p_key >= r.lo) AND (r.hi IS NULL OR p_key < r.hi)
$$;
`;

const LOCAL_DDL = `
CREATE SCHEMA IF NOT EXISTS shardcast_local;
CREATE TABLE IF NOT EXISTS shardcast_local.shards (
  physical text PRIMARY KEY,
  table_name text NOT NULL,
  shard text NOT NULL,
  key_column text NOT NULL,
  lo bigint,
  hi bigint,
  state text NOT NULL);
CREATE TABLE IF NOT EXISTS shardcast_local.changes (
  seq bigserial PRIMARY KEY,
  physical text NOT NULL,
  key bigint NOT NULL,
  at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE INDEX IF NOT EXISTS changes_physical_seq ON shardcast_local.changes (physical, seq);
CREATE OR REPLACE FUNCTION shardcast_local.guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  s shardcast_local.shards%ROWTYPE;
  k bigint;
BEGIN
  IF current_setting('shardcast.migrating', true) = 'on' THEN
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
  END IF;
  SELECT * INTO s FROM shardcast_local.shards WHERE physical = TG_TABLE_NAME;
  IF NOT FOUND OR s.state <> 'active' THEN
    RAISE EXCEPTION 'shardcast: % is not an active shard on this node (%); refresh routing and retry',
      TG_TABLE_NAME, coalesce(s.state, 'unknown') USING ERRCODE = 'SCR01';
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    k := (to_jsonb(NEW) ->> s.key_column)::bigint;
    IF (s.lo IS NOT NULL AND k < s.lo) OR (s.hi IS NOT NULL AND k >= s.hi) THEN
      RAISE EXCEPTION 'shardcast: key % is outside shard % [%, %); refresh routing and retry',
        k, TG_TABLE_NAME, s.lo, s.hi USING ERRCODE = 'SCR01';
    END IF;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    k := (to_jsonb(OLD) ->> s.key_column)::bigint;
    IF (s.lo IS NOT NULL AND k < s.lo) OR (s.hi IS NOT NULL AND k >= s.hi) THEN
      RAISE EXCEPTION 'shardcast: key % is outside shard % [%, %); refresh routing and retry',
        k, TG_TABLE_NAME, s.lo, s.hi USING ERRCODE = 'SCR01';
    END IF;
  END IF;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $$;
-- Statement-level twin of guard(): a write that matches no row (or a TRUNCATE) on a replica or
-- retired shard must fail too, or a client with a stale route reads "0 rows" as the truth.
CREATE OR REPLACE FUNCTION shardcast_local.guard_statement() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  st text;
BEGIN
  IF current_setting('shardcast.migrating', true) = 'on' THEN RETURN NULL; END IF;
  SELECT state INTO st FROM shardcast_local.shards WHERE physical = TG_TABLE_NAME;
  IF st IS DISTINCT FROM 'active' THEN
    RAISE EXCEPTION 'shardcast: % is not an active shard on this node (%); refresh routing and retry',
      TG_TABLE_NAME, coalesce(st, 'unknown') USING ERRCODE = 'SCR01';
  END IF;
  RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION shardcast_local.capture() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('shardcast.migrating', true) = 'on' THEN RETURN NULL; END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO shardcast_local.changes (physical, key) VALUES (TG_TABLE_NAME, (to_jsonb(NEW) ->> TG_ARGV[0])::bigint);
  END IF;
  IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND (to_jsonb(OLD) ->> TG_ARGV[0]) IS DISTINCT FROM (to_jsonb(NEW) ->> TG_ARGV[0])) THEN
    INSERT INTO shardcast_local.changes (physical, key) VALUES (TG_TABLE_NAME, (to_jsonb(OLD) ->> TG_ARGV[0])::bigint);
  END IF;
  RETURN NULL;
END $$;
`;

/** Serialises the idempotent DDL below across processes (advisory lock key). */
const DDL_LOCK = 7_140_001;

/** Creates the routing map on the coordinator and registers the configured nodes. */
export async function ensureRoutingSchema(coord: pg.Pool, pgNodes: readonly string[]): Promise<void> {
  await inTx(coord, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock($1)', [DDL_LOCK]);
    await c.query(ROUTING_DDL);
    for (const n of configNodes(pgNodes)) {
      await c.query(
        `INSERT INTO shardcast_route.nodes (node, url) VALUES ($1, $2)
         ON CONFLICT (node) DO UPDATE SET url = EXCLUDED.url WHERE shardcast_route.nodes.managed_dir IS NULL`,
        [n.node, n.url],
      );
    }
  });
}

/** Creates the node-local shard registry, guard and change capture (idempotent). */
export async function ensureNodeSupport(pool: pg.Pool): Promise<void> {
  await inTx(pool, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock($1)', [DDL_LOCK]);
    await c.query(LOCAL_DDL);
  });
}

/** Installs the guard trigger on a shard table and records its bounds and state locally. */
export async function registerLocalShard(
  db: Queryable,
  s: { physical: string; table: string; shard: string; keyColumn: string; lo: string | null; hi: string | null; state: string },
): Promise<void> {
  const t = quoteIdent(s.physical);
  await q(db, `DROP TRIGGER IF EXISTS shardcast_guard ON public.${t}`);
  await q(
    db,
    `CREATE TRIGGER shardcast_guard BEFORE INSERT OR UPDATE OR DELETE ON public.${t} FOR EACH ROW EXECUTE FUNCTION shardcast_local.guard()`,
  );
  await q(db, `DROP TRIGGER IF EXISTS shardcast_guard_statement ON public.${t}`);
  await q(
    db,
    `CREATE TRIGGER shardcast_guard_statement BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON public.${t} FOR EACH STATEMENT EXECUTE FUNCTION shardcast_local.guard_statement()`,
  );
  await q(
    db,
    `INSERT INTO shardcast_local.shards (physical, table_name, shard, key_column, lo, hi, state) VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (physical) DO UPDATE SET table_name = EXCLUDED.table_name, shard = EXCLUDED.shard, key_column = EXCLUDED.key_column,
       lo = EXCLUDED.lo, hi = EXCLUDED.hi, state = EXCLUDED.state`,
    [s.physical, s.table, s.shard, s.keyColumn, s.lo, s.hi, s.state],
  );
}

// ---------------------------------------------------------------------------------------------
// Reading the routing map

export async function listNodes(coord: Queryable): Promise<NodeInfo[]> {
  const rows = await q<{ node: string; url: string; state: string; managed_dir: string | null; port: number | null }>(
    coord,
    `SELECT node, url, state, managed_dir, port FROM shardcast_route.nodes ORDER BY length(node), node`,
  );
  return rows.map((r) => ({ node: r.node, url: r.url, state: r.state, managedDir: r.managed_dir, port: r.port }));
}

export async function loadRoutes(coord: Queryable, table: string): Promise<TableRoutes | null> {
  const t = await q<{ key_column: string; version: string }>(
    coord,
    'SELECT key_column, version FROM shardcast_route.tables WHERE table_name = $1',
    [table],
  );
  if (!t[0]) return null;
  const rows = await q<{
    shard: string;
    lo: string | null;
    hi: string | null;
    node: string;
    version: string;
    state: string;
    owner: string | null;
    replicas: string[];
  }>(
    coord,
    `SELECT r.shard, r.lo::text, r.hi::text, r.node, r.version, r.state, r.owner,
            coalesce((SELECT array_agg(x.node ORDER BY x.node) FROM shardcast_route.replicas x
                      WHERE x.table_name = r.table_name AND x.shard = r.shard AND x.state = 'active'), '{}') AS replicas
     FROM shardcast_route.ranges r WHERE r.table_name = $1 ORDER BY r.lo NULLS FIRST`,
    [table],
  );
  return {
    table,
    keyColumn: t[0].key_column,
    version: Number(t[0].version),
    shards: rows.map((r) => ({ ...r, version: Number(r.version) })),
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
  if (!rows[0]) throw new Error(`routing: unknown table ${table}`);
  const current = Number(rows[0].version);
  if (expectedVersion !== null && current !== expectedVersion) {
    throw new Error(`routing: ${table} changed concurrently (version ${current}, expected ${expectedVersion})`);
  }
  const next = current + 1;
  await mutate(c, next);
  await c.query('UPDATE shardcast_route.tables SET version = $2 WHERE table_name = $1', [table, next]);
  return next;
}

// ---------------------------------------------------------------------------------------------
// Creating a sharded table

export interface CreateOptions {
  keyColumn?: string;
  columns?: ColumnSpec[];
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
  opts: CreateOptions = {},
): Promise<TableRoutes> {
  const keyColumn = opts.keyColumn ?? 'id';
  const columns = opts.columns ?? ORDERS_COLUMNS;
  if (!isPlainIdentifier(keyColumn)) throw new Error(`key column ${JSON.stringify(keyColumn)} is not a plain identifier`);
  for (const c of columns) {
    if (!isPlainIdentifier(c.name)) throw new Error(`column ${JSON.stringify(c.name)} is not a plain identifier`);
    if (!COLUMN_TYPES.includes(c.type))
      throw new Error(`column ${c.name}: type ${JSON.stringify(c.type)} is not one of ${COLUMN_TYPES.join(', ')}`);
  }
  const key = columns.find((c) => c.name === keyColumn);
  if (!key || (key.type !== 'bigint' && key.type !== 'integer'))
    throw new Error(`key column ${keyColumn} must be a bigint or integer column`);

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
    if (reason) throw new Error(`createShardedTable: ${reason}`);
    const existing = await loadRoutes(coord, table);
    if (existing) {
      if (!opts.replace) throw new Error(`createShardedTable: ${table} exists already`);
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
  if (!isPlainIdentifier(table)) throw new Error(`table ${JSON.stringify(table)} is not a plain identifier`);
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

// ---------------------------------------------------------------------------------------------
// Client-side routing for applications (and the demo's workload)

export interface RoutedTarget {
  shard: string;
  node: string;
  physical: string;
  pool: pg.Pool;
  replicas: string[];
}

/**
 * A routing client: caches a table's routing map (refreshed after `ttlMs`, or at once when a
 * shard answers "route changed" or "no such table"), and runs statements against the shard
 * that holds a key, retrying after a refresh. Statements name the shard table with `{t}`.
 */
export class ShardRouter {
  private readonly pools = new PgPools({ executor: false, max: 4 });
  private readonly cache = new Map<string, { at: number; routes: TableRoutes }>();
  private nodes = new Map<string, string>();
  private nodesAt = 0;
  refreshes = 0;

  constructor(
    private readonly pgNodes: string[],
    private readonly opts: { ttlMs?: number; retries?: number } = {},
  ) {}

  private get coord(): pg.Pool {
    return this.pools.get(this.pgNodes[0]!);
  }

  async routes(table: string, force = false): Promise<TableRoutes> {
    const hit = this.cache.get(table);
    if (!force && hit && Date.now() - hit.at < (this.opts.ttlMs ?? 500)) return hit.routes;
    const routes = await loadRoutes(this.coord, table);
    if (!routes) throw new Error(`routing: unknown table ${table}`);
    this.cache.set(table, { at: Date.now(), routes });
    if (force) this.refreshes++;
    return routes;
  }

  private async urlOf(node: string): Promise<string> {
    if (!this.nodes.has(node) || Date.now() - this.nodesAt > 5_000) {
      this.nodes = new Map((await listNodes(this.coord)).map((n) => [n.node, n.url]));
      this.nodesAt = Date.now();
    }
    const url = this.nodes.get(node);
    if (!url) throw new Error(`routing: unknown node ${node}`);
    return url;
  }

  async target(table: string, key: KeyLike, force = false): Promise<RoutedTarget> {
    const k = keyText(key)!;
    const routes = await this.routes(table, force);
    const s = routes.shards.find((r) => inRange(k, r.lo, r.hi));
    if (!s) throw new Error(`routing: no shard of ${table} holds key ${k}`);
    return {
      shard: s.shard,
      node: s.node,
      physical: physicalName(table, s.shard),
      pool: this.pools.get(await this.urlOf(s.node)),
      replicas: s.replicas,
    };
  }

  /** Runs `text` (with `{t}` = the shard table) on the shard holding `key`; retries on route changes. */
  async exec<R = Record<string, unknown>>(table: string, key: KeyLike, text: string, params: unknown[]): Promise<R[]> {
    const retries = this.opts.retries ?? 20;
    let force = false;
    for (let attempt = 0; ; attempt++) {
      const t = await this.target(table, key, force);
      try {
        return await q<R>(t.pool, text.replaceAll('{t}', `public.${quoteIdent(t.physical)}`), params);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if ((code === ROUTE_CHANGED || code === '42P01') && attempt < retries) {
          force = true;
          await sleep(Math.min(20 * (attempt + 1), 200));
          continue;
        }
        throw err;
      }
    }
  }

  async close(): Promise<void> {
    await this.pools.end();
  }
}

export { COORDINATOR };
