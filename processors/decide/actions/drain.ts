/**
 * The drain plan of a scale-in: where each copy on the node to remove goes so that every node
 * taking one stays under scale.scaleInUtil at its forecast upper bound (Scenario.upperLoad) over
 * the whole horizon: best-fit decreasing, with one level of making room, else the copy split in
 * halves, at most twice, placed the same way.
 */
import type { Scenario, ScenarioPartition } from '../scenario.js';
import { type PlanContext, peakCopy } from './common.js';
import { moveEffect } from './move.js';
import { dereplicateEffect } from './replicate.js';
import { cuttingPoint, splitEffect, splitOpOf } from './split.js';

/**
 * One step of a drain: a copy to move (to = null: drop a replica), or a partition to split in
 * place (split set: its children are placed by the steps after it), after other steps.
 */
export interface DrainStep {
  p: ScenarioPartition;
  /** Node the copy moves from (the victim, or a node making room). */
  from: string;
  to: string | null;
  /** Indices of steps that must finish first (copies moved off `to` to make room, the split that made this copy). */
  after: number[];
  split?: { at: number; leftShare: number };
}

/** Upper-bound timelines on a trial copy of the scenario, cached per node. */
class UpperView {
  private readonly cache = new Map<string, Float64Array>();
  constructor(
    readonly sc: Scenario,
    private readonly limit: number,
  ) {}
  fork(): UpperView {
    const v = new UpperView(this.sc.clone(), this.limit);
    for (const [k, a] of this.cache) v.cache.set(k, a);
    return v;
  }
  private upper(nid: string): Float64Array {
    let u = this.cache.get(nid);
    if (!u) {
      u = this.sc.upperLoad(nid);
      this.cache.set(nid, u);
    }
    return u;
  }
  peak(nid: string, add?: Float64Array, sub?: Float64Array): number {
    const n = this.sc.nodes.get(nid)!,
      u = this.upper(nid);
    let m = 0;
    for (let k = n.activeFrom; k < this.sc.steps; k++) m = Math.max(m, (u[k]! + (add ? add[k]! : 0) - (sub ? sub[k]! : 0)) / n.capacity);
    return m;
  }
  fits(nid: string, add: Float64Array): boolean {
    return this.peak(nid, add) <= this.limit;
  }
  /** What a copy adds to a node at its upper bound (its planned load plus its own margin). */
  copyUpper(p: ScenarioPartition): Float64Array {
    const add = new Float64Array(this.sc.steps);
    const copies = 1 + p.replicas.length;
    for (let k = p.availableFrom; k < this.sc.steps; k++) {
      const planned = p.read[k]! + p.write[k]!;
      const rf = planned > 0 ? p.read[k]! / planned : this.sc.cfg.readFractionDefault;
      add[k] = Math.max(p.upper[k]!, planned) * (rf / copies + (1 - rf));
    }
    return add;
  }
  /** Best fit: the fullest node (not excluded) that still takes the copy under the limit. */
  bestFit(add: Float64Array, exclude: ReadonlySet<string>): string | null {
    let best: string | null = null,
      bestU = -1;
    for (const n of this.sc.nodes.values()) {
      if (exclude.has(n.id) || n.activeFrom !== 0 || n.activeUntil < this.sc.steps) continue;
      const u = this.peak(n.id, add);
      if (u <= this.limit && (u > bestU + 1e-12 || (Math.abs(u - bestU) <= 1e-12 && best !== null && n.id < best))) {
        best = n.id;
        bestU = u;
      }
    }
    return best;
  }
  invalidate(...nodes: string[]): void {
    for (const n of nodes) this.cache.delete(n);
  }
  move(p: ScenarioPartition, to: string): void {
    const from = p.node;
    this.sc.commitEffect(moveEffect(this.sc, p, to, 0, 1, false));
    this.cache.delete(from);
    this.cache.delete(to);
  }
}

/** Splits per drained copy, at most (a copy becomes at most 2^SPLIT_DEPTH pieces). */
const SPLIT_DEPTH = 2;

/**
 * Drain plan for `victimId` on a copy of the scenario, or null when some copy cannot be placed
 * so that every node taking one stays under `limit` at its forecast upper bound over the whole
 * horizon. Copies go biggest first, each to the fullest node that still takes it (best-fit
 * decreasing, the classic bin-packing heuristic). When a copy fits nowhere because the spare
 * room is spread thinly over many nodes, one node is made room on: its smallest copies move to
 * other nodes first (one level of eviction, so a drain stays a few moves, not a reshuffle);
 * failing that, the copy is split at its forecast-weighted point and its halves placed the
 * same way (a cluster balanced by earlier splits and moves has its spare room in slivers no
 * whole partition fits).
 */
