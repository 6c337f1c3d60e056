/**
 * Scale in, when the forecast upper bound allows: the whole cluster's upper-bound load must fit
 * under scale.scaleInUtil on the nodes that remain, at every step of the horizon, and the
 * victim's copies must be placed so that each node taking one stays under it too (drain.ts).
 * Scale-out acts on the risk-adjusted plan above targetUtil, so the band between the two, the
 * forecast's uncertainty and the whole-horizon check are the hysteresis. Victims with the fewest
 * bytes to drain go first (the drain is the scale-in's own lead time and its data moved), beside
 * those with the lowest planned peak.
 */
import { StateError } from '../../../lib/errors.js';
import { zeroParts } from '../costModel.js';
import type { Effect, Scenario, ScenarioNode, ScenarioPartition } from '../scenario.js';
import { copiesOf } from '../state.js';
import {
  type Candidate,
  type InFlightEffect,
  type PlacementAction,
  type PlanContext,
  type PlannedOp,
  fmtPct,
  freeMoveSlots,
  moveOp,
  storeKindOf,
} from './common.js';
import { type DrainStep, drainPlan } from './drain.js';
import { moveEffect } from './move.js';
import { dereplicateEffect, dropOp } from './replicate.js';
import { splitEffect, splitOpOf } from './split.js';

/**
 * The node to remove and its drain plan, or null: the planner's costliest search, so it is made
 * once per scenario in a round (PlanContext.reuse). The plan names partitions by id.
 */
function drainSearch(ctx: PlanContext, limit: number): { victimId: string; plan: DrainStep[]; heldCount: number } | null {
  const { s, cfg } = ctx;
  const active = [...s.nodes.values()].filter((n) => n.activeUntil >= s.steps && n.activeFrom === 0);
  if (active.length <= cfg.scale.minNodes) return null;
  // Victims: the few with the fewest bytes to drain (the drain is the scale-in's lead time and
  // its data moved) and the few with the lowest planned peak (a node the hot load has left: its
  // copies fit elsewhere, where a small node a hot range has just reached fits nowhere); the
  // first that drains wins (0132).
  const bytesOn = new Map<string, number>();
  for (const p of s.partitions.values()) for (const nid of [p.node, ...p.replicas]) bytesOn.set(nid, (bytesOn.get(nid) ?? 0) + p.sizeBytes);
  const fixed = new Set(s.state.nodes.filter((n) => n.removable === false).map((n) => n.id));
  const ranked = active
    .filter((n) => !fixed.has(n.id))
    .map((n) => ({ n, bytes: bytesOn.get(n.id) ?? 0, load: n.load.reduce((a, b) => a + b, 0), peak: s.peakUtil(n.id, 0) }));
  const byBytes = [...ranked].sort((a, b) => a.bytes - b.bytes || a.load - b.load || (a.n.id < b.n.id ? -1 : 1)).slice(0, 3);
  const byPeak = [...ranked].sort((a, b) => a.peak - b.peak || a.bytes - b.bytes || (a.n.id < b.n.id ? -1 : 1)).slice(0, 3);
  const order = [...new Set([...byBytes, ...byPeak].map((x) => x.n))];
  // The cluster as a whole first: the forecast upper bound of all load must fit under `limit`
  // on the nodes that would remain, at every step (a node is not removed while load elsewhere
  // needs its room).
  const total = new Float64Array(s.steps);
  for (const n of s.nodes.values()) {
    const u = s.upperLoad(n.id);
    for (let k = 0; k < s.steps; k++) total[k]! += u[k]!;
  }
  const roomWithout = (victimId: string) => {
    for (let k = 0; k < s.steps; k++) {
      let cap = 0;
      for (const n of s.nodes.values()) if (n.id !== victimId && k >= n.activeFrom && k < n.activeUntil) cap += limit * n.capacity;
      if (total[k]! > cap) return false;
    }
    return true;
  };
  let victim: ScenarioNode | null = null;
  let plan: DrainStep[] | null = null;
  let held: ScenarioPartition[] = [];
  for (const v of order) {
    if (!roomWithout(v.id)) continue;
    held = [...s.partitions.values()].filter((p) => p.node === v.id || p.replicas.includes(v.id));
    if (held.some((p) => p.locked || p.availableFrom > 0)) continue;
    plan = drainPlan(ctx, s, v.id, held, limit);
    if (plan) {
      victim = v;
      break;
    }
  }
  if (!victim || !plan) return null;
  return { victimId: victim.id, plan, heldCount: held.length };
}

