/**
 * Scale out: add a node early enough that it is provisioned and the partitions moved to it
 * have arrived before the forecast load (the candidate's critical path is provisioning plus
 * the moves, which queue behind the free data-move slots; the planner defers it until that
 * lead time is due). The new node is filled from the hot nodes: of the copies that fit, the
 * smallest that brings a hot node back to target, else the most load per byte moved; when no
 * copy on a hot node fits (a range merged while cold, hot again), the biggest is split at its
 * forecast-weighted point and the half that fits moves.
 *
 * Scale in, when the forecast upper bound allows: the whole cluster's upper-bound load must fit
 * under scale.scaleInUtil on the nodes that remain, at every step of the horizon, and the
 * victim's copies must be placed so that each node taking one stays under it too
 * (Scenario.upperLoad; best-fit decreasing, with one level of making room, else the copy split
 * in halves, at most twice, placed the same way). Scale-out acts on
 * the risk-adjusted plan above targetUtil, so the band between the two, the forecast's
 * uncertainty and the whole-horizon check are the hysteresis. Victims with the fewest bytes
 * to drain go first (the drain is the scale-in's own lead time and its data moved).
 */
import { type Scenario, type ScenarioNode, type ScenarioPartition, subRangeLoad } from '../costModel.js';
import { splitOpOf, splitPoint } from './split.js';
import {
  type Candidate,
  type PlanContext,
  type PlannedOp,
  durationSteps,
  fmtPct,
  freeMoveSlots,
  hotNodes,
  moveOp,
  partitionsOn,
  peakCopy,
  storeKindOf,
} from './common.js';

/** The next free `<prefix><k>` name: the executors name shard nodes node0, node1, ... */
function newNodeId(ctx: PlanContext, s: Scenario, _salt: string): string {
  for (let i = s.nodes.size; ; i++) {
    const id = `${ctx.cfg.scale.nodePrefix}${i}`;
    if (!s.nodes.has(id)) return id;
  }
}

export function planScaleOut(ctx: PlanContext): Candidate[] {
  const { s, cfg } = ctx;
  const hot = hotNodes(s);
  const active = [...s.nodes.values()].filter((n) => n.activeUntil >= s.steps);
  if (!hot.length || active.length >= cfg.scale.maxNodes) return [];
  const template = s.state.nodes[0];
  const capacity = cfg.scale.nodeCapacity ?? template?.capacity ?? active[0]!.capacity;
  const store = template?.store ?? 'default';
  const storeKind = storeKindOf(ctx.state, store);
  const nodeId = newNodeId(ctx, s, `${s.nodes.size}`);
  const ready = durationSteps(cfg.provisioningMs, cfg.stepMs);
  const scaleOp: PlannedOp = {
    kind: 'resource',
    action: 'scale_out',
    store,
    storeKind,
    table: null,
    partition: null,
    sourceNode: null,
    targetNode: null,
    node: nodeId,
    params: { nodeId, capacity: String(capacity) },
    bytes: 0,
    durationMs: cfg.provisioningMs,
    startStep: 0,
    finishStep: ready,
    dependsOn: [],
    target: nodeId,
  };
  const worst = hot[0]!;
  let planned: PlannedOp[] | null = null;
  const cand: Candidate = {
    action: 'scale_out',
    ops: [scaleOp],
    explanation: `scale out ${nodeId}: ${worst.node.id} forecast at ${fmtPct(worst.peakUtil)} of capacity from step ${worst.firstStep + 1}, provisioning ${Math.round(cfg.provisioningMs / 1000)}s ahead`,
    run(sc) {
      sc.commitEffect(sc.scaleOutEffect(nodeId, capacity, 0, ready));
      if (planned) {
        // the same ops again (the planner re-runs a chosen candidate on its reference scenario,
        // whose target may differ from the one the fill was planned against)
        for (const op of planned.slice(1)) {
          if (op.action === 'split') {
            const p = sc.partitions.get(op.partition!)!,
              at = Number(op.params.splitAt);
            sc.commitEffect(
              sc.splitEffect(
                p,
                at,
                op.params.leftId!,
                op.params.rightId!,
                subRangeLoad(ctx.profile, p.spec, p.spec.lo, at),
                Number(op.params.leftFraction),
                1,
              ),
            );
          } else {
            sc.commitEffect(sc.moveEffect(sc.partitions.get(op.partition!)!, nodeId, op.startStep, op.finishStep));
          }
        }
        this.ops = planned;
        return;
      }
      const ops: PlannedOp[] = [scaleOp];
      // Fill the new node from the hottest nodes, up to target.
      for (let round = 0; round < 8; round++) {
        const hs = hotNodes(sc).filter((h) => h.node.id !== nodeId);
        if (!hs.length || sc.peakUtil(nodeId, ready) >= sc.targetUtil * 0.9) break;
        let moved = false;
        for (const h of hs) {
          const room = sc.targetUtil * capacity - sc.nodes.get(nodeId)!.load.reduce((m, v, k) => (k >= ready ? Math.max(m, v) : m), 0);
          // Lead time is migration time: of the copies that fit, the smallest one that brings
          // the hot node back to target, else the one with the most load per byte moved.
          const need = (h.peakUtil - sc.targetUtil) * h.node.capacity;
          const fits = partitionsOn(sc, h.node.id)
            .filter((p) => !p.locked && p.availableFrom <= ready)
            .map((p) => ({ p, peak: peakCopy(sc, p, ready) }))
            .filter((x) => x.peak > 0 && x.peak <= room);
          const enough = fits
            .filter((x) => x.peak >= need)
            .sort((a, b) => a.p.sizeBytes - b.p.sizeBytes || a.peak - b.peak || (a.p.id < b.p.id ? -1 : 1));
          let pick: ScenarioPartition | undefined = (
            enough[0] ?? fits.sort((a, b) => b.peak / b.p.sizeBytes - a.peak / a.p.sizeBytes || (a.p.id < b.p.id ? -1 : 1))[0]
          )?.p;
          const deps = [0];
          if (!pick) {
            // every copy on the hot node is too big for the new node's room (ranges merged while
            // cold, now hot): split one and move the half that fits
            const sp = splitToFit(ctx, sc, h.node.id, room, need, ready, ops);
            if (!sp) continue;
            pick = sp.child;
            deps.push(sp.splitIndex);
          }
          const c = freeMoveSlots(ctx, ready);
          const moves = ops.filter((o) => o.kind === 'shard');
          const gate = moves.length >= c ? moves[moves.length - c]! : null;
          if (gate) deps.push(ops.indexOf(gate));
          const start = Math.max(ready, gate ? gate.finishStep : 0, pick.availableFrom);
          const mv = moveOp(
            ctx,
            pick,
            nodeId,
            start,
            'move',
            deps.sort((a, b) => a - b),
          );
          ops.push(mv);
          sc.commitEffect(sc.moveEffect(pick, nodeId, mv.startStep, mv.finishStep));
          moved = true;
          break;
        }
        if (!moved) break;
      }
      planned = ops;
      this.ops = ops;
    },
  };
  return [cand];
}

