/**
 * Introspection of the ClickHouse server (source kind 'warehouse'): every database but the
 * system ones, its tables and views from system.tables, their active parts from system.parts
 * summed per partition (rows, bytes on disk), and lineage from the dependencies of
 * materialized views (system.tables.dependencies_*: the view derives from its source table)
 * and from `TO <target>` clauses (the target derives from the view). The implicit storage
 * table of a materialized view (`.inner.<view>`) is folded into the view. The queries take no
 * input, so nothing is ever spliced into SQL (18.16 has no query parameters over HTTP).
 *
 * Scopes: `ch/<db>/<table>/` per table, `ch-nodes/` for the server. ClickHouse is read whole on
 * every discovery: it is two queries.
 */
import { createClickHouse, type ClickHouseClient } from '../stores/clickhouse/client.js';
import type { Config } from '../lib/config.js';
import { tableId, type LineageFact } from './graph.js';
import type { Snapshot } from './snapshot.js';
import type { SourceDiscovery } from './source.js';

export const CH_SOURCE = 'clickhouse';

const SYSTEM_DBS = `('system', 'INFORMATION_SCHEMA', 'information_schema')`;

interface TableRow {
  database: string;
  name: string;
  engine: string;
  partition_key: string;
  dd: string[];
  dt: string[];
  q: string;
}

interface PartRow {
  database: string;
  table: string;
  pid: string;
  value: string;
  rows: string;
  bytes: string;
}

/** The `db.name` of a materialized view's `TO` target, from its CREATE statement. */
export function mvTarget(createQuery: string, defaultDb: string): { db: string; name: string } | null {
  const m = /^CREATE MATERIALIZED VIEW\s+\S+\s+TO\s+(`[^`]+`|[A-Za-z0-9_]+)(?:\.(`[^`]+`|[A-Za-z0-9_.]+))?/i.exec(createQuery);
  if (!m) return null;
  const strip = (s: string) => s.replace(/^`|`$/g, '');
  return m[2] !== undefined ? { db: strip(m[1]!), name: strip(m[2]) } : { db: defaultDb, name: strip(m[1]!) };
}

export function endpointOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '?';
  }
}

export class ClickHouseDiscovery implements SourceDiscovery {
  readonly kind = 'clickhouse' as const;
  readonly source: string;
  private readonly ch: ClickHouseClient;

  constructor(
    private readonly cfg: Pick<Config, 'clickhouseUrl' | 'clickhouseUser' | 'clickhousePassword'>,
    private readonly opts: { source?: string; costPerGbMonth?: number } = {},
  ) {
    this.source = opts.source ?? CH_SOURCE;
    this.ch = createClickHouse(cfg);
  }

  private async rows<T>(query: string): Promise<T[]> {
    const rs = await this.ch.query({ query, format: 'JSONEachRow' });
    return (await rs.json()) as T[];
  }

  async snapshot(): Promise<Snapshot> {
    const src = this.source;
    const t0 = performance.now();
    const [info] = await this.rows<{ v: string; h: string }>('SELECT version() AS v, hostName() AS h');
    const latency = Math.round((performance.now() - t0) * 100) / 100;
    const host = info?.h ?? 'server';
    const [dbs, tables, parts] = await Promise.all([
      this.rows<{ name: string }>(`SELECT name FROM system.databases WHERE name NOT IN ${SYSTEM_DBS}`),
      this.rows<TableRow>(
        `SELECT database, name, engine, partition_key, dependencies_database AS dd, dependencies_table AS dt, create_table_query AS q
         FROM system.tables WHERE database NOT IN ${SYSTEM_DBS} AND is_temporary = 0`,
      ),
      this.rows<PartRow>(
        `SELECT database, table, partition_id AS pid, any(partition) AS value, sum(rows) AS rows, sum(bytes_on_disk) AS bytes
         FROM system.parts WHERE active AND database NOT IN ${SYSTEM_DBS} GROUP BY database, table, partition_id`,
      ),
    ]);
    const snap: Snapshot = {
      source: {
        id: src,
        kind: 'warehouse',
        engine: 'clickhouse',
        version: info?.v,
        endpoint: endpointOf(this.cfg.clickhouseUrl),
        latencyMs: latency,
        costPerGbMonth: this.opts.costPerGbMonth,
      },
      scopes: ['ch/', 'ch-nodes/'],
      nodes: [{ name: host, endpoint: endpointOf(this.cfg.clickhouseUrl), state: 'active', latencyMs: latency, scope: 'ch-nodes/' }],
      databases: dbs.map((d) => ({ name: d.name, node: host, scope: `ch/${d.name}/` })),
      tables: [],
      partitions: [],
      topics: [],
      lineage: [],
      unreachable: [],
    };
    const key = (db: string, name: string) => `${db}\u0000${name}`;
    const byName = new Map(tables.map((t) => [key(t.database, t.name), t]));
    // `.inner.<mv>` holds a materialized view's rows: its parts are the view's.
    const storageOf = (t: TableRow): TableRow | undefined =>
      t.engine === 'MaterializedView' ? byName.get(key(t.database, `.inner.${t.name}`)) : undefined;
    const folded = new Set(tables.filter((t) => storageOf(t) !== undefined).map((t) => key(t.database, `.inner.${t.name}`)));
    const partsOf = new Map<string, PartRow[]>();
    for (const p of parts) partsOf.set(key(p.database, p.table), [...(partsOf.get(key(p.database, p.table)) ?? []), p]);
    const present = new Set<string>();
    for (const t of tables) {
      if (folded.has(key(t.database, t.name))) continue;
      const scope = `ch/${t.database}/${t.name}/`;
      const storage = storageOf(t) ?? t;
      const ps = partsOf.get(key(storage.database, storage.name)) ?? [];
      const kind = t.engine === 'MaterializedView' ? 'materialized_view' : t.engine === 'View' ? 'view' : 'table';
      const partitionKey = storage.partition_key || null;
      snap.tables.push({
        source: src,
        database: t.database,
        name: t.name,
        kind,
        engine: t.engine,
        partitionKey,
        rows: ps.reduce((a, p) => a + Number(p.rows), 0),
        bytes: ps.reduce((a, p) => a + Number(p.bytes), 0),
        scope,
      });
      present.add(key(t.database, t.name));
      for (const p of ps) {
        snap.partitions.push({
          source: src,
          database: t.database,
          table: t.name,
          name: p.pid,
          kind: p.pid === 'all' ? 'whole' : 'value',
          value: p.value,
          lo: null,
          hi: null,
          node: host,
          rows: Number(p.rows),
          bytes: Number(p.bytes),
          physical: `${storage.database}.${storage.name}`,
          scope,
        });
      }
    }
    const id = (db: string, name: string) => tableId({ source: src, database: db, name });
    const lineage: LineageFact[] = [];
    for (const t of tables) {
      if (!present.has(key(t.database, t.name))) continue;
      t.dt.forEach((name, i) => {
        const db = t.dd[i] ?? t.database;
        if (present.has(key(db, name)))
          lineage.push({
            from: { label: 'Table', id: id(db, name) },
            to: { label: 'Table', id: id(t.database, t.name) },
            via: 'materialized_view',
          });
      });
      if (t.engine === 'MaterializedView') {
        const to = mvTarget(t.q, t.database);
        if (to && present.has(key(to.db, to.name)))
          lineage.push({
            from: { label: 'Table', id: id(to.db, to.name) },
            to: { label: 'Table', id: id(t.database, t.name) },
            via: 'mv_target',
          });
      }
    }
    snap.lineage = lineage;
    return snap;
  }

  async close(): Promise<void> {
    await this.ch.close();
  }
}
