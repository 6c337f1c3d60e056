/**
 * Commands that wait for others: the engine names them in the `dependsOn` parameter; the
 * pipeline holds such a command until every one it depends on has succeeded in the executors'
 * ledger, and drops it when one did not succeed or its own deadline passed. A released data move
 * goes out only while it fits the move limits beside the moves running (safety.ts): the moves
 * that fill a new node all wait on its scale-out, and would otherwise all start together.
 */
import { commandPlace } from '../../schemas/commandPlace.js';
import type { AnyCommand } from '../../schemas/types.js';
import { DATA_MOVE_ACTIONS, relatedIds } from './actions/registry.js';
import { type MoveLimits, moveLimitBreach } from './safety.js';
import type { ClusterState } from './state.js';

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
 * deadline passed, or a command finished while a ready move waits for a slot. Otherwise nothing
 * about them can have changed, and the ledger is not read.
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

/**
 * Commands wait for the commands that make what they name: a copy onto a node still being added
 * waits for the scale-out adding it (issued in this round, or in flight), and a command on a
 * partition named by another command of this round (the registry's `related` ids: a split's
 * halves, a merge's result and the partner it consumes) waits for that command. The executors
 * refuse a copy onto a node that is not active yet and a command on a partition that does not
 * exist yet; a candidate's own ops already name theirs, other candidates of the round planned on
 * the same scenario do not. A copy onto a node that is neither known nor being added is left
 * out (`orphans`), with the node it names; one provisioned by something other than a command
 * is left to the executors.
 */
export function awaitCreators(
  commands: readonly AnyCommand[],
  state: Pick<ClusterState, 'nodeById' | 'inFlight'>,
): { commands: AnyCommand[]; orphans: { command: AnyCommand; node: string }[] } {
  const addingNode = new Map<string, string>(); // node id → the scale-out adding it
  for (const f of state.inFlight) {
    const id = f.targetNode ?? f.node;
    if (f.action === 'scale_out' && id) addingNode.set(id, f.commandId);
  }
  const creating = new Map<string, string>(); // partition id → the command of this round making it
  for (const c of commands) {
    const { partition, targetNode } = commandPlace(c);
    if (c.action === 'scale_out' && targetNode) addingNode.set(targetNode, c.commandId);
    for (const p of relatedIds(c.action, c.params)) if (p !== partition) creating.set(p, c.commandId);
  }
  const out: AnyCommand[] = [],
    orphans: { command: AnyCommand; node: string }[] = [];
  for (const c of commands) {
    const { partition, targetNode } = commandPlace(c);
    const waitFor: string[] = [];
    if (targetNode && DATA_MOVE_ACTIONS.has(c.action)) {
      const node = state.nodeById.get(targetNode);
      const adder = addingNode.get(targetNode);
      if (!node && !adder) {
        orphans.push({ command: c, node: targetNode });
        continue;
      }
      if (adder && (!node || node.status === 'provisioning')) waitFor.push(adder);
    }
    const maker = partition ? creating.get(partition) : undefined;
    if (maker && maker !== c.commandId) waitFor.push(maker);
    const deps = dependsOn(c);
    const more = waitFor.filter((d) => !deps.includes(d));
    out.push(more.length ? { ...c, params: { ...c.params, dependsOn: [...deps, ...more].join(',') } } : c);
  }
  return { commands: out, orphans };
}
