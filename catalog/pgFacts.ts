/**
 * The PostgreSQL shard nodes' catalog rows (read by pg.ts) turned into catalog facts: sharded
 * tables and their range shards from the routing map, and each node's own tables, declarative
 * partitions, views and materialized views with their lineage. Pure: no connection here.
 */
import { reportedKey } from '../schemas/keyBuckets.js';
import { physicalName } from '../stores/postgres/keys.js';
import type { TableRoutes } from '../stores/postgres/routing.js';
import { tableId, type LineageFact, type PartitionFact, type TableFact } from './graph.js';
import type { Snapshot } from './snapshot.js';

/** A relation of a node's pg_class (REL_SQL in pg.ts). */
export interface RelRow {
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

/** A view's or materialized view's dependency on a relation (DEP_SQL in pg.ts). */
export interface DepRow {
  vschema: string;
  vname: string;
  tschema: string;
  tname: string;
}

/** What one node's catalog answered. */
export interface NodeCatalog {
  rels: RelRow[];
  deps: DepRow[];
  /** Physical shard tables the node's shard registry lists. */
  registered: Set<string>;
  latency: number;
}

/** The parts of a snapshot the facts go into. */
type Facts = Pick<Snapshot, 'tables' | 'partitions' | 'lineage'>;

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

/** Sharded tables and their shards, with size and rows of each shard's physical table on its primary. */
export function addShardedTables(
  snap: Facts,
  routes: readonly TableRoutes[],
  perNode: ReadonlyMap<string, NodeCatalog>,
  ids: { source: string; database: string },
): void {
  const src = ids.source;
  const db = ids.database;
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
      partitionKey: reportedKey(r.keyColumn, r.keyHash),
      ...(known ? { rows, bytes } : {}),
      scope,
    });
  }
}

/**
 * Node-local objects, and views over shard tables (scoped to the sharded table they read);
 * with `onlyOver`, only the views over that sharded table.
 */
export function addNodeLocalObjects(
  snap: Facts,
  perNode: ReadonlyMap<string, NodeCatalog>,
  shardOf: ReadonlyMap<string, { table: string; shard: string }>,
  ids: { source: string; database: string; localDb: (node: string) => string },
  onlyOver: string | undefined,
): void {
  const src = ids.source;
  const db = ids.database;
  const localDb = ids.localDb;
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
      if (onlyOver !== undefined && viewOver !== onlyOver) continue;
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
}

/** Lineage edges without repeats. */
export function dedupeLineage(ls: LineageFact[]): LineageFact[] {
  const seen = new Set<string>();
  return ls.filter((l) => {
    const k = `${l.from.id}→${l.to.id}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
