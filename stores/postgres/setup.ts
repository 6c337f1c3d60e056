/**
 * The routing map's and the nodes' own bookkeeping, created idempotently. On the coordinator:
 *
 *   shardcast_route.nodes    (node, url, state, managed_dir, port)
 *   shardcast_route.tables   (table_name, key_column, version, key_bounds, key_hash)
 *   shardcast_route.ranges   (table_name, shard, lo, hi, node, version, state, owner)
 *   shardcast_route.replicas (table_name, shard, node, state)
 *   shardcast_route.designs  (table_name, kind, name, spec)   -- precomputations to re-create
 *
 * and `shardcast_route.lookup(table, key)`, which answers which shard and node hold a key.
 *
 * On every node: its own view of the shards it holds (`shardcast_local.shards`), the change
 * capture a migration replays, and a guard trigger on every shard table that rejects client
 * writes outside the shard's current range or to a shard that moved away (SQLSTATE SCR01:
 * "refresh your routing and retry"). That guard is what makes a routing switch safe for writers
 * that still hold an old route.
 */
import type pg from 'pg';
import { quoteIdent } from '../identifiers.js';
import { configNodes, inTx, q, type Queryable } from './nodes.js';

/** SQLSTATE raised by the guard when a write reached a shard that no longer owns the key. */
export const ROUTE_CHANGED = 'SCR01';

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
-- Key-range bucket bounds of a key a rekey set (null: the configured key and its bounds);
-- ingest buckets and the decide stage plans the table's ranges by them (stores/postgres/tableKeys.ts).
ALTER TABLE shardcast_route.tables ADD COLUMN IF NOT EXISTS key_bounds bigint[];
-- Ranges cut hashint8(key) rather than the key (a rekey with keyHash; schemas/keyHash.ts).
ALTER TABLE shardcast_route.tables ADD COLUMN IF NOT EXISTS key_hash boolean NOT NULL DEFAULT false;
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
  CROSS JOIN LATERAL (SELECT CASE WHEN t.key_hash THEN hashint8(p_key)::bigint ELSE p_key END AS v) k
  WHERE r.table_name = p_table AND (r.lo IS NULL OR k.v >= r.lo) AND (r.hi IS NULL OR k.v < r.hi)
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
ALTER TABLE shardcast_local.shards ADD COLUMN IF NOT EXISTS key_hash boolean NOT NULL DEFAULT false;
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
    IF s.key_hash THEN k := hashint8(k); END IF;
    IF (s.lo IS NOT NULL AND k < s.lo) OR (s.hi IS NOT NULL AND k >= s.hi) THEN
      RAISE EXCEPTION 'shardcast: key % is outside shard % [%, %); refresh routing and retry',
        k, TG_TABLE_NAME, s.lo, s.hi USING ERRCODE = 'SCR01';
    END IF;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    k := (to_jsonb(OLD) ->> s.key_column)::bigint;
    IF s.key_hash THEN k := hashint8(k); END IF;
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
  s: {
    physical: string;
    table: string;
    shard: string;
    keyColumn: string;
    /** Bounds are of hashint8(key) (a hashed key). */
    keyHash?: boolean;
    lo: string | null;
    hi: string | null;
    state: string;
  },
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
    `INSERT INTO shardcast_local.shards (physical, table_name, shard, key_column, lo, hi, state, key_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (physical) DO UPDATE SET table_name = EXCLUDED.table_name, shard = EXCLUDED.shard, key_column = EXCLUDED.key_column,
       lo = EXCLUDED.lo, hi = EXCLUDED.hi, state = EXCLUDED.state, key_hash = EXCLUDED.key_hash`,
    [s.physical, s.table, s.shard, s.keyColumn, s.lo, s.hi, s.state, s.keyHash ?? false],
  );
}
