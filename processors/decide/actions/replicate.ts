/**
 * Replicate a read-hot partition (reads ≥ replicate.minReadFraction, one copy's peak above
 * replicate.minLoadFraction of a node, on a node running hot) to the node with the most room:
 * replicas share reads, writes go to every copy. De-replicate when the peak per copy stays
 * under replicate.dropLoadFraction for the whole horizon. No replica for a partition that would
 * stay over a node's capacity on every copy even with replicate.maxReplicas of them: that spreads
 * the overload over more nodes (each of them then violates) instead of removing it; for the same
 * reason such a partition's replicas are dropped when no split can cut it finer.
 */
import { StateError } from '../../../lib/errors.js';
import { GiB, zeroParts } from '../costModel.js';
import type { Effect, Scenario, ScenarioPartition } from '../scenario.js';
import { copiesOf } from '../state.js';
import {
  type Candidate,
  type InFlightEffect,
  type PlacementAction,
  type PlanContext,
  type PlannedOp,
  coolNodes,
  fmtPct,
  moveOp,
  hotNodes,
  partitionsOn,
  peakCopy,
  peakPerCopyWith,
  readFraction,
  storeKindOf,
} from './common.js';
import { copyIdTarget } from './move.js';
import { cuttingPoint } from './split.js';

export function planReplicas(ctx: PlanContext): Candidate[] {
  const { s, cfg } = ctx;
  const out: Candidate[] = [];
  for (const hot of hotNodes(s)) {
    for (const sp of partitionsOn(s, hot.node.id)) {
      if (sp.locked || sp.availableFrom > 0 || sp.replicas.length >= cfg.replicate.maxReplicas) continue;
      const rf = readFraction(sp);
      const peak = peakCopy(s, sp, hot.firstStep);
      if (rf < cfg.replicate.minReadFraction || peak < cfg.replicate.minLoadFraction * hot.node.capacity) continue;
      // With every replica allowed, would a copy still be over capacity? Then replicas spread the
      // overload over more nodes instead of removing it: each copy's node violates.
      if (peakPerCopyWith(sp, cfg.replicate.maxReplicas, hot.firstStep) > hot.node.capacity) continue;
      const exclude = new Set([sp.node, ...sp.replicas]);
      for (const t of coolNodes(s, exclude, hot.firstStep).slice(0, 2)) {
        const op = replicateOp(ctx, sp, t.id, Math.max(0, t.activeFrom));
        out.push({
          action: 'replicate',
          ops: [op],
          explanation: `replicate read-hot ${sp.id} (${fmtPct(rf)} reads, copy peak ${fmtPct(peak / hot.node.capacity)} of a node) to ${t.id}`,
          single: (sc) => replicateEffect(sc, sc.partitions.get(sp.id)!, t.id, op.startStep, op.finishStep),
          run(sc) {
            sc.commitEffect(this.single!(sc));
          },
        });
      }
    }
  }
  return out;
}

/**
 * Re-home a replica off a hot node: a new copy on a cool node first, then the copy on the hot
 * node dropped once the new one serves. A move carries only the primary, and the children of a
 * split keep their parent's copies, so the replicas of a hot range's pieces pile up on the nodes
 * the range was first copied to.
 */
