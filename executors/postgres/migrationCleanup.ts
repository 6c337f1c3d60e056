/**
 * The change capture a migration installs on its sources, and the end of a range migration,
 * either way: the cleanup after a committed switch, and the rollback of one that did not switch
 * (target dropped or its copied rows deleted, bounds and routing claims restored).
 */
import type pg from 'pg';
import { quoteIdent } from '../../stores/identifiers.js';
import { keySql } from '../../stores/postgres/keySql.js';
import { q, sleep } from '../../stores/postgres/nodes.js';
import { tableExists } from './ddl.js';
import { type MigrationPlan, rangeWhere } from './migrationPlan.js';

/** Every client write to `physical` logs the row's `column` value in shardcast_local.changes (an earlier log is cleared). */
export async function installCapture(src: pg.Pool, physical: string, column: string): Promise<void> {
  const S = `public.${quoteIdent(physical)}`;
  await q(src, 'DELETE FROM shardcast_local.changes WHERE physical = $1', [physical]);
  await q(src, `DROP TRIGGER IF EXISTS shardcast_capture ON ${S}`);
  await q(
    src,
    `CREATE TRIGGER shardcast_capture AFTER INSERT OR UPDATE OR DELETE ON ${S} FOR EACH ROW EXECUTE FUNCTION shardcast_local.capture('${column}')`,
  );
}

/** Drops `physical`'s capture trigger and its logged changes. */
export async function removeCapture(src: pg.Pool, physical: string): Promise<void> {
  await q(src, `DROP TRIGGER IF EXISTS shardcast_capture ON public.${quoteIdent(physical)}`);
  await q(src, 'DELETE FROM shardcast_local.changes WHERE physical = $1', [physical]);
}

function sqlNames(p: MigrationPlan): { S: string; T: string; k: string; id: string } {
  return {
    id: quoteIdent(p.rowKey ?? p.keyColumn),
    S: `public.${quoteIdent(p.sourcePhysical)}`,
    T: `public.${quoteIdent(p.targetPhysical)}`,
    k: keySql(p.keyColumn, p.keyHash ?? false),
  };
}

/** After the switch: the capture trigger goes; split: the moved rows leave the source; move, merge: the retired source is dropped after the grace period. */
export async function cleanupSource(src: pg.Pool, p: MigrationPlan): Promise<void> {
  const { S, k, id } = sqlNames(p);
  await removeCapture(src, p.sourcePhysical);
  if (p.kind === 'split') {
    for (;;) {
      const del = await src.query(`DELETE FROM ${S} WHERE ${id} IN (SELECT ${id} FROM ${S} WHERE ${rangeWhere(k, 1)} LIMIT 5000)`, [
        p.lo,
        p.hi,
      ]);
      if ((del.rowCount ?? 0) === 0) break;
    }
  } else {
    // Readers that still hold the old route may read the retired source for a grace period.
    await sleep(p.graceMs);
    await q(src, `DROP TABLE IF EXISTS ${S} CASCADE`);
    await q(src, 'DELETE FROM shardcast_local.shards WHERE physical = $1', [p.sourcePhysical]);
  }
}

/** Undoes a migration that did not switch; returns a note on what could not be cleaned up. */
export async function rollbackMigration(db: { src: pg.Pool; tgt: pg.Pool; coord: pg.Pool }, p: MigrationPlan): Promise<string | null> {
  const { S, T, k } = sqlNames(p);
  const { src, tgt } = db;
  if (await tableExists(src, p.sourcePhysical)) {
    await q(src, `DROP TRIGGER IF EXISTS shardcast_capture ON ${S}`);
  }
  await q(src, 'DELETE FROM shardcast_local.changes WHERE physical = $1', [p.sourcePhysical]).catch(() => {});
  // The source owns its whole range again (undoes a fence committed before a failed switch).
  await q(src, `UPDATE shardcast_local.shards SET lo = $2, hi = $3, state = 'active' WHERE physical = $1`, [
    p.sourcePhysical,
    p.sourceLo,
    p.sourceHi,
  ]);
  let note: string | null = null;
  if (p.createTarget) {
    try {
      await q(tgt, `DROP TABLE IF EXISTS ${T} CASCADE`);
      await q(tgt, `DELETE FROM shardcast_local.shards WHERE physical = $1 AND state = 'pending'`, [p.targetPhysical]).catch(() => {});
    } catch (err) {
      // The new copy was never routed to: with its node down it harms nothing, and the next
      // migration to that node drops it (a 'pending' leftover). The routing is released below.
      note = `the unrouted copy ${p.targetPhysical} on ${p.targetNode} could not be dropped (${(err as Error).message}); the next migration there drops it`;
    }
  } else if (await tableExists(tgt, p.targetPhysical)) {
    // Merge: the target is a live shard; remove the rows copied into it and restore its bounds.
    await q(tgt, `DELETE FROM ${T} WHERE ${rangeWhere(k, 1)}`, [p.lo, p.hi]);
    await q(tgt, `UPDATE shardcast_local.shards SET lo = $2, hi = $3, state = 'active' WHERE physical = $1`, [
      p.targetPhysical,
      p.targetLo,
      p.targetHi,
    ]);
  }
  await q(
    db.coord,
    `UPDATE shardcast_route.ranges SET state = 'active', owner = NULL WHERE table_name = $1 AND shard = ANY($2) AND owner = $3`,
    [p.table, [p.sourceShard, p.targetShard], p.commandId],
  );
  return note;
}
