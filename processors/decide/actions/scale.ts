/**
 * Scale out: add a node early enough that it is provisioned and the partitions moved to it
 * have arrived before the forecast load (the candidate's critical path is provisioning plus
 * the moves; the planner defers it until that lead time is due). Scale in: drain the node with
 * the least load onto the others, only if every remaining node's planned peak stays under
 * scale.scaleInUtil (hysteresis below targetUtil), then remove it.
 */
import type { Scenario, ScenarioPartition } from '../costModel.js';
import { stableHash } from '../ids.js';
import { type Candidate, type PlanContext, type PlannedOp, coolNodes, durationSteps, fmtPct, hotNodes, moveOp, partitionsOn, peakCopy, storeKindOf } from './common.js';

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
    kind: 'resource', action: 'scale_out', store, storeKind, table: null, partition: null, sourceNode: null, targetNode: null,
    node: nodeId, params: { nodeId, capacity: String(capacity) }, bytes: 0, durationMs: cfg.provisioningMs,
    startStep: 0, finishStep: ready, dependsOn: [], target: nodeId,
  };
  const worst = hot[0]!;
  const cand: Candidate = {
    action: 'scale_out',
    ops: [scaleOp],
    explanation: `scale out ${nodeId}: ${worst.node.id} forecast at ${fmtPct(worst.peakUtil)} of capacity from step ${worst.firstStep + 1}, provisioning ${Math.round(cfg.provisioningMs / 1000)}s ahead`,
    run(sc) {
      sc.commitEffect(sc.scaleOutEffect(nodeId, capacity, 0, ready));
      const ops: PlannedOp[] = [scaleOp];
      // Fill the new node from the hottest nodes, biggest relief first, up to target.
      for (let round = 0; round < 8; round++) {
        const hs = hotNodes(sc).filter((h) => h.node.id !== nodeId);
        if (!hs.length || sc.peakUtil(nodeId, ready) >= sc.targetUtil * 0.9) break;
        let moved = false;
        for (const h of hs) {
          const room = sc.targetUtil * capacity - sc.nodes.get(nodeId)!.load.reduce((m, v, k) => (k >= ready ? Math.max(m, v) : m), 0);
          const pick = partitionsOn(sc, h.node.id)
            .filter((p) => !p.locked && p.availableFrom <= ready)
            .map((p) => ({ p, peak: peakCopy(sc, p, ready) }))
            .filter((x) => x.peak > 0 && x.peak <= room)
            .sort((a, b) => b.peak - a.peak || (a.p.id < b.p.id ? -1 : 1))[0];
          if (!pick) continue;
          const c = Math.max(1, cfg.safety.maxConcurrentMoves - ctx.state.inFlight.length);
          const moves = ops.filter((o) => o.kind === 'shard');
          const gate = moves.length >= c ? moves[moves.length - c]! : null;
          const start = gate ? Math.max(ready, gate.finishStep) : ready;
          const mv = moveOp(ctx, pick.p, nodeId, start, 'move', gate ? [0, ops.indexOf(gate)] : [0]);
          ops.push(mv);
          sc.commitEffect(sc.moveEffect(pick.p, nodeId, mv.startStep, mv.finishStep));
          moved = true;
          break;
        }
        if (!moved) break;
      }
      this.ops = ops;
    },
  };
  return [cand];
}

export function planScaleIn(ctx: PlanContext): Candidate[] {
  const { s, cfg } = ctx;
  const active = [...s.nodes.values()].filter((n) => n.activeUntil >= s.steps && n.activeFrom === 0);
  if (active.length <= cfg.scale.minNodes) return [];
  if (hotNodes(s).length) return [];
  const victim = active
    .map((n) => ({ n, load: n.load.reduce((a, b) => a + b, 0) }))
    .sort((a, b) => a.load - b.load || (a.n.id < b.n.id ? -1 : 1))[0]!.n;
  const held = [...s.partitions.values()].filter((p) => p.node === victim.id || p.replicas.includes(victim.id));
  if (held.some((p) => p.locked || p.availableFrom > 0)) return [];
  // Feasibility with hysteresis, on a copy: every remaining node's peak stays under scaleInUtil.
  const trial = s.clone();
  const limit = cfg.scale.scaleInUtil;
  const plan: { p: ScenarioPartition; to: string | null }[] = [];
  for (const p of held.sort((a, b) => peakCopy(s, b) - peakCopy(s, a))) {
    const tp = trial.partitions.get(p.id)!;
    if (tp.replicas.includes(victim.id)) {
      trial.commitEffect(trial.dereplicateEffect(tp, victim.id, 1));
      plan.push({ p, to: null });
      continue;
    }
    const exclude = new Set([victim.id, ...tp.replicas]);
    const peak = peakCopy(trial, tp);
    const to = coolNodes(trial, exclude).find((n) => trial.peakUtil(n.id) + peak / n.capacity <= limit);
    if (!to) return [];
    trial.commitEffect(trial.moveEffect(tp, to.id, 0, 1, false));
    plan.push({ p, to: to.id });
  }
  const store = ctx.state.nodeById.get(victim.id)?.store ?? ctx.state.nodes[0]?.store ?? 'default';
  const cand: Candidate = {
    action: 'scale_in',
    ops: [],
    explanation: `scale in ${victim.id}: drain ${held.length} partition copies; remaining nodes stay under ${fmtPct(limit)} of capacity over the horizon`,
    run(sc) {
      const ops: PlannedOp[] = [];
      let last = 0;
      for (const { p, to } of plan) {
        const sp = sc.partitions.get(p.id)!;
        if (to === null) {
          ops.push({
            kind: 'shard', action: 'dereplicate', store: sp.spec.store, storeKind: storeKindOf(ctx.state, sp.spec.store),
            table: sp.spec.table, partition: sp.id, sourceNode: victim.id, targetNode: null, node: null, params: {},
            bytes: 0, durationMs: cfg.stepMs, startStep: 0, finishStep: 1, dependsOn: [], target: sp.id,
          });
          sc.commitEffect(sc.dereplicateEffect(sp, victim.id, 1));
          last = Math.max(last, 1);
        } else {
          const c = Math.max(1, cfg.safety.maxConcurrentMoves - ctx.state.inFlight.length);
          const moves = ops.filter((o) => o.action === 'move');
          const gate = moves.length >= c ? moves[moves.length - c]! : null;
          const mv = moveOp(ctx, sp, to, gate ? gate.finishStep : 0, 'move', gate ? [ops.indexOf(gate)] : []);
          ops.push(mv);
          sc.commitEffect(sc.moveEffect(sp, to, mv.startStep, mv.finishStep));
          last = Math.max(last, mv.finishStep);
        }
      }
      ops.push({
        kind: 'resource', action: 'scale_in', store, storeKind: storeKindOf(ctx.state, store), table: null, partition: null,
        sourceNode: null, targetNode: null, node: victim.id, params: {}, bytes: 0, durationMs: cfg.stepMs,
        startStep: last, finishStep: last + 1, dependsOn: ops.map((_, i) => i), target: victim.id,
      });
      sc.commitEffect(sc.scaleInEffect(victim.id, last + 1));
      this.ops = ops;
    },
  };
  return [cand];
}
