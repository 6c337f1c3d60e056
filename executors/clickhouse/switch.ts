/**
 * The end of a ClickHouse repartition, apart from its copy: putting the original back (rollback,
 * and recovery after a crash, driven by which of the command's work tables exist), telling
 * whether the switch happened, and the cleanup after it. The adapter uses these to resume or
 * roll back a command a crashed executor left in flight.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { StateError } from '../../lib/errors.js';
import { quoteQualified } from '../../stores/identifiers.js';
import { normalizeKey } from './checks.js';
import type { ChStore } from './store.js';

/** The table and the work tables of one repartition command (names from checks.workNames). */
export interface WorkTables {
  db: string;
  table: string;
  shadow: string;
  old: string;
  gate: string;
}

/**
 * Puts the original table back under its name and removes this command's work tables.
 * Idempotent, and driven by what exists: safe to call after a crash at any point before the
 * switch. Throws (leaving everything in place) when the state is not one this run can produce.
 */
export async function restoreOriginal(store: ChStore, n: WorkTables): Promise<void> {
  const q = (x: string) => quoteQualified(n.db, x);
  const src = await store.engineOf(n.db, n.table);
  const old = await store.engineOf(n.db, n.old);
  if (old !== null) {
    if (src === 'View') {
      // The read gate stands in for the table: swap the original back in one statement.
      await store.exec(`RENAME TABLE ${q(n.table)} TO ${q(n.gate)}, ${q(n.old)} TO ${q(n.table)}`);
    } else if (src === null) {
      await store.exec(`RENAME TABLE ${q(n.old)} TO ${q(n.table)}`);
    } else {
      throw new StateError(`cannot restore ${n.db}.${n.table}: both it (${src}) and ${n.old} exist; left for an operator`);
    }
  }
  if ((await store.engineOf(n.db, n.gate)) === 'View') await store.exec(`DROP TABLE ${q(n.gate)}`);
  if ((await store.engineOf(n.db, n.shadow)) !== null) await store.exec(`DROP TABLE ${q(n.shadow)}`);
  if ((await store.engineOf(n.db, n.table)) !== null) await store.exec(`SYSTEM START MERGES ${q(n.table)}`);
}

/** Has this command's switch happened (the table has the new key and the shadow is gone)? */
export async function switched(store: ChStore, n: WorkTables & { keyCanonical: string }): Promise<boolean> {
  if ((await store.engineOf(n.db, n.shadow)) !== null) return false;
  const meta = await store.tableMeta(n.db, n.table);
  if (!meta || meta.engine === 'View') return false;
  return normalizeKey(meta.partitionKey) === normalizeKey(n.keyCanonical) && (await store.engineOf(n.db, n.old)) !== null;
}

/** After the switch: gate dropped, merges back on, the old table dropped after the grace period or kept. */
export async function finishSwitch(
  store: ChStore,
  n: WorkTables & { graceMs: number; keepOld: boolean },
  signal: AbortSignal,
): Promise<Record<string, string>> {
  const q = (x: string) => quoteQualified(n.db, x);
  const details: Record<string, string> = {};
  const warn: string[] = [];
  const attempt = async (what: string, f: () => Promise<void>) => {
    try {
      await f();
    } catch (err) {
      warn.push(`${what}: ${(err as Error).message.split('\n')[0]}`);
    }
  };
  await attempt('drop gate', async () => {
    if ((await store.engineOf(n.db, n.gate)) === 'View') await store.exec(`DROP TABLE ${q(n.gate)}`);
  });
  await attempt('start merges', () => store.exec(`SYSTEM START MERGES ${q(n.table)}`));
  if ((await store.engineOf(n.db, n.old)) !== null) {
    if (n.keepOld) {
      await attempt('start merges on old', () => store.exec(`SYSTEM START MERGES ${q(n.old)}`));
      details.old = `${n.db}.${n.old} (kept)`;
    } else {
      if (n.graceMs > 0 && !signal.aborted) await sleep(n.graceMs, undefined, { signal }).catch(() => {});
      await attempt('drop old', () => store.exec(`DROP TABLE ${q(n.old)}`));
      details.old = warn.some((w) => w.startsWith('drop old')) ? `${n.db}.${n.old} (drop failed)` : 'dropped';
    }
  }
  if (warn.length > 0) details.warning = warn.join('; ');
  return details;
}