/**
 * For a scale-out's fill: the partition on `nodeId` that is too big to fit `room` on the new
 * node, split at its forecast-weighted point so that one child fits (the child closest to
 * `need` among those that fit, biggest parents first). The split is committed to `sc` and its
 * op appended to `ops`; null when no partition splits that way.
 */
function splitToFit(
  ctx: PlanContext,
  sc: Scenario,
  nodeId: string,
  room: number,
  need: number,
  ready: number,
  ops: PlannedOp[],
): { child: ScenarioPartition; splitIndex: number } | null {
  const { cfg } = ctx;
  if (!cfg.actions.includes('split')) return null;
  const counts = new Map<string, number>();
  for (const p of sc.partitions.values()) counts.set(p.spec.table, (counts.get(p.spec.table) ?? 0) + 1);
  const big = partitionsOn(sc, nodeId)
    .filter(
      (p) =>
        !p.locked &&
        p.availableFrom === 0 &&
        !p.replicas.length &&
        p.sizeBytes >= cfg.split.minSizeBytes &&
        (counts.get(p.spec.table) ?? 0) < cfg.split.maxPartitionsPerTable,
    )
    .map((p) => ({ p, peak: peakCopy(sc, p, ready) }))
    .filter((x) => x.peak > room)
    .sort((a, b) => b.peak - a.peak || (a.p.id < b.p.id ? -1 : 1));
  for (const { p, peak } of big) {
    const point = splitPoint(ctx, p);
    if (!point || point.leftShare <= 0.02 || point.leftShare >= 0.98) continue;
    const sides = [
      { left: true, peak: point.leftShare * peak },
      { left: false, peak: (1 - point.leftShare) * peak },
    ]
      .filter((x) => x.peak <= room)
      .sort((a, b) => (a.peak >= need ? 0 : 1) - (b.peak >= need ? 0 : 1) || (a.peak >= need ? a.peak - b.peak : b.peak - a.peak));
    const side = sides[0];
    if (!side) continue;
    const { splitOp, leftId, rightId, leftLoad, bytesFrac } = splitOpOf(ctx, p, point.at, point.leftShare);
    sc.commitEffect(sc.splitEffect(p, point.at, leftId, rightId, leftLoad, bytesFrac, 1));
    ops.push(splitOp);
    return { child: sc.partitions.get(side.left ? leftId : rightId)!, splitIndex: ops.length - 1 };
  }
  return null;
}

