/**
 * Scale out: add a node early enough that it is provisioned and the partitions moved to it
 * have arrived before the forecast load (the candidate's critical path is provisioning plus
 * the moves, which queue behind the free data-move slots; the planner defers it until that
 * lead time is due). The new node is filled from the hot nodes: of the copies that fit, the
 * smallest that brings a hot node back to target, else the most load per byte moved; when no
 * copy on a hot node fits (a range merged while cold, hot again), the biggest is split at its
 * forecast-weighted point and the half that fits moves. No node is added while the nodes
 * serving could carry the forecast total load (`nodesNeeded`, `scale.packingSlack`): a hot node
 * in a cluster with room is left to moves, splits and replicas.
 *
 * Scale-out acts on the risk-adjusted plan above targetUtil; scale-in (scaleIn.ts) on the
 * forecast upper bound under scale.scaleInUtil: the band between the two is the hysteresis.
 */
import { StateError } from '../../../lib/errors.js';
import { zeroParts } from '../costModel.js';
import { subRangeLoad } from '../loadProfile.js';
import type { Effect, Scenario, ScenarioPartition } from '../scenario.js';
import {
  type Candidate,
  type InFlightEffect,
  type PlacementAction,
  type PlanContext,
  type PlannedOp,
  durationSteps,
  fmtPct,
  freeMoveSlots,
  hotNodes,
  moveOp,
  numParam,
  partitionsOn,
  peakCopy,
  storeKindOf,
} from './common.js';
import { moveEffect } from './move.js';
import { cuttingPoint, splitEffect, splitOpOf } from './split.js';

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
  const ready = durationSteps(cfg.provisioningMs, cfg.stepMs);
  if (active.length >= nodesNeeded(s, capacity, ready) * (1 + cfg.scale.packingSlack)) return [];
  const store = template?.store ?? 'default';
  const storeKind = storeKindOf(ctx.state, store);
  const nodeId = newNodeId(ctx, s, `${s.nodes.size}`);
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
      sc.commitEffect(scaleOutEffect(sc, nodeId, capacity, 0, ready));
      if (planned) {
        // the same ops again (the planner re-runs a chosen candidate on its reference scenario,
        // whose target may differ from the one the fill was planned against)
        for (const op of planned.slice(1)) {
          if (op.action === 'split') {
            const p = sc.partitions.get(op.partition!)!,
              at = Number(op.params.splitAt);
            sc.commitEffect(
              splitEffect(
                sc,
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
            sc.commitEffect(moveEffect(sc, sc.partitions.get(op.partition!)!, nodeId, op.startStep, op.finishStep));
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
          sc.commitEffect(moveEffect(sc, pick, nodeId, mv.startStep, mv.finishStep));
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
 * Nodes of `capacity` the forecast total load needs at the scenario's target utilisation, at the
 * busiest step from `from` on. The total is the partitions' point forecasts plus the risk share
 * of their intervals combined as independent errors (root-sum-square): summing each partition's
 * risk-adjusted load would add every interval in full and count a cluster-wide surge that no
 * forecast expects.
 */
export function nodesNeeded(s: Scenario, capacity: number, from: number): number {
  const risk = s.cfg.risk;
  let peak = 0;
  for (let k = Math.min(from, s.steps - 1); k < s.steps; k++) {
    let point = 0,
      margin2 = 0;
    for (const p of s.partitions.values()) {
      const planned = p.read[k]! + p.write[k]!;
      const m = risk < 1 ? (p.upper[k]! - planned) / (1 - risk) : 0;
      point += planned - risk * m;
      margin2 += m * m;
    }
    peak = Math.max(peak, point + risk * Math.sqrt(margin2));
  }
  return peak / (s.targetUtil * capacity);
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
    const point = cuttingPoint(ctx, p);
    if (!point) continue;
    const sides = [
      { left: true, peak: point.leftShare * peak },
      { left: false, peak: (1 - point.leftShare) * peak },
    ]
      .filter((x) => x.peak <= room)
      .sort((a, b) => (a.peak >= need ? 0 : 1) - (b.peak >= need ? 0 : 1) || (a.peak >= need ? a.peak - b.peak : b.peak - a.peak));
    const side = sides[0];
    if (!side) continue;
    const { splitOp, leftId, rightId, leftLoad, bytesFrac } = splitOpOf(ctx, p, point.at, point.leftShare);
    sc.commitEffect(splitEffect(sc, p, point.at, leftId, rightId, leftLoad, bytesFrac, 1));
    ops.push(splitOp);
    return { child: sc.partitions.get(side.left ? leftId : rightId)!, splitIndex: ops.length - 1 };
  }
  return null;
}

/** A new node, billed from `start`, serving from `ready`. */
export function scaleOutEffect(sc: Scenario, nodeId: string, capacity: number, start: number, ready: number): Effect {
  const parts = zeroParts();
  parts.actions = 1;
  parts.nodeMinutes = (Math.max(0, sc.steps - start) + sc.tailSteps) * sc.stepMin;
  return {
    deltas: new Map(),
    parts,
    commit: (s) => {
      s.nodes.set(nodeId, {
        id: nodeId,
        capacity,
        activeFrom: ready,
        activeUntil: s.steps,
        billedFrom: start,
        load: new Float64Array(s.steps),
        isNew: true,
      });
    },
  };
}

/**
 * A node still being provisioned: it serves from when provisioning should be done (issue time +
 * provisioningMs, or the command's expected end when that is sooner), so that a second round
 * neither scales out again nor drops the moves that wait for it.
 */
export const scaleOutInFlight: InFlightEffect = (s, f, _sp, finish) => {
  const nodeId = f.targetNode ?? f.node;
  const capacity = s.cfg.scale.nodeCapacity ?? s.state.nodes[0]?.capacity;
  if (!nodeId || s.nodes.has(nodeId) || capacity === undefined) return;
  const provisioned = Math.max(0, Math.ceil((f.startedAt + s.cfg.provisioningMs - s.profile.now) / s.profile.stepMs));
  s.commitEffect(scaleOutEffect(s, nodeId, capacity, 0, Math.min(finish, provisioned)));
};

export const scaleOutAction: PlacementAction<'resource'> = {
  kind: 'resource',
  plan: planScaleOut,
  inFlight: scaleOutInFlight,
  idTarget: (op) => `${op.store}/${op.params.nodeId}`,
  related: () => [],
  movesData: false,
  noCooldown: true,
  addsNode: true,
  apply({ state, input }, cmd) {
    const id = cmd.params.nodeId ?? cmd.node;
    if (!id) throw new StateError('scale_out: no nodeId');
    if (state.nodeById.has(id)) throw new StateError(`scale_out: node ${id} exists`);
    const template = state.nodes[0];
    input.nodes = [
      ...input.nodes,
      {
        id,
        store: cmd.store,
        storeKind: cmd.storeKind,
        capacity: cmd.params.capacity !== undefined ? numParam(cmd.params, 'capacity') : (template?.capacity ?? 1),
        status: 'active',
      },
    ];
  },
};