export function drainPlan(ctx: PlanContext, s: Scenario, victimId: string, held: ScenarioPartition[], limit: number): DrainStep[] | null {
  let view = new UpperView(s.clone(), limit);
  const plan: DrainStep[] = [];
  const heldIds = new Set(held.map((p) => p.id));
  const { cfg } = ctx;
  const counts = new Map<string, number>();
  for (const p of s.partitions.values()) counts.set(p.spec.table, (counts.get(p.spec.table) ?? 0) + 1);
  const place = (id: string, after: number[], depth: number): boolean => {
    const tp = view.sc.partitions.get(id)!;
    const add = view.copyUpper(tp);
    const exclude = new Set([victimId, ...tp.replicas]);
    const to = view.bestFit(add, exclude);
    if (to) {
      view.move(tp, to);
      plan.push({ p: tp, from: victimId, to, after });
      return true;
    }
    // make room on one of the least-loaded nodes
    const hosts = [...view.sc.nodes.values()]
      .filter((n) => !exclude.has(n.id) && n.activeFrom === 0 && n.activeUntil >= view.sc.steps)
      .map((n) => ({ id: n.id, u: view.peak(n.id) }))
      .sort((a, b) => a.u - b.u || (a.id < b.id ? -1 : 1))
      .slice(0, 3);
    for (const host of hosts) {
      const trial = view.fork();
      const evicted: DrainStep[] = [];
      const movable = [...trial.sc.partitions.values()]
        .filter((q) => q.node === host.id && !q.replicas.length && !q.locked && q.availableFrom === 0 && !heldIds.has(q.id))
        .map((q) => ({ q, add: trial.copyUpper(q) }))
        .sort((a, b) => peakOf(a.add) - peakOf(b.add) || (a.q.id < b.q.id ? -1 : 1));
      for (const { q, add: qAdd } of movable) {
        if (trial.fits(host.id, add)) break;
        const dest = trial.bestFit(qAdd, new Set([victimId, host.id]));
        if (!dest) continue;
        trial.move(q, dest);
        evicted.push({ p: q, from: host.id, to: dest, after: [] });
      }
      if (!evicted.length || !trial.fits(host.id, add)) continue;
      view = trial;
      const first = plan.length;
      plan.push(...evicted);
      view.move(view.sc.partitions.get(id)!, host.id);
      plan.push({ p: tp, from: victimId, to: host.id, after: [...after, ...evicted.map((_, i) => first + i)] });
      return true;
    }
    // split it and place the halves
    if (depth >= SPLIT_DEPTH || !cfg.actions.includes('split') || tp.replicas.length || tp.sizeBytes < cfg.split.minSizeBytes) return false;
    if ((counts.get(tp.spec.table) ?? 0) >= cfg.split.maxPartitionsPerTable) return false;
    const point = cuttingPoint(ctx, tp);
    if (!point) return false;
    const saved = { view, len: plan.length };
    view = view.fork();
    const { leftId, rightId, leftLoad, bytesFrac } = splitOpOf(ctx, tp, point.at, point.leftShare);
    view.sc.commitEffect(splitEffect(view.sc, view.sc.partitions.get(id)!, point.at, leftId, rightId, leftLoad, bytesFrac, 1));
    view.invalidate(victimId);
    plan.push({ p: tp, from: victimId, to: null, after, split: point });
    const si = plan.length - 1;
    counts.set(tp.spec.table, (counts.get(tp.spec.table) ?? 0) + 1);
    const halves = [leftId, rightId].sort(
      (a, b) => peakOf(view.copyUpper(view.sc.partitions.get(b)!)) - peakOf(view.copyUpper(view.sc.partitions.get(a)!)),
    );
    if (halves.every((h) => place(h, [si], depth + 1))) return true;
    counts.set(tp.spec.table, (counts.get(tp.spec.table) ?? 0) - 1);
    view = saved.view;
    plan.length = saved.len;
    return false;
  };
  for (const p of [...held].sort((a, b) => peakCopy(s, b) - peakCopy(s, a) || (a.id < b.id ? -1 : 1))) {
    const tp = view.sc.partitions.get(p.id)!;
    if (tp.replicas.includes(victimId)) {
      // the other copies take the replica's share of reads
      const rest = [tp.node, ...tp.replicas.filter((r) => r !== victimId)];
      view.sc.commitEffect(dereplicateEffect(view.sc, tp, victimId, 1));
      view.invalidate(...rest);
      if (rest.some((r) => view.peak(r) > limit)) return null;
      plan.push({ p, from: victimId, to: null, after: [] });
      continue;
    }
    if (!place(p.id, [], 0)) return null;
  }
  return plan;
}

function peakOf(a: Float64Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, v);
  return m;
}
