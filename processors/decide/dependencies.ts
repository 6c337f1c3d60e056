/**
 * Commands that wait for others: the engine names them in the `dependsOn` parameter; the
 * pipeline holds such a command until every one it depends on has succeeded in the executors'
 * ledger, and drops it when one did not succeed or its own deadline passed.
 */
import type { AnyCommand } from '../../schemas/types.js';

/** Ids of the commands `c` must wait for (the engine's `dependsOn` parameter). */
export const dependsOn = (c: AnyCommand): string[] => (c.params.dependsOn ?? '').split(',').filter(Boolean);

/** Final ledger statuses other than success. */
export const UNSUCCESSFUL = new Set(['FAILED', 'ROLLED_BACK', 'REJECTED']);

export type HeldVerdict =
  | { commandId: string; verdict: 'release' }
  | { commandId: string; verdict: 'drop-failed'; failed: string[] }
  | { commandId: string; verdict: 'drop-deadline' }
  | { commandId: string; verdict: 'wait' };

/** What to do with each held command, given the ledger status of the commands it depends on. */
export function judgeHeld(held: Iterable<AnyCommand>, status: ReadonlyMap<string, string>, now: number): HeldVerdict[] {
  const out: HeldVerdict[] = [];
  for (const c of held) {
    const deps = dependsOn(c);
    const st = deps.map((d) => status.get(d));
    const failed = deps.filter((_, i) => UNSUCCESSFUL.has(st[i] ?? ''));
    if (failed.length > 0) out.push({ commandId: c.commandId, verdict: 'drop-failed', failed });
    else if (st.every((x) => x === 'SUCCEEDED')) out.push({ commandId: c.commandId, verdict: 'release' });
    else if (now > c.deadline) out.push({ commandId: c.commandId, verdict: 'drop-deadline' });
    else out.push({ commandId: c.commandId, verdict: 'wait' });
  }
  return out;
}

/**
 * Whether the held commands need a look at the ledger now: a result that settles one of their
 * dependencies arrived (`settled`: ids of commands with a final result in this batch), or one's
 * deadline passed. Otherwise nothing about them can have changed, and the ledger is not read.
 */
export function heldCheckDue(held: Iterable<AnyCommand>, settled: ReadonlySet<string>, now: number): boolean {
  for (const c of held) {
    if (now > c.deadline) return true;
    if (dependsOn(c).some((d) => settled.has(d))) return true;
  }
  return false;
}
