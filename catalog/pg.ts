/**
 * Introspection of the PostgreSQL shard nodes (source kind 'oltp').
 *
 * Sharded tables come from the routing map on node 0 (stores/postgres/routing.ts): one Table
 * of kind 'sharded' per logical table, one range Partition per shard, placed on its primary
 * node and its replicas, with the size (pg_total_relation_size) and row count
 * (pg_stat_user_tables.n_live_tup, else pg_class.reltuples) of the physical table on the
 * primary. Everything else in each node's own catalog becomes a node-local object in the
 * database `<db>@<node>`: ordinary tables (one 'whole' partition), declaratively partitioned
 * tables (pg_inherits children with their bounds), views and materialized views, with lineage
 * from pg_depend/pg_rewrite. A materialized view over a shard table (a precomputation) derives
 * from the logical table.
 *
 * Scopes: `route/<table>/` for a sharded table and the views over its shards, `node/<node>/`
 * for node-local objects, `nodes/` for the node list. A node that does not answer is reported
 * and its scope is not observed, so nothing it holds is marked vanished.
 */
import pg from 'pg';
import { listNodes, loadRoutes, type NodeInfo, type TableRoutes } from '../stores/postgres/routing.js';
import { physicalName } from '../stores/postgres/keys.js';
import { configNodes } from '../stores/postgres/nodes.js';
import { tableId, type LineageFact, type PartitionFact, type TableFact } from './graph.js';
import type { Snapshot } from './snapshot.js';
import type { DiscoveryTarget, SourceDiscovery } from './source.js';

export const PG_SOURCE = 'pg-shards';

export interface PgDiscoveryOptions {
  source?: string;
  /** Capacity written on nodes (queries per window), when known. */
  nodeCapacity?: number;
  costPerGbMonth?: number;
  connectTimeoutMs?: number;
}

interface RelRow {
  schema: string;
  name: string;
  kind: 'r' | 'p' | 'm' | 'v';
  parent_schema: string | null;
  parent_name: string | null;
  bound: string | null;
  partkey: string | null;
  rows: string;
  bytes: string;
}

interface DepRow {
  vschema: string;
  vname: string;
  tschema: string;
  tname: string;
}

