/**
 * Split a hot range at its forecast-weighted point (the key where the planned load over the
 * horizon is halved, on key-bucket boundaries), then move one half to the node with the most
 * room. A split alone changes no node's load; it is what lets a hot range be spread.
 */
import { zeroParts } from '../costModel.js';
import { rangePartitionId } from '../ids.js';
import { subRangeLoad } from '../loadProfile.js';
import type { Effect, Scenario, ScenarioPartition } from '../scenario.js';
import { StateError } from '../../../lib/errors.js';
import type { PartitionSpec } from '../state.js';
import {
  type Candidate,
  type PlacementAction,
  type PlanContext,
  type PlannedOp,
  coolNodes,
  fmtPct,
  hotNodes,
  moveOp,
  partitionsOn,
  numParam,
  peakPerCopyWith,
  peakTotal,
  presentIds,
  readFraction,
  storeKindOf,
} from './common.js';
import { moveEffect } from './move.js';

/** The forecast-weighted split point of a partition, or null when no interior point splits its load. */
export function splitPoint(
  ctx: Pick<PlanContext, 'profile'>,
  sp: Pick<ScenarioPartition, 'spec'>,
): { at: number; leftShare: number } | null {
  const p = sp.spec;
  const buckets = (ctx.profile.bucketsByTable.get(p.table) ?? []).filter(
    (b) => (p.lo === null || b.hi > p.lo) && (p.hi === null || b.lo < p.hi),
  );
  if (buckets.length >= 2) {
    const weight = (b: (typeof buckets)[number]) => {
      const from = Math.max(b.lo, p.lo ?? -Infinity),
        to = Math.min(b.hi, p.hi ?? Infinity);
      let t = 0;
      for (const v of b.total) t += v;
      return (t * (to - from)) / (b.hi - b.lo);
    };
    const w = buckets.map(weight);
    const total = w.reduce((a, b) => a + b, 0);
    if (total <= 0) return null;
    let acc = 0,
      best: { at: number; leftShare: number } | null = null,
      bestGap = Infinity;
    for (let i = 0; i < buckets.length - 1; i++) {
      acc += w[i]!;
      const at = buckets[i]!.hi;
      if ((p.lo !== null && at <= p.lo) || (p.hi !== null && at >= p.hi)) continue;
      const gap = Math.abs(acc / total - 0.5);
      if (gap < bestGap) {
        bestGap = gap;
        best = { at, leftShare: acc / total };
      }
    }
    return best;
  }
  if (p.lo !== null && p.hi !== null && p.hi - p.lo >= 2) return { at: Math.floor((p.lo + p.hi) / 2), leftShare: 0.5 };
  return null;
}

/**
 * The split point of a partition when it cuts the load (more than 2 % on each side), else null:
 * a cut leaving almost all of the load on one side relieves nothing.
 */
export function cuttingPoint(
  ctx: Pick<PlanContext, 'profile'>,
  sp: Pick<ScenarioPartition, 'spec'>,
): { at: number; leftShare: number } | null {
  const point = splitPoint(ctx, sp);
  return point && point.leftShare > 0.02 && point.leftShare < 0.98 ? point : null;
}

/** The split op of `sp` at `at`, with what the scenario's splitEffect needs. */
export function splitOpOf(
  ctx: PlanContext,
  sp: ScenarioPartition,
  at: number,
  leftShare: number,
): {
  splitOp: PlannedOp;
  leftId: string;
  rightId: string;
  leftLoad: Float64Array | null;
  bytesFrac: number;
} {
  const leftId = rangePartitionId(sp.spec.table, sp.spec.lo, at);
  const rightId = rangePartitionId(sp.spec.table, at, sp.spec.hi);
  const leftLoad = subRangeLoad(ctx.profile, sp.spec, sp.spec.lo, at);
  const bytesFrac = sp.spec.lo !== null && sp.spec.hi !== null ? (at - sp.spec.lo) / (sp.spec.hi - sp.spec.lo) : 0.5;
  const splitOp: PlannedOp = {
    kind: 'partition',
    action: 'split',
    store: sp.spec.store,
    storeKind: storeKindOf(ctx.state, sp.spec.store),
    table: sp.spec.table,
    partition: sp.id,
    sourceNode: null,
    targetNode: null,
    node: sp.node,
    params: { splitAt: String(at), leftId, rightId, leftFraction: bytesFrac.toFixed(6), leftLoadShare: leftShare.toFixed(4) },
    bytes: 0,
    durationMs: ctx.cfg.stepMs,
    startStep: 0,
    finishStep: 1,
    dependsOn: [],
    target: sp.id,
  };
  return { splitOp, leftId, rightId, leftLoad, bytesFrac };
}

/**
 * Whether nothing but a split can bring `sp` under a node's capacity: its own peak is over it (a
 * move carries it whole) and replicas cannot take it (too few reads for replicate's rule, or a
 * copy over capacity even with every replica allowed). Such a range is split whatever its size:
 * `split.minSizeBytes` keeps small ranges whole only where something else can help.
 */
function onlySplitHelps(ctx: PlanContext, sp: ScenarioPartition, capacity: number, from: number): boolean {
  const { cfg } = ctx;
  if (peakTotal(sp, from) <= capacity) return false;
  if (readFraction(sp) < cfg.replicate.minReadFraction) return true;
  return peakPerCopyWith(sp, cfg.replicate.maxReplicas, from) > capacity;
}

