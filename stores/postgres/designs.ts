/**
 * The registry of physical designs the executor made on a logical table
 * (`shardcast_route.designs` on the coordinator): composite indexes and precomputations to
 * re-create after a migration (and for the decide stage to know they exist), precomputations for
 * the routing client to read, derived columns for the client to use.
 */
import { q, type Queryable } from './nodes.js';

export type DesignKind = 'precompute' | 'derived' | 'index';

/** A composite index on every shard table of a logical table. */
export interface IndexSpec {
  columns: string[];
}

/** The registry name of a composite index (its shard tables' index names add the shard). */
export const indexDesignName = (columns: readonly string[]) => `idx_${columns.join('_')}`;

/** Every design of these tables, by table: what the decide stage plans around. */
export async function loadTableDesigns(
  db: Queryable,
  tables: readonly string[],
): Promise<Map<string, { kind: DesignKind; name: string; spec: unknown }[]>> {
  const out = new Map<string, { kind: DesignKind; name: string; spec: unknown }[]>();
  if (tables.length === 0) return out;
  const rows = await q<{ table_name: string; kind: DesignKind; name: string; spec: unknown }>(
    db,
    'SELECT table_name, kind, name, spec FROM shardcast_route.designs WHERE table_name = ANY($1) ORDER BY table_name, kind, name',
    [tables],
  );
  for (const r of rows) {
    const list = out.get(r.table_name) ?? [];
    list.push({ kind: r.kind, name: r.name, spec: r.spec });
    out.set(r.table_name, list);
  }
  return out;
}

export async function recordDesign(db: Queryable, table: string, kind: DesignKind, name: string, spec: object): Promise<void> {
  await q(
    db,
    `INSERT INTO shardcast_route.designs (table_name, kind, name, spec) VALUES ($1, $2, $3, $4)
     ON CONFLICT (table_name, kind, name) DO UPDATE SET spec = EXCLUDED.spec`,
    [table, kind, name, JSON.stringify(spec)],
  );
}

export async function loadDesigns<T>(db: Queryable, table: string, kind: DesignKind): Promise<T[]> {
  const rows = await q<{ spec: T }>(db, `SELECT spec FROM shardcast_route.designs WHERE table_name = $1 AND kind = $2 ORDER BY name`, [
    table,
    kind,
  ]);
  return rows.map((r) => r.spec);
}

/** The designs as the decide stage plans around them: indexed columns, precomputed aggregates. */
export function existingDesigns(
  byTable: ReadonlyMap<string, { kind: DesignKind; name: string; spec: unknown }[]>,
): Map<string, { indexes: string[][]; precomputed: { groupBy: string; value: string | null }[]; derived: string[] }> {
  const out = new Map<string, { indexes: string[][]; precomputed: { groupBy: string; value: string | null }[]; derived: string[] }>();
  for (const [table, designs] of byTable) {
    const indexes = designs.filter((d) => d.kind === 'index').map((d) => (d.spec as IndexSpec).columns);
    const precomputed = designs
      .filter((d) => d.kind === 'precompute')
      .map((d) => d.spec as { groupBy: string; value: string | null })
      .map((p) => ({ groupBy: p.groupBy, value: p.value }));
    // the executor writes `lower("email")`; the workload's name for it is `lower(email)`
    const derived = designs
      .filter((d) => d.kind === 'derived')
      .map((d) => String((d.spec as { sql?: string }).sql ?? '').replaceAll('"', ''));
    out.set(table, { indexes, precomputed, derived });
  }
  return out;
}