/**
 * One step of a drain: a copy to move (to = null: drop a replica), or a partition to split in
 * place (split set: its children are placed by the steps after it), after other steps.
 */
interface DrainStep {
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
    this.sc.commitEffect(this.sc.moveEffect(p, to, 0, 1, false));
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
function drainPlan(ctx: PlanContext, s: Scenario, victimId: string, held: ScenarioPartition[], limit: number): DrainStep[] | null {
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
    const point = splitPoint({ profile: ctx.profile }, tp);
    if (!point || point.leftShare <= 0.02 || point.leftShare >= 0.98) return false;
    const saved = { view, len: plan.length };
    view = view.fork();
    const { leftId, rightId, leftLoad, bytesFrac } = splitOpOf(ctx, tp, point.at, point.leftShare);
    view.sc.commitEffect(view.sc.splitEffect(view.sc.partitions.get(id)!, point.at, leftId, rightId, leftLoad, bytesFrac, 1));
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
      view.sc.commitEffect(view.sc.dereplicateEffect(tp, victimId, 1));
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

export function planScaleIn(ctx: PlanContext): Candidate[] {
  const { s, cfg } = ctx;
  const active = [...s.nodes.values()].filter((n) => n.activeUntil >= s.steps && n.activeFrom === 0);
  if (active.length <= cfg.scale.minNodes) return [];
  const limit = cfg.scale.scaleInUtil;
  // Victims: fewest bytes to drain first (the drain is the scale-in's lead time and its data
  // moved), then least planned load; the first few are tried, the first that drains wins.
  const bytesOn = new Map<string, number>();
  for (const p of s.partitions.values()) for (const nid of [p.node, ...p.replicas]) bytesOn.set(nid, (bytesOn.get(nid) ?? 0) + p.sizeBytes);
  const fixed = new Set(s.state.nodes.filter((n) => n.removable === false).map((n) => n.id));
  const order = active
    .filter((n) => !fixed.has(n.id))
    .map((n) => ({ n, bytes: bytesOn.get(n.id) ?? 0, load: n.load.reduce((a, b) => a + b, 0) }))
    .sort((a, b) => a.bytes - b.bytes || a.load - b.load || (a.n.id < b.n.id ? -1 : 1))
    .slice(0, 5)
    .map((x) => x.n);
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
  if (!victim || !plan) return [];
  const splits = plan.filter((d) => d.split).length;
  const evictions = plan.filter((d) => d.from !== victim!.id).length;
  const store = ctx.state.nodeById.get(victim.id)?.store ?? ctx.state.nodes[0]?.store ?? 'default';
  const cand: Candidate = {
    action: 'scale_in',
    ops: [],
    explanation: `scale in ${victim.id}: drain ${held.length} partition copies${splits ? ` (${splits} split to fit)` : ''}${evictions ? ` (${evictions} more moved to make room)` : ''}; the nodes taking them stay under ${fmtPct(limit)} of capacity at the forecast upper bound over the horizon`,
    run(sc) {
      const ops: PlannedOp[] = [];
      const opOf: number[] = [];
      let last = 0;
      for (const step of plan!) {
        const sp = sc.partitions.get(step.p.id)!;
        if (step.split) {
          const { at, leftShare } = step.split;
          const { splitOp, leftId, rightId, leftLoad, bytesFrac } = splitOpOf(ctx, sp, at, leftShare);
          const deps = step.after.map((i) => opOf[i]!).sort((a, b) => a - b);
          const start = deps.reduce((m, i) => Math.max(m, ops[i]!.finishStep), 0);
          opOf.push(ops.length);
          ops.push({ ...splitOp, startStep: start, finishStep: start + 1, dependsOn: deps });
          sc.commitEffect(sc.splitEffect(sp, at, leftId, rightId, leftLoad, bytesFrac, start + 1));
          last = Math.max(last, start + 1);
        } else if (step.to === null) {
          opOf.push(ops.length);
          ops.push({
            kind: 'shard',
            action: 'dereplicate',
            store: sp.spec.store,
            storeKind: storeKindOf(ctx.state, sp.spec.store),
            table: sp.spec.table,
            partition: sp.id,
            sourceNode: victim.id,
            targetNode: null,
            node: null,
            params: {},
            bytes: 0,
            durationMs: cfg.stepMs,
            startStep: 0,
            finishStep: 1,
            dependsOn: [],
            target: sp.id,
          });
          sc.commitEffect(sc.dereplicateEffect(sp, victim.id, 1));
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
          sc.commitEffect(sc.moveEffect(sp, step.to, mv.startStep, mv.finishStep));
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
      sc.commitEffect(sc.scaleInEffect(victim.id, last + 1));
      this.ops = ops;
    },
  };
  return [cand];
}