export function planReplicaRehomes(ctx: PlanContext): Candidate[] {
  const { s, cfg } = ctx;
  const out: Candidate[] = [];
  for (const hot of hotNodes(s)) {
    if (hot.peakUtil <= 1) continue; // a copy of the whole range is worth it for overload, not for headroom
    const from = hot.node.id;
    for (const sp of s.partitions.values()) {
      if (sp.locked || sp.availableFrom > 0 || !sp.replicas.includes(from)) continue;
      const copy = peakCopy(s, sp, hot.firstStep);
      if (copy < cfg.replicate.dropLoadFraction * hot.node.capacity) continue; // too little to relieve
      for (const t of coolNodes(s, new Set([sp.node, ...sp.replicas]), hot.firstStep).slice(0, 2)) {
        if (s.peakUtil(t.id, hot.firstStep) + copy / t.capacity > s.targetUtil) continue; // or the copy makes the next hot node
        const add = replicateOp(ctx, sp, t.id, Math.max(0, t.activeFrom));
        const drop: PlannedOp = { ...dropOp(ctx, sp, from, add.finishStep), dependsOn: [0] };
        out.push({
          action: 'replicate',
          ops: [add, drop],
          explanation: `re-home the replica of ${sp.id} from ${from} (copy peak ${fmtPct(copy / hot.node.capacity)} of a node) to ${t.id}: copy there first, then drop the one on ${from}`,
          run(sc) {
            sc.commitEffect(replicateEffect(sc, sc.partitions.get(sp.id)!, t.id, add.startStep, add.finishStep));
            sc.commitEffect(dereplicateEffect(sc, sc.partitions.get(sp.id)!, from, drop.finishStep));
          },
        });
      }
    }
  }
  return out;
}

/** The replicate op of `sp` to `to`, starting at `start`. */
const replicateOp = (ctx: PlanContext, sp: ScenarioPartition, to: string, start: number): PlannedOp =>
  moveOp(ctx, sp, to, start, 'replicate');

/** The dereplicate op dropping `sp`'s copy on `node`, at `start`. */
export function dropOp(ctx: PlanContext, sp: ScenarioPartition, node: string, start: number): PlannedOp {
  return {
    kind: 'shard',
    action: 'dereplicate',
    store: sp.spec.store,
    storeKind: storeKindOf(ctx.state, sp.spec.store),
    table: sp.spec.table,
    partition: sp.id,
    // the node whose copy is dropped, as for replicate (schemas/commandParams.ts)
    sourceNode: null,
    targetNode: node,
    node: null,
    params: {},
    bytes: 0,
    durationMs: ctx.cfg.stepMs,
    startStep: start,
    finishStep: start + 1,
    dependsOn: [],
    target: sp.id,
  };
}

export function planDereplicas(ctx: PlanContext): Candidate[] {
  const { s, cfg } = ctx;
  const out: Candidate[] = [];
  for (const sp of s.partitions.values()) {
    if (sp.locked || !sp.replicas.length) continue;
    const cap = s.nodes.get(sp.node)!.capacity;
    const peak = peakCopy(s, sp);
    // hysteresis: what the copy would carry with one replica fewer must stay low too
    const copies = 1 + sp.replicas.length;
    let after = 0;
    for (let k = 0; k < s.steps; k++) after = Math.max(after, sp.read[k]! / (copies - 1) + sp.write[k]!);
    const cool = peak <= cfg.replicate.dropLoadFraction * cap && after <= 2 * cfg.replicate.dropLoadFraction * cap;
    if (!cool && !spreadsOverload(ctx, sp, cap)) continue;
    const drop = [...sp.replicas].sort((a, b) => s.peakUtil(b) - s.peakUtil(a))[0]!;
    const op = dropOp(ctx, sp, drop, 0);
    out.push({
      action: 'dereplicate',
      ops: [op],
      explanation: cool
        ? `drop the replica of ${sp.id} on ${drop}: copy peak ${fmtPct(peak / cap)} of a node, ${fmtPct(after / cap)} with one copy fewer`
        : `drop the replica of ${sp.id} on ${drop}: every copy stays over capacity (peak ${fmtPct(peak / cap)} of a node) even with ${cfg.replicate.maxReplicas} replicas and the range cannot be split, so copies only spread the overload`,
      single: (sc) => dereplicateEffect(sc, sc.partitions.get(sp.id)!, drop, 1),
      run(sc) {
        sc.commitEffect(this.single!(sc));
      },
    });
  }
  return out;
}

/**
 * A replicated range whose every copy stays over a node's capacity even with all the replicas
 * allowed, and that no split can cut finer: its replicas put a violating copy on each of their
 * nodes. (A range ahead of an insert frontier is replicated while cool, then the frontier fills it.)
 */
function spreadsOverload(ctx: PlanContext, sp: ScenarioPartition, capacity: number): boolean {
  if (peakPerCopyWith(sp, ctx.cfg.replicate.maxReplicas) <= capacity) return false;
  return cuttingPoint(ctx, sp) === null;
}

