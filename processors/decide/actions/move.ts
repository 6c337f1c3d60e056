/**
 * Move a partition's primary copy off a node whose planned load goes above target, to the
 * node with the most room over the horizon. Only problems are fixed: no rebalancing for its
 * own sake, so data moves only when the forecast says a node will run hot.
 */
import { GiB, zeroParts } from '../costModel.js';
import type { Effect, Scenario, ScenarioPartition } from '../scenario.js';
import { StateError } from '../../../lib/errors.js';
import {
  type Candidate,
  type InFlightEffect,
  type PlacementAction,
  type PlanContext,
  type PlannedOp,
  coolNodes,
  fmtPct,
  hotNodes,
  moveOp,
  partitionsOn,
  peakCopy,
} from './common.js';

export function planMoves(ctx: PlanContext, opts: { partitionsPerNode?: number; targets?: number } = {}): Candidate[] {
  const { s } = ctx;
  const out: Candidate[] = [];
  for (const hot of hotNodes(s)) {
    const parts = partitionsOn(s, hot.node.id)
      .filter((p) => !p.locked)
      .map((p) => ({ p, peak: peakCopy(s, p, hot.firstStep) }))
      .filter((x) => x.peak > 0)
      .sort((a, b) => b.peak - a.peak || (a.p.id < b.p.id ? -1 : 1))
      .slice(0, opts.partitionsPerNode ?? 6);
    const targets = coolNodes(s, new Set([hot.node.id]), hot.firstStep).slice(0, opts.targets ?? 3);
    for (const { p, peak } of parts) {
      for (const t of targets) {
        const start = Math.max(0, t.activeFrom, p.availableFrom);
        const op = moveOp(ctx, p, t.id, start);
        const why = `move ${p.id} (peak ${peak.toFixed(0)}/window) ${p.node}→${t.id}: ${p.node} forecast at ${fmtPct(hot.peakUtil)} of capacity from step ${hot.firstStep + 1}`;
        out.push(new MoveCandidate(op, p.id, t.id, why));
      }
    }
  }
  return out;
}

/**
 * One move as a candidate. A class rather than an object literal with two closures: the move
 * planner makes the most candidates of any action, every greedy iteration of every strategy.
 */
class MoveCandidate implements Candidate {
  readonly action = 'move' as const;
  ops: PlannedOp[];

  constructor(
    private readonly op: PlannedOp,
    private readonly partitionId: string,
    private readonly to: string,
    readonly explanation: string,
  ) {
    this.ops = [op];
  }

  single(sc: Scenario): Effect {
    return moveEffect(sc, sc.partitions.get(this.partitionId)!, this.to, this.op.startStep, this.op.finishStep);
  }

  run(sc: Scenario): void {
    sc.commitEffect(this.single(sc));
  }
}

/** Move the primary copy of `sp` to `to`: load leaves the source at `finish`. */
export function moveEffect(sc: Scenario, sp: ScenarioPartition, to: string, start: number, finish: number, countAction = true): Effect {
  const deltas = new Map<string, Float64Array>();
  const from = sp.node;
  sc.addOverhead(deltas, from, start, finish);
  sc.addOverhead(deltas, to, start, finish);
  const promotesReplica = sp.replicas.includes(to);
  const copies = 1 + sp.replicas.length - (promotesReplica ? 1 : 0);
  const dFrom = sc.deltaFor(deltas, from),
    dTo = sc.deltaFor(deltas, to);
  const from0 = Math.max(finish, sp.availableFrom);
  const remaining =
    promotesReplica && from0 < sc.steps ? [...sp.replicas.filter((x) => x !== to), to].map((r) => sc.deltaFor(deltas, r)) : [];
  for (let k = from0; k < sc.steps; k++) {
    if (promotesReplica) {
      // the replica on `to` becomes the primary; the old primary's copy goes away
      const before = sp.read[k]! / (1 + sp.replicas.length) + sp.write[k]!;
      dFrom[k]! -= before;
      for (const d of remaining) d[k]! += sp.read[k]! / copies - sp.read[k]! / (1 + sp.replicas.length);
    } else {
      const l = sc.copyLoad(sp, k);
      dFrom[k]! -= l;
      dTo[k]! += l;
    }
  }
  let crossLoad = 0;
  for (const { other, weight } of sc.edges.get(sp.id) ?? []) {
    const o = sc.partitions.get(other);
    if (!o) continue;
    const extra = sc.cfg.crossNodeCost * weight;
    const wasSplit = o.node !== from,
      nowSplit = o.node !== to;
    for (let k = finish; k < sc.steps; k++) {
      if (wasSplit) {
        dFrom[k]! -= extra;
        sc.deltaFor(deltas, o.node)[k]! -= extra;
      }
      if (nowSplit) {
        dTo[k]! += extra;
        sc.deltaFor(deltas, o.node)[k]! += extra;
      }
    }
    crossLoad += ((nowSplit ? 1 : 0) - (wasSplit ? 1 : 0)) * extra * 2 * Math.max(0, sc.steps - finish) * sc.stepMin;
  }
  const parts = zeroParts();
  parts.gbMoved = sp.sizeBytes / GiB;
  parts.actions = countAction ? 1 : 0;
  parts.crossLoad = crossLoad;
  return {
    deltas,
    parts,
    commit: () => {
      sp.node = to;
      sp.replicas = sp.replicas.filter((r) => r !== to);
      sp.locked = true;
    },
  };
}

/** A move (or co-location) in flight: the primary copy is on its target from `finish`. */
export const moveInFlight: InFlightEffect = (s, f, sp, finish) => {
  if (sp && f.targetNode && s.nodes.has(f.targetNode)) s.commitEffect(moveEffect(s, sp, f.targetNode, 0, finish, false));
};

/** From source to target node: the id of a command that copies a partition (move, colocate, replicate). */
export const copyIdTarget = (op: PlannedOp): string => `${op.table}/${op.partition}:${op.sourceNode}->${op.targetNode}`;

export const moveAction: PlacementAction<'shard'> = {
  kind: 'shard',
  plan: planMoves,
  inFlight: moveInFlight,
  idTarget: copyIdTarget,
  related: () => [],
  movesData: true,
  movesPrimary: true,
  // the primary copy lands on the target node (a replica there becomes the primary)
  apply({ part, node, replace }, cmd) {
    const p = part(cmd.partition);
    const to = node(cmd.targetNode);
    if (cmd.sourceNode !== null && cmd.sourceNode !== p.node) {
      throw new StateError(`${cmd.action}: ${p.id} is on ${p.node}, not ${cmd.sourceNode}`);
    }
    const replicas = (p.replicas ?? []).filter((r) => r !== to.id);
    replace(p.id, [{ ...p, node: to.id, replicas: replicas.length ? replicas : undefined }]);
  },
};
