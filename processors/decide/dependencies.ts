/**
 * Commands that wait for others: the engine names them in the `dependsOn` parameter; the
 * pipeline holds such a command until every one it depends on has succeeded in the executors'
 * ledger, and drops it when one did not succeed or its own deadline passed. A released data move
 * goes out only while it fits the move limits beside the moves running (safety.ts): the moves
 * that fill a new node all wait on its scale-out, and would otherwise all start together.
 */
import type { AnyCommand } from '../../schemas/types.js';
import { DATA_MOVE_ACTIONS } from './actions/registry.js';
import { type MoveLimits, moveLimitBreach } from './safety.js';

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
 * dependencies arrived (`settled`: ids of commands with a final result in this batch), one's
 * deadline passed, or a command finished while a ready move waits for a slot. Otherwise nothing about them can have changed, and the ledger is not read.
 */
export function heldCheckDue(held: Iterable<AnyCommand>, settled: ReadonlySet<string>, now: number, waitingForSlot = false): boolean {
  // a finished command may be a move whose slot a ready one waits for
  if (waitingForSlot && settled.size > 0) return true;
  for (const c of held) {
    if (now > c.deadline) return true;
    if (dependsOn(c).some((d) => settled.has(d))) return true;
  }
  return false;
}

/**
 * Of the held commands whose dependencies succeeded (`ready`, in the order they were held),
 * those that go out now beside `running` data moves: every command that moves no data, and each
 * data move while one more fits the limits. The other moves wait for a slot, and are dropped
 * once their own deadline has passed.
 */
export function releaseWithinMoveLimits(
  ready: readonly AnyCommand[],
  running: number,
  limits: MoveLimits,
  now: number,
): { release: AnyCommand[]; waiting: AnyCommand[]; expired: AnyCommand[] } {
  const release: AnyCommand[] = [],
    waiting: AnyCommand[] = [],
    expired: AnyCommand[] = [];
  let moves = running;
  for (const c of ready) {
    if (!DATA_MOVE_ACTIONS.has(c.action)) release.push(c);
    else if (moveLimitBreach(moves, 1, limits) === null) {
      release.push(c);
      moves++;
    } else if (now > c.deadline) expired.push(c);
    else waiting.push(c);
  }
  return { release, waiting, expired };
}
