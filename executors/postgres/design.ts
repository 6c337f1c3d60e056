/**
 * Physical design changes across every shard table of a logical table (primaries, and replicas
 * where it matters): a composite index built CONCURRENTLY, a derived attribute as a STORED
 * generated column, a precomputation as a materialized view per shard (REFRESH ... CONCURRENTLY).
 * Each change is all-or-nothing across the shards: a failure undoes what this run added.
 */
import type pg from 'pg';
import { quoteIdent } from '../../stores/identifiers.js';
import { stopRequestedError, type ExecutionContext, type Outcome } from '../types.js';
import type { DerivedExpr } from './checks.js';
import { tableExists } from './ddl.js';
import { loadPrecomputes, type PrecomputeSpec, precomputedViewName, renderPrecompute } from '../../stores/postgres/precomputed.js';
import { type IndexSpec, indexDesignName, loadDesigns, recordDesign } from '../../stores/postgres/designs.js';
import { loadRoutes } from '../../stores/postgres/routing.js';
import { physicalName, shardObjectName } from '../../stores/postgres/keys.js';
import { q, sleep, type PgPools, type Queryable } from '../../stores/postgres/nodes.js';

export interface DesignEnv {
  pools: PgPools;
  coord: pg.Pool;
  urlOf(node: string): Promise<string>;
}

export interface ShardTable {
  shard: string;
  node: string;
  physical: string;
  role: 'primary' | 'replica';
}

/** Every physical table of `table` (one shard, or all when `shard` is null). */
export async function shardTables(coord: Queryable, table: string, shard: string | null): Promise<ShardTable[]> {
  const routes = await loadRoutes(coord, table);
  if (!routes) return [];
  const out: ShardTable[] = [];
  for (const s of routes.shards) {
    if (shard !== null && s.shard !== shard) continue;
    out.push({ shard: s.shard, node: s.node, physical: physicalName(table, s.shard), role: 'primary' });
    for (const r of s.replicas) out.push({ shard: s.shard, node: r, physical: physicalName(table, s.shard), role: 'replica' });
  }
  return out;
}

/** Column name → data type of a shard table, from information_schema.columns. */
export async function columnTypes(db: Queryable, physical: string): Promise<Map<string, string>> {
  const rows = await q<{ column_name: string; data_type: string }>(
    db,
    `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`,
    [physical],
  );
  return new Map(rows.map((r) => [r.column_name, r.data_type]));
}

export const indexName = (physical: string, columns: string[]) => shardObjectName(physical, `${columns.join('_')}_idx`);

/**
 * A composite index on each shard table of `target.tables`. One on the whole table is recorded in
 * the designs registry: the decide stage then knows the columns are indexed, and a split or move
 * builds it on the new shard tables too (reapplyDesigns).
 */
export async function compositeIndex(
  env: DesignEnv,
  target: { table: string; wholeTable: boolean; tables: ShardTable[]; columns: string[] },
  ctx: ExecutionContext,
): Promise<Outcome> {
  const { tables, columns } = target;
  const done: ShardTable[] = [];
  const t0 = Date.now();
  try {
    for (const [i, t] of tables.entries()) {
      if (ctx.signal.aborted) throw stopRequestedError();
      const pool = env.pools.get(await env.urlOf(t.node));
      const name = indexName(t.physical, columns);
      if (!(await buildIndex(pool, t.physical, columns))) continue; // replayed: already built
      done.push(t);
      await ctx.report({ status: 'RUNNING', progress: (i + 1) / tables.length, details: { built: `${t.node}/${name}` } });
    }
    if (target.wholeTable) await recordDesign(env.coord, target.table, 'index', indexDesignName(columns), { columns } satisfies IndexSpec);
    return {
      status: 'SUCCEEDED',
      verified: true,
      details: { indexes: String(tables.length), built: String(done.length), durationMs: String(Date.now() - t0) },
    };
  } catch (err) {
    for (const t of done) {
      const pool = env.pools.get(await env.urlOf(t.node));
      await q(pool, `DROP INDEX CONCURRENTLY IF EXISTS public.${quoteIdent(indexName(t.physical, columns))}`).catch(() => {});
    }
    return { status: 'ROLLED_BACK', reason: (err as Error).message };
  }
}

/**
 * Builds the index on one shard table without blocking writes; false when a valid one exists
 * already. One left invalid by a crash is dropped and built again.
 */
async function buildIndex(pool: pg.Pool, physical: string, columns: string[]): Promise<boolean> {
  const name = indexName(physical, columns);
  const existing = await q<{ valid: boolean }>(
    pool,
    `SELECT x.indisvalid AS valid FROM pg_class c JOIN pg_index x ON x.indexrelid = c.oid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relname = $1`,
    [name],
  );
  if (existing[0]?.valid) return false;
  if (existing[0]) await q(pool, `DROP INDEX CONCURRENTLY IF EXISTS public.${quoteIdent(name)}`);
  await q(pool, `CREATE INDEX CONCURRENTLY ${quoteIdent(name)} ON public.${quoteIdent(physical)} (${columns.map(quoteIdent).join(', ')})`);
  return true;
}

/** ALTER TABLE with a short lock_timeout, retried: the rewrite lock must not queue clients for long. */
async function alterWithRetry(pool: pg.Pool, sql: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      await c.query(`SET LOCAL lock_timeout = '2s'`);
      await c.query(sql);
      await c.query('COMMIT');
      return;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      if ((err as { code?: string }).code !== '55P03' || attempt >= 5) throw err;
      await sleep(200 * (attempt + 1));
    } finally {
      c.release();
    }
  }
}