export function replicateEffect(
  sc: Scenario,
  sp: ScenarioPartition,
  to: string,
  start: number,
  finish: number,
  countAction = true,
): Effect {
  const deltas = new Map<string, Float64Array>();
  sc.addOverhead(deltas, sp.node, start, finish);
  sc.addOverhead(deltas, to, start, finish);
  const k0 = 1 + sp.replicas.length;
  for (let k = Math.max(finish, sp.availableFrom); k < sc.steps; k++) {
    for (const c of [sp.node, ...sp.replicas]) sc.deltaFor(deltas, c)[k]! += sp.read[k]! / (k0 + 1) - sp.read[k]! / k0;
    sc.deltaFor(deltas, to)[k]! += sp.read[k]! / (k0 + 1) + sp.write[k]!;
  }
  const parts = zeroParts();
  parts.gbMoved = sp.sizeBytes / GiB;
  parts.actions = countAction ? 1 : 0;
  parts.storageGbMinutes = (sp.sizeBytes / GiB) * Math.max(0, sc.steps - finish) * sc.stepMin;
  return {
    deltas,
    parts,
    commit: () => {
      sp.replicas = [...sp.replicas, to];
      sp.locked = true;
    },
  };
}

export function dereplicateEffect(sc: Scenario, sp: ScenarioPartition, node: string, finish: number): Effect {
  const deltas = new Map<string, Float64Array>();
  const k0 = 1 + sp.replicas.length;
  for (let k = Math.max(finish, sp.availableFrom); k < sc.steps; k++) {
    for (const c of [sp.node, ...sp.replicas]) {
      if (c === node) sc.deltaFor(deltas, c)[k]! -= sp.read[k]! / k0 + sp.write[k]!;
      else sc.deltaFor(deltas, c)[k]! += sp.read[k]! / (k0 - 1) - sp.read[k]! / k0;
    }
  }
  const parts = zeroParts();
  parts.actions = 1;
  parts.storageGbMinutes = -(sp.sizeBytes / GiB) * Math.max(0, sc.steps - finish) * sc.stepMin;
  return {
    deltas,
    parts,
    commit: () => {
      sp.replicas = sp.replicas.filter((r) => r !== node);
      sp.locked = true;
    },
  };
}

/** A replication in flight: the new copy takes its share of reads from `finish`. */
export const replicateInFlight: InFlightEffect = (s, f, sp, finish) => {
  if (sp && f.targetNode && s.nodes.has(f.targetNode)) s.commitEffect(replicateEffect(s, sp, f.targetNode, 0, finish, false));
};

export const replicateAction: PlacementAction<'shard'> = {
  kind: 'shard',
  plan: (ctx) => [...planReplicas(ctx), ...planReplicaRehomes(ctx)],
  inFlight: replicateInFlight,
  idTarget: copyIdTarget,
  related: () => [],
  movesData: true,
  apply({ part, node, replace }, cmd) {
    const p = part(cmd.partition);
    const to = node(cmd.targetNode);
    if (copiesOf(p).includes(to.id)) throw new StateError(`replicate: ${p.id} already has a copy on ${to.id}`);
    replace(p.id, [{ ...p, replicas: [...(p.replicas ?? []), to.id] }]);
  },
};

export const dereplicateAction: PlacementAction<'shard'> = {
  kind: 'shard',
  plan: planDereplicas,
  idTarget: (op) => `${op.table}/${op.partition}-${op.targetNode}`,
  related: () => [],
  reverses: 'replicate',
  movesData: false,
  apply({ part, replace }, cmd) {
    const p = part(cmd.partition);
    const from = cmd.sourceNode ?? cmd.targetNode;
    if (!from || !(p.replicas ?? []).includes(from)) throw new StateError(`dereplicate: ${p.id} has no replica on ${from}`);
    const replicas = (p.replicas ?? []).filter((r) => r !== from);
    replace(p.id, [{ ...p, replicas: replicas.length ? replicas : undefined }]);
  },
};