export function planSplits(ctx: PlanContext): Candidate[] {
  const { s, cfg } = ctx;
  const out: Candidate[] = [];
  const counts = new Map<string, number>();
  for (const p of s.partitions.values()) counts.set(p.spec.table, (counts.get(p.spec.table) ?? 0) + 1);
  for (const hot of hotNodes(s)) {
    const cap = hot.node.capacity;
    for (const sp of partitionsOn(s, hot.node.id)) {
      if (sp.locked || sp.availableFrom > 0) continue;
      if (sp.sizeBytes < cfg.split.minSizeBytes && !onlySplitHelps(ctx, sp, cap, hot.firstStep)) continue;
      if ((counts.get(sp.spec.table) ?? 0) >= cfg.split.maxPartitionsPerTable) continue;
      const peak = peakTotal(sp);
      if (peak < cfg.split.minLoadFraction * cap) continue; // hysteresis: merge's bound is far below
      const point = cuttingPoint(ctx, sp);
      if (!point) continue;
      const { at, leftShare } = point;
      const { splitOp, leftId, rightId, leftLoad, bytesFrac } = splitOpOf(ctx, sp, at, leftShare);
      const targets = coolNodes(s, new Set([hot.node.id]), hot.firstStep).slice(0, 2);
      for (const side of ['left', 'right'] as const) {
        for (const t of targets) {
          const childId = side === 'left' ? leftId : rightId;
          out.push({
            action: 'split',
            ops: [splitOp],
            explanation: `split ${sp.id} at ${at} (forecast-weighted, ${fmtPct(leftShare)} of load left; peak ${peak.toFixed(0)}/window = ${fmtPct(peak / cap)} of a node) and move ${childId} to ${t.id}`,
            run(sc) {
              const cur = sc.partitions.get(sp.id)!;
              sc.commitEffect(splitEffect(sc, cur, at, leftId, rightId, leftLoad, bytesFrac, 1));
              const child = sc.partitions.get(childId)!;
              const start = Math.max(1, sc.nodes.get(t.id)!.activeFrom);
              const mv = moveOp(ctx, child, t.id, start, 'move', [0]);
              this.ops = [splitOp, mv];
              sc.commitEffect(moveEffect(sc, child, t.id, mv.startStep, mv.finishStep));
            },
          });
        }
      }
    }
  }
  return out;
}

/** Split `sp` into [lo, at) and [at, hi) on the same node; children exist from `finish`. */
export function splitEffect(
  sc: Scenario,
  sp: ScenarioPartition,
  at: number,
  leftId: string,
  rightId: string,
  leftLoad: Float64Array | null,
  leftBytesFraction: number,
  finish: number,
): Effect {
  const parts = zeroParts();
  parts.actions = 1;
  parts.partitionMinutes = Math.max(0, sc.steps - finish) * sc.stepMin;
  const total = sp.read.map((r, k) => r + sp.write[k]!);
  const leftShare = new Float64Array(sc.steps);
  for (let k = 0; k < sc.steps; k++) {
    leftShare[k] = leftLoad && total[k]! > 0 ? Math.min(1, Math.max(0, leftLoad[k]! / total[k]!)) : leftBytesFraction;
  }
  return {
    deltas: new Map(),
    parts,
    commit: (s) => {
      const mk = (id: string, lo: number | null, hi: number | null, share: (k: number) => number, bytes: number): ScenarioPartition => ({
        id,
        spec: { ...sp.spec, id, lo, hi, sizeBytes: bytes, seriesId: undefined },
        node: sp.node,
        replicas: [...sp.replicas],
        read: sp.read.map((r, k) => r * share(k)),
        write: sp.write.map((w, k) => w * share(k)),
        upper: sp.upper.map((u, k) => u * share(k)),
        sizeBytes: bytes,
        availableFrom: finish,
        locked: false,
      });
      const lb = Math.round(sp.sizeBytes * leftBytesFraction);
      s.partitions.delete(sp.id);
      s.partitions.set(
        leftId,
        mk(leftId, sp.spec.lo, at, (k) => leftShare[k]!, lb),
      );
      s.partitions.set(
        rightId,
        mk(rightId, at, sp.spec.hi, (k) => 1 - leftShare[k]!, sp.sizeBytes - lb),
      );
    },
  };
}

export const splitAction: PlacementAction<'partition'> = {
  kind: 'partition',
  plan: planSplits,
  idTarget: (op) => `${op.table}/${op.partition}@${op.params.splitAt}`,
  related: (params) => presentIds(params.leftId, params.rightId),
  movesData: false,
  apply({ part, replace }, cmd) {
    const p = part(cmd.partition);
    const at = numParam(cmd.params, 'splitAt');
    if (!((p.lo === null || at > p.lo) && (p.hi === null || at < p.hi))) {
      throw new StateError(`split: ${at} is not inside ${p.id}`);
    }
    const frac =
      cmd.params.leftFraction !== undefined
        ? numParam(cmd.params, 'leftFraction')
        : p.lo !== null && p.hi !== null
          ? (at - p.lo) / (p.hi - p.lo)
          : 0.5;
    const left: PartitionSpec = {
      ...p,
      id: cmd.params.leftId ?? rangePartitionId(p.table, p.lo, at),
      hi: at,
      sizeBytes: Math.round(p.sizeBytes * frac),
      rows: Math.round(p.rows * frac),
      seriesId: undefined,
    };
    const right: PartitionSpec = {
      ...p,
      id: cmd.params.rightId ?? rangePartitionId(p.table, at, p.hi),
      lo: at,
      sizeBytes: p.sizeBytes - left.sizeBytes,
      rows: p.rows - left.rows,
      seriesId: undefined,
    };
    if (p.replicas) {
      left.replicas = [...p.replicas];
      right.replicas = [...p.replicas];
    }
    replace(p.id, [left, right]);
  },
};