export async function derivedAttribute(
  env: DesignEnv,
  table: string,
  tables: ShardTable[],
  name: string,
  expr: DerivedExpr,
  ctx: ExecutionContext,
): Promise<Outcome> {
  const done: ShardTable[] = [];
  try {
    for (const [i, t] of tables.entries()) {
      if (ctx.signal.aborted) throw stopRequestedError();
      const pool = env.pools.get(await env.urlOf(t.node));
      const cols = await columnTypes(pool, t.physical);
      if (cols.has(name)) continue;
      await alterWithRetry(
        pool,
        `ALTER TABLE public.${quoteIdent(t.physical)} ADD COLUMN ${quoteIdent(name)} ${expr.type} GENERATED ALWAYS AS (${expr.sql}) STORED`,
      );
      done.push(t);
      await ctx.report({ status: 'RUNNING', progress: (i + 1) / tables.length, details: { altered: `${t.node}/${t.physical}` } });
    }
    await recordDesign(env.coord, table, 'derived', name, { name, sql: expr.sql });
    return { status: 'SUCCEEDED', verified: true, details: { column: name, tables: String(tables.length), added: String(done.length) } };
  } catch (err) {
    for (const t of done) {
      const pool = env.pools.get(await env.urlOf(t.node));
      await alterWithRetry(pool, `ALTER TABLE public.${quoteIdent(t.physical)} DROP COLUMN IF EXISTS ${quoteIdent(name)}`).catch(() => {});
    }
    return { status: 'ROLLED_BACK', reason: (err as Error).message };
  }
}

/** Creates (or refreshes, when it exists) the precomputation on one shard table. */
async function materialize(pool: pg.Pool, physical: string, spec: PrecomputeSpec): Promise<'created' | 'refreshed'> {
  const mv = precomputedViewName(physical, spec.name);
  const { select, key } = renderPrecompute(spec, physical);
  const exists = await q(pool, `SELECT 1 FROM pg_matviews WHERE schemaname = 'public' AND matviewname = $1`, [mv]);
  if (exists.length === 0) {
    await q(pool, `CREATE MATERIALIZED VIEW public.${quoteIdent(mv)} AS ${select} WITH DATA`);
    await q(pool, `CREATE UNIQUE INDEX ${quoteIdent(shardObjectName(mv, 'key'))} ON public.${quoteIdent(mv)} (${quoteIdent(key)})`);
  }
  await q(pool, `REFRESH MATERIALIZED VIEW CONCURRENTLY public.${quoteIdent(mv)}`);
  return exists.length === 0 ? 'created' : 'refreshed';
}

export async function precompute(
  env: DesignEnv,
  table: string,
  tables: ShardTable[],
  spec: PrecomputeSpec,
  ctx: ExecutionContext,
): Promise<Outcome> {
  const created: ShardTable[] = [];
  let refreshed = 0;
  try {
    const primaries = tables.filter((t) => t.role === 'primary');
    for (const [i, t] of primaries.entries()) {
      if (ctx.signal.aborted) throw stopRequestedError();
      const pool = env.pools.get(await env.urlOf(t.node));
      if ((await materialize(pool, t.physical, spec)) === 'created') created.push(t);
      else refreshed++;
      await ctx.report({
        status: 'RUNNING',
        progress: (i + 1) / primaries.length,
        details: { view: `${t.node}/${precomputedViewName(t.physical, spec.name)}` },
      });
    }
    await recordDesign(env.coord, table, 'precompute', spec.name, spec);
    return {
      status: 'SUCCEEDED',
      verified: true,
      details: { views: String(primaries.length), created: String(created.length), refreshed: String(refreshed) },
    };
  } catch (err) {
    for (const t of created) {
      const pool = env.pools.get(await env.urlOf(t.node));
      await q(pool, `DROP MATERIALIZED VIEW IF EXISTS public.${quoteIdent(precomputedViewName(t.physical, spec.name))}`).catch(() => {});
    }
    return { status: 'ROLLED_BACK', reason: (err as Error).message };
  }
}

/** After a split/move/merge: the recorded indexes and precomputations on the new or changed shard tables. */
export async function reapplyDesigns(env: DesignEnv, table: string, targets: { node: string; physical: string }[]): Promise<void> {
  for (const d of await loadDesigns<IndexSpec>(env.coord, table, 'index')) {
    for (const t of targets) {
      const pool = env.pools.get(await env.urlOf(t.node));
      if (await tableExists(pool, t.physical)) await buildIndex(pool, t.physical, d.columns);
    }
  }
  const designs = await loadPrecomputes(env.coord, table);
  for (const d of designs) {
    for (const t of targets) {
      const pool = env.pools.get(await env.urlOf(t.node));
      if (await tableExists(pool, t.physical)) await materialize(pool, t.physical, d);
    }
  }
}

/** The precomputation of `table` merged over all its shards: group → { n, total }. */
export async function readPrecomputed(
  env: DesignEnv,
  table: string,
  name: string,
): Promise<Map<string, { n: number; total: number | null }>> {
  const out = new Map<string, { n: number; total: number | null }>();
  for (const t of await shardTables(env.coord, table, null)) {
    if (t.role !== 'primary') continue;
    const pool = env.pools.get(await env.urlOf(t.node));
    const mv = precomputedViewName(t.physical, name);
    const rows = await q<{ g: string; n: string; total: string | null }>(
      pool,
      `SELECT m.grp::text AS g, to_jsonb(m) ->> 'n' AS n, to_jsonb(m) ->> 'total' AS total FROM public.${quoteIdent(mv)} m`,
    );
    for (const r of rows) {
      const cur = out.get(r.g) ?? { n: 0, total: null };
      cur.n += Number(r.n);
      if (r.total !== null) cur.total = (cur.total ?? 0) + Number(r.total);
      out.set(r.g, cur);
    }
  }
  return out;
}