export function planScaleIn(ctx: PlanContext): Candidate[] {
  const { cfg } = ctx;
  const limit = cfg.scale.scaleInUtil;
  const search = () => drainSearch(ctx, limit);
  const found = ctx.reuse ? ctx.reuse('scale-in', search) : search();
  if (!found) return [];
  const { victimId, plan, heldCount } = found;
  const victim = { id: victimId };
  const splits = plan.filter((d) => d.split).length;
  const evictions = plan.filter((d) => d.from !== victim.id).length;
  const store = ctx.state.nodeById.get(victim.id)?.store ?? ctx.state.nodes[0]?.store ?? 'default';
  const cand: Candidate = {
    action: 'scale_in',
    ops: [],
    explanation: `scale in ${victim.id}: drain ${heldCount} partition copies${splits ? ` (${splits} split to fit)` : ''}${evictions ? ` (${evictions} more moved to make room)` : ''}; the nodes taking them stay under ${fmtPct(limit)} of capacity at the forecast upper bound over the horizon`,
    run(sc) {
      const ops: PlannedOp[] = [];
      const opOf: number[] = [];
      let last = 0;
      for (const step of plan) {
        const sp = sc.partitions.get(step.p.id)!;
        if (step.split) {
          const { at, leftShare } = step.split;
          const { splitOp, leftId, rightId, leftLoad, bytesFrac } = splitOpOf(ctx, sp, at, leftShare);
          const deps = step.after.map((i) => opOf[i]!).sort((a, b) => a - b);
          const start = deps.reduce((m, i) => Math.max(m, ops[i]!.finishStep), 0);
          opOf.push(ops.length);
          ops.push({ ...splitOp, startStep: start, finishStep: start + 1, dependsOn: deps });
          sc.commitEffect(splitEffect(sc, sp, at, leftId, rightId, leftLoad, bytesFrac, start + 1));
          last = Math.max(last, start + 1);
        } else if (step.to === null) {
          opOf.push(ops.length);
          ops.push(dropOp(ctx, sp, victim.id, 0));
          sc.commitEffect(dereplicateEffect(sc, sp, victim.id, 1));
          last = Math.max(last, 1);
        } else {
          // at most the free move slots at once; a copy moving onto a node that makes room for it
          // waits for the copies leaving that node
          const c = freeMoveSlots(ctx, 0);
          const moves = ops.filter((o) => o.action === 'move');
          const gate = moves.length >= c ? moves[moves.length - c]! : null;
          const deps = [...new Set([...(gate ? [ops.indexOf(gate)] : []), ...step.after.map((i) => opOf[i]!)])].sort((a, b) => a - b);
          const start = deps.reduce((m, i) => Math.max(m, ops[i]!.finishStep), 0);
          const mv = moveOp(ctx, sp, step.to, start, 'move', deps);
          opOf.push(ops.length);
          ops.push(mv);
          sc.commitEffect(moveEffect(sc, sp, step.to, mv.startStep, mv.finishStep));
          last = Math.max(last, mv.finishStep);
        }
      }
      ops.push({
        kind: 'resource',
        action: 'scale_in',
        store,
        storeKind: storeKindOf(ctx.state, store),
        table: null,
        partition: null,
        sourceNode: null,
        targetNode: null,
        node: victim.id,
        params: {},
        bytes: 0,
        durationMs: cfg.stepMs,
        startStep: last,
        finishStep: last + 1,
        dependsOn: ops.map((_, i) => i),
        target: victim.id,
      });
      sc.commitEffect(scaleInEffect(sc, victim.id, last + 1));
      this.ops = ops;
    },
  };
  return [cand];
}

/** Remove a node at `at` (its copies must be moved off by then). */
export function scaleInEffect(sc: Scenario, nodeId: string, at: number): Effect {
  const n = sc.nodes.get(nodeId)!;
  const parts = zeroParts();
  parts.actions = 1;
  parts.nodeMinutes = -(Math.max(0, n.activeUntil - at) + sc.tailSteps) * sc.stepMin;
  sc.pendingNode.set(nodeId, { ...n, activeUntil: Math.min(n.activeUntil, at) });
  return {
    deltas: new Map([[nodeId, new Float64Array(sc.steps)]]),
    parts,
    commit: (s) => {
      s.nodes.get(nodeId)!.activeUntil = Math.min(n.activeUntil, at);
    },
  };
}

/**
 * A scale-in in flight: the node serves until the drain finishes, and while a copy is still on
 * it (the executor removes a node only after the moves it waits for): a drain move due after
 * the scale-in's expected end would otherwise leave load on a node without capacity, which the
 * planners read as an overload to scale out for.
 */
export const scaleInInFlight: InFlightEffect = (s, f, _sp, finish) => {
  const n = f.node ? s.nodes.get(f.node) : undefined;
  if (!n) return;
  let loadedUntil = 0;
  for (let k = 0; k < s.steps; k++) if (n.load[k]! > 1e-9) loadedUntil = k + 1;
  n.activeUntil = Math.min(s.steps, Math.max(finish, loadedUntil));
};

export const scaleInAction: PlacementAction<'resource'> = {
  kind: 'resource',
  plan: planScaleIn,
  inFlight: scaleInInFlight,
  removesNode: true,
  idTarget: (op) => `${op.store}/${op.node}`,
  related: () => [],
  // undoes a scale_out only when it removes that node: removing another, cold node replaces
  // capacity where the load went (the planner checked the rest against the forecast upper bound)
  reverses: 'scale_out',
  movesData: false,
  apply({ state, input, node }, cmd) {
    const n = node(cmd.node);
    const held = state.partitions.filter((p) => copiesOf(p).includes(n.id));
    if (held.length) throw new StateError(`scale_in: node ${n.id} still holds ${held.length} partition copies`);
    input.nodes = input.nodes.filter((x) => x.id !== n.id);
  },
};
