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
 *
 * This file reads the nodes; pgFacts.ts turns what they answered into facts.
 */
import { newPgPool } from '../stores/postgres/pool.js';
import type pg from 'pg';
import { listNodes, loadRoutes, type NodeInfo, type TableRoutes } from '../stores/postgres/routing.js';
import { physicalName } from '../stores/postgres/keys.js';
import { configNodes } from '../stores/postgres/nodes.js';
import { addNodeLocalObjects, addShardedTables, dedupeLineage, type DepRow, type NodeCatalog, type RelRow } from './pgFacts.js';
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
      p = newPgPool({
        connectionString: url,
        max: 2,
        idleTimeoutMillis: 10_000,
        connectionTimeoutMillis: this.opts.connectTimeoutMs ?? 3_000,
        application_name: 'shardcast-catalog',
        // A catalog read must not queue behind a migration's exclusive lock for long.
        options: '-c lock_timeout=2000 -c statement_timeout=20000',
      });
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
    const perNode = new Map<string, NodeCatalog>();
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

    addShardedTables(snap, routes, perNode, { source: src, database: db });
    addNodeLocalObjects(snap, perNode, shardOf, { source: src, database: db, localDb }, target.table);
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