// System schemas and shardcast's own bookkeeping (routing map, shard registry, ledger) are not
// part of the federation's data; neither are objects that belong to an extension.
const OWN_OBJECTS = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname NOT LIKE 'shardcast\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')`;

const REL_SQL = `
SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
       pn.nspname AS parent_schema, pc.relname AS parent_name,
       pg_get_expr(c.relpartbound, c.oid) AS bound,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partkey,
       coalesce(s.n_live_tup, greatest(c.reltuples, 0)::bigint)::text AS rows,
       (CASE WHEN c.relkind IN ('r', 'm') THEN pg_total_relation_size(c.oid) ELSE 0 END)::text AS bytes
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
LEFT JOIN pg_inherits i ON i.inhrelid = c.oid AND c.relispartition
LEFT JOIN pg_class pc ON pc.oid = i.inhparent
LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace
WHERE c.relkind IN ('r', 'p', 'm', 'v') AND ${OWN_OBJECTS}`;

const DEP_SQL = `
SELECT DISTINCT n.nspname AS vschema, c.relname AS vname, tn.nspname AS tschema, t.relname AS tname
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_rewrite rw ON rw.ev_class = c.oid
JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid AND d.refclassid = 'pg_class'::regclass
JOIN pg_class t ON t.oid = d.refobjid AND t.oid <> c.oid AND t.relkind IN ('r', 'p', 'm', 'v')
JOIN pg_namespace tn ON tn.oid = t.relnamespace
WHERE c.relkind IN ('v', 'm') AND ${OWN_OBJECTS}`;

const REGISTRY_SQL = `SELECT physical FROM shardcast_local.shards`;

/** host:port/db of a connection URL, without credentials. */
export function endpointOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return '?';
  }
}

/** A shard bound as a number (exact below 2^53) and its exact text. */
function bound(text: string | null): { num: number | null; text: string | null } {
  return text === null ? { num: null, text: null } : { num: Number(text), text };
}

/** A declarative partition's bound clause → the partition's kind and bounds. */
export function parseBound(
  expr: string | null,
): Pick<PartitionFact, 'kind' | 'lo' | 'hi' | 'loText' | 'hiText' | 'bucket' | 'modulus' | 'value'> {
  const e = (expr ?? '').trim();
  const range = /^FOR VALUES FROM \((.+)\) TO \((.+)\)$/i.exec(e);
  if (range) {
    const one = (v: string): string | null | undefined => {
      const s = v.trim();
      if (/^(MINVALUE|MAXVALUE)$/i.test(s)) return null;
      const m = /^'?(-?[0-9]{1,19})'?$/.exec(s);
      return m ? m[1]! : undefined; // undefined: not a single integer column
    };
    const lo = one(range[1]!),
      hi = one(range[2]!);
    if (lo !== undefined && hi !== undefined) {
      return { kind: 'range', lo: lo === null ? null : Number(lo), hi: hi === null ? null : Number(hi), loText: lo, hiText: hi, value: e };
    }
    return { kind: 'range', lo: null, hi: null, value: e };
  }
  const hash = /^FOR VALUES WITH \(modulus ([0-9]+), remainder ([0-9]+)\)$/i.exec(e);
  if (hash) return { kind: 'hash', lo: null, hi: null, modulus: Number(hash[1]), bucket: Number(hash[2]), value: e };
  return { kind: 'list', lo: null, hi: null, value: e || null };
}

export class PostgresDiscovery implements SourceDiscovery {
  readonly kind = 'postgres' as const;
  readonly source: string;
  private readonly pools = new Map<string, pg.Pool>();

  constructor(
    private readonly pgNodes: string[],
    private readonly opts: PgDiscoveryOptions = {},
  ) {
    this.source = opts.source ?? PG_SOURCE;
  }

  private pool(url: string): pg.Pool {
    let p = this.pools.get(url);
    if (!p) {
      p = new pg.Pool({
        connectionString: url,
        max: 2,
        idleTimeoutMillis: 10_000,
        connectionTimeoutMillis: this.opts.connectTimeoutMs ?? 3_000,
        application_name: 'shardcast-catalog',
        // A catalog read must not queue behind a migration's exclusive lock for long.
        options: '-c lock_timeout=2000 -c statement_timeout=20000',
      });
      p.on('error', () => {}); // an idle client losing its server must not crash the process
      this.pools.set(url, p);
    }
    return p;
  }

  private async ping(url: string): Promise<number> {
    const t0 = performance.now();
    await this.pool(url).query('SELECT 1');
    return Math.round((performance.now() - t0) * 100) / 100;
  }

  /** The whole federation, or one sharded table (`target.table`) and the views over its shards. */
  async snapshot(target: DiscoveryTarget = {}): Promise<Snapshot> {
    const src = this.source;
    const coordUrl = this.pgNodes[0]!;
    const coord = this.pool(coordUrl);
    const latency = await this.ping(coordUrl);
    const info = (
      await coord.query<{ db: string; v: string; routed: boolean }>(
        `SELECT current_database() AS db, current_setting('server_version') AS v, to_regclass('shardcast_route.tables') IS NOT NULL AS routed`,
      )
    ).rows[0]!;
    const db = info.db;

    // Nodes: the routing map's list (it includes nodes added by scale_out), plus configured ones.
    const nodes: NodeInfo[] = info.routed ? await listNodes(coord) : [];
    for (const n of configNodes(this.pgNodes)) {
      if (!nodes.some((x) => x.node === n.node)) nodes.push({ node: n.node, url: n.url, state: 'active', managedDir: null, port: null });
    }

    const names = info.routed
      ? (await coord.query<{ t: string }>('SELECT table_name AS t FROM shardcast_route.tables ORDER BY 1')).rows.map((r) => r.t)
      : [];
    const wanted = target.table !== undefined ? names.filter((n) => n === target.table) : names;
    const routes: TableRoutes[] = [];
    for (const t of wanted) {
      const r = await loadRoutes(coord, t);
      if (r) routes.push(r);
    }
    // physical table on a node → the logical table whose shard (or replica) it is
    const shardOf = new Map<string, { table: string; shard: string }>();
    for (const r of routes) {
      for (const s of r.shards) {
        for (const n of [s.node, ...s.replicas]) shardOf.set(`${n}/${physicalName(r.table, s.shard)}`, { table: r.table, shard: s.shard });
      }
    }

    const visit =
      target.table !== undefined
        ? nodes.filter((n) => routes.some((r) => r.shards.some((s) => s.node === n.node || s.replicas.includes(n.node))))
        : nodes.filter((n) => n.state !== 'stopped');
    const perNode = new Map<string, { rels: RelRow[]; deps: DepRow[]; registered: Set<string>; latency: number }>();
    const unreachable: Snapshot['unreachable'] = [];
    await Promise.all(
      visit.map(async (n) => {
        try {
          const latency = await this.ping(n.url);
          const p = this.pool(n.url);
          const [rels, deps, reg] = await Promise.all([
            p.query<RelRow>(REL_SQL),
            p.query<DepRow>(DEP_SQL),
            p.query<{ physical: string }>(REGISTRY_SQL).catch(() => ({ rows: [] as { physical: string }[] })),
          ]);
          perNode.set(n.node, { rels: rels.rows, deps: deps.rows, registered: new Set(reg.rows.map((r) => r.physical)), latency });
        } catch (err) {
          unreachable.push({ scope: `node/${n.node}/`, reason: `${n.node} (${endpointOf(n.url)}): ${(err as Error).message}` });
        }
      }),
    );

    // Every node that should be up is asked; one that does not answer is recorded 'unreachable'
    // (planners place nothing there), whatever the routing map says.
    const down = new Set(unreachable.map((u) => u.scope.slice('node/'.length, -1)));
    await Promise.all(
      nodes
        .filter((n) => n.state !== 'stopped' && !perNode.has(n.node) && !down.has(n.node))
        .map(async (n) => {
          await this.ping(n.url).catch(() => down.add(n.node));
        }),
    );
    const localDb = (node: string) => `${db}@${node}`;
    const snap: Snapshot = {
      source: {
        id: src,
        kind: 'oltp',
        engine: 'postgresql',
        version: info.v,
        endpoint: endpointOf(coordUrl),
        latencyMs: latency,
        costPerGbMonth: this.opts.costPerGbMonth,
      },
      scopes:
        target.table !== undefined ? [`route/${target.table}/`] : ['route/', 'nodes/', ...[...perNode.keys()].map((n) => `node/${n}/`)],
      nodes: nodes.map((n) => ({
        name: n.node,
        endpoint: endpointOf(n.url),
        state: down.has(n.node) ? 'unreachable' : n.state,
        managed: n.managedDir !== null,
        capacity: this.opts.nodeCapacity ?? null,
        latencyMs: perNode.get(n.node)?.latency ?? null,
        scope: 'nodes/',
      })),
      databases: [
        { name: db, node: null, scope: 'db/' },
        ...[...perNode.keys()].map((n) => ({ name: localDb(n), node: n, scope: `node/${n}/` })),
      ],
      tables: [],
      partitions: [],
      topics: [],
      lineage: [],
      unreachable,
    };

    // Sharded tables and their shards.
    for (const r of routes) {
      const scope = `route/${r.table}/`;
      let rows = 0,
        bytes = 0,
        known = true;
      for (const s of r.shards) {
        const phys = physicalName(r.table, s.shard);
        const stat = perNode.get(s.node)?.rels.find((x) => x.schema === 'public' && x.name === phys);
        if (!stat) known = false;
        rows += Number(stat?.rows ?? 0);
        bytes += Number(stat?.bytes ?? 0);
        const lo = bound(s.lo),
          hi = bound(s.hi);
        snap.partitions.push({
          source: src,
          database: db,
          table: r.table,
          name: s.shard,
          kind: 'range',
          lo: lo.num,
          hi: hi.num,
          loText: lo.text,
          hiText: hi.text,
          node: s.node,
          replicas: s.replicas,
          physical: phys,
          state: s.state,
          ...(stat ? { rows: Number(stat.rows), bytes: Number(stat.bytes) } : {}),
          scope,
        });
      }
      snap.tables.push({
        source: src,
        database: db,
        name: r.table,
        kind: 'sharded',
        engine: 'postgresql',
        partitionKey: r.keyColumn,
        ...(known ? { rows, bytes } : {}),
        scope,
      });
    }

    // Node-local objects, and views over shard tables.
    for (const [node, got] of perNode) {
      const ldb = localDb(node);
      const localName = (schema: string, name: string) => `${schema}.${name}`;
      // what a relation on this node stands for in the graph: the logical table for a shard table
      const refOf = (schema: string, name: string): string | null => {
        const sh = schema === 'public' ? shardOf.get(`${node}/${name}`) : undefined;
        if (sh) return tableId({ source: src, database: db, name: sh.table });
        const rel = got.rels.find((x) => x.schema === schema && x.name === name);
        if (!rel) return null;
        if (rel.parent_name !== null) return tableId({ source: src, database: ldb, name: localName(rel.parent_schema!, rel.parent_name) });
        if (schema === 'public' && got.registered.has(name)) return null; // a shard copy outside the routing map
        return tableId({ source: src, database: ldb, name: localName(schema, name) });
      };
      const depsOf = (r: RelRow) => got.deps.filter((d) => d.vschema === r.schema && d.vname === r.name);
      const overShard = (r: RelRow) => {
        const ds = depsOf(r)
          .map((d) => (d.tschema === 'public' ? shardOf.get(`${node}/${d.tname}`) : undefined))
          .filter((x) => x !== undefined);
        return ds[0]?.table ?? null;
      };
      for (const r of got.rels) {
        if (r.parent_name !== null) continue; // a partition: recorded under its parent below
        if (r.schema === 'public' && (shardOf.has(`${node}/${r.name}`) || got.registered.has(r.name))) continue; // shard tables
        const viewOver = r.kind === 'm' || r.kind === 'v' ? overShard(r) : null;
        if (target.table !== undefined && viewOver !== target.table) continue;
        const scope = viewOver !== null ? `route/${viewOver}/` : `node/${node}/`;
        const name = localName(r.schema, r.name);
        const kind: TableFact['kind'] =
          r.kind === 'p' ? 'partitioned' : r.kind === 'm' ? 'materialized_view' : r.kind === 'v' ? 'view' : 'table';
        const children = r.kind === 'p' ? got.rels.filter((c) => c.parent_schema === r.schema && c.parent_name === r.name) : [];
        const rows = r.kind === 'p' ? children.reduce((a, c) => a + Number(c.rows), 0) : Number(r.rows);
        const bytes = r.kind === 'p' ? children.reduce((a, c) => a + Number(c.bytes), 0) : Number(r.bytes);
        snap.tables.push({ source: src, database: ldb, name, kind, engine: 'postgresql', partitionKey: r.partkey, rows, bytes, scope });
        if (r.kind === 'r' || r.kind === 'm') {
          snap.partitions.push({
            source: src,
            database: ldb,
            table: name,
            name: 'all',
            kind: 'whole',
            lo: null,
            hi: null,
            node,
            physical: name,
            rows,
            bytes,
            scope,
          });
        }
        for (const c of children) {
          snap.partitions.push({
            source: src,
            database: ldb,
            table: name,
            name: c.name,
            ...parseBound(c.bound),
            node,
            physical: localName(c.schema, c.name),
            rows: Number(c.rows),
            bytes: Number(c.bytes),
            scope,
          });
        }
        if (r.kind === 'm' || r.kind === 'v') {
          const from = tableId({ source: src, database: ldb, name });
          const seen = new Set<string>();
          for (const d of depsOf(r)) {
            const to = refOf(d.tschema, d.tname);
            if (to === null || to === from || seen.has(to)) continue;
            seen.add(to);
            snap.lineage.push({ from: { label: 'Table', id: from }, to: { label: 'Table', id: to }, via: kind });
          }
        }
      }
    }
    // An edge may name a table this snapshot does not carry (another scope); applySnapshot
    // writes it only when both ends are in the graph.
    snap.lineage = dedupeLineage(snap.lineage);
    return snap;
  }

  async close(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((p) => p.end().catch(() => {})));
  }
}

function dedupeLineage(ls: LineageFact[]): LineageFact[] {
  const seen = new Set<string>();
  return ls.filter((l) => {
    const k = `${l.from.id}→${l.to.id}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
