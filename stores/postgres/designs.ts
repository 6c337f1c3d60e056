/**
 * The registry of physical designs the executor made on a logical table
 * (`shardcast_route.designs` on the coordinator): precomputations to re-create after a migration
 * and for the routing client to read, derived columns for the client to use.
 */
import { q, type Queryable } from './nodes.js';

export type DesignKind = 'precompute' | 'derived';

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
