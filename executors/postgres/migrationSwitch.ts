/**
 * What each kind of range migration (split, merge, move) changes at its switch: the routing map
 * entries (inside the version-bumping transaction), the source's and target's local shard state
 * (the guard's fence), and how to tell afterwards whether the routing change committed.
 */
import { StateError } from '../../lib/errors.js';
import type pg from 'pg';
import { q, type Queryable } from '../../stores/postgres/nodes.js';
import { type MigrationPlan, mergedBounds } from './migrationPlan.js';

/** The routing change each kind makes, inside the version-bumping transaction. */
export async function routeChange(c: pg.PoolClient, p: MigrationPlan, v: number): Promise<void> {
  const owned = await q(c, 'SELECT 1 FROM shardcast_route.ranges WHERE table_name = $1 AND shard = $2 AND owner = $3', [
    p.table,
    p.sourceShard,
    p.commandId,
  ]);
  if (owned.length === 0) throw new StateError(`shard ${p.sourceShard} is no longer claimed by ${p.commandId}`);
  if (p.kind === 'split') {
    await c.query(`UPDATE shardcast_route.ranges SET hi = $3, version = $4, state = 'active' WHERE table_name = $1 AND shard = $2`, [
      p.table,
      p.sourceShard,
      p.lo,
      v,
    ]);
    await c.query(
      `INSERT INTO shardcast_route.ranges (table_name, shard, lo, hi, node, version, state, owner) VALUES ($1, $2, $3, $4, $5, $6, 'active', $7)`,
      [p.table, p.targetShard, p.lo, p.hi, p.targetNode, v, p.commandId],
    );
  } else if (p.kind === 'move') {
    await c.query(`UPDATE shardcast_route.ranges SET node = $3, version = $4, state = 'active' WHERE table_name = $1 AND shard = $2`, [
      p.table,
      p.sourceShard,
      p.targetNode,
      v,
    ]);
  } else {
    const [lo, hi] = mergedBounds(p);
    await c.query('DELETE FROM shardcast_route.ranges WHERE table_name = $1 AND shard = $2', [p.table, p.sourceShard]);
    await c.query(
      `UPDATE shardcast_route.ranges SET lo = $3, hi = $4, version = $5, state = 'active' WHERE table_name = $1 AND shard = $2`,
      [p.table, p.targetShard, lo, hi, v],
    );
  }
}

/** The source stops taking client writes for the moved range (split: narrowed; move, merge: retired). */
export async function fenceSource(S: Queryable, p: MigrationPlan): Promise<void> {
  if (p.kind === 'split') {
    await q(S, 'UPDATE shardcast_local.shards SET hi = $2 WHERE physical = $1', [p.sourcePhysical, p.lo]);
  } else {
    await q(S, `UPDATE shardcast_local.shards SET state = 'retired' WHERE physical = $1`, [p.sourcePhysical]);
  }
}

/** The target takes client writes for its new range. */
export async function activateTarget(T: Queryable, p: MigrationPlan): Promise<void> {
  if (p.kind === 'merge') {
    const [lo, hi] = mergedBounds(p);
    await q(T, `UPDATE shardcast_local.shards SET lo = $2, hi = $3, state = 'active' WHERE physical = $1`, [p.targetPhysical, lo, hi]);
  } else {
    await q(T, `UPDATE shardcast_local.shards SET lo = $2, hi = $3, state = 'active' WHERE physical = $1`, [p.targetPhysical, p.lo, p.hi]);
  }
}

/** Whether the routing map already shows the plan's change (its switch committed). */
export async function routingSwitched(coord: Queryable, p: MigrationPlan): Promise<boolean> {
  const rows = await q<{ shard: string; node: string; hi: string | null; lo: string | null }>(
    coord,
    'SELECT shard, node, lo::text, hi::text FROM shardcast_route.ranges WHERE table_name = $1 AND shard = ANY($2)',
    [p.table, [p.sourceShard, p.targetShard]],
  );
  const src = rows.find((r) => r.shard === p.sourceShard);
  const tgt = rows.find((r) => r.shard === p.targetShard);
  if (p.kind === 'split') return !!tgt && src?.hi === p.lo;
  if (p.kind === 'move') return src?.node === p.targetNode;
  return !src && !!tgt;
}
