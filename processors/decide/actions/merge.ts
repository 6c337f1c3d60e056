/**
 * Merge cold neighbours: adjacent ranges of a table on the same node whose combined planned
 * peak stays under `merge.maxLoadFraction` of capacity over the whole horizon (far below the
 * split threshold: hysteresis) and whose combined size is small enough.
 */
import { StateError } from '../../../lib/errors.js';
import { zeroParts } from '../costModel.js';
import { rangePartitionId } from '../ids.js';
import type { Effect, Scenario, ScenarioPartition } from '../scenario.js';
import type { PartitionSpec } from '../state.js';
import { type Candidate, type PlacementAction, type PlanContext, type PlannedOp, peakTotal, presentIds, storeKindOf } from './common.js';

export function planMerges(ctx: PlanContext): Candidate[] {
  const { s, cfg } = ctx;
  const out: Candidate[] = [];
  const byTable = new Map<string, ReturnType<typeof s.partitions.get>[]>();
  for (const p of s.partitions.values()) {
    const l = byTable.get(p.spec.table) ?? [];
    l.push(p);
    byTable.set(p.spec.table, l);
  }
  for (const list of byTable.values()) {
    const sorted = list.filter((p) => p !== undefined).sort((a, b) => (a.spec.lo ?? -Infinity) - (b.spec.lo ?? -Infinity));
    for (let i = 0; i + 1 < sorted.length; i++) {
      const l = sorted[i]!,
        r = sorted[i + 1]!;
      if (l.locked || r.locked || l.availableFrom > 0 || r.availableFrom > 0) continue;
      if (l.spec.hi !== r.spec.lo || l.node !== r.node) continue;
      if (l.replicas.join() !== r.replicas.join()) continue;
      const cap = s.nodes.get(l.node)!.capacity;
      let peak = 0;
      for (let k = 0; k < s.steps; k++) peak = Math.max(peak, l.read[k]! + l.write[k]! + r.read[k]! + r.write[k]!);
      if (peak > cfg.merge.maxLoadFraction * cap) continue;
      if (l.sizeBytes + r.sizeBytes > cfg.merge.maxSizeBytes) continue;
      const mergedId = rangePartitionId(l.spec.table, l.spec.lo, r.spec.hi);
      const op: PlannedOp = {
        kind: 'partition',
        action: 'merge',
        store: l.spec.store,
        storeKind: storeKindOf(ctx.state, l.spec.store),
        table: l.spec.table,
        partition: l.id,
        sourceNode: null,
        targetNode: null,
        node: l.node,
        params: { with: r.id, mergedId },
        bytes: 0,
        durationMs: cfg.stepMs,
        startStep: 0,
        finishStep: 1,
        dependsOn: [],
        target: l.id,
      };
      out.push({
        action: 'merge',
        ops: [op],
        explanation: `merge cold neighbours ${l.id} + ${r.id} on ${l.node}: combined peak ${peak.toFixed(0)}/window (${Math.round((100 * peak) / cap)}% of a node) over the horizon (L ${peakTotal(l).toFixed(0)}, R ${peakTotal(r).toFixed(0)})`,
        single: (sc) => mergeEffect(sc, sc.partitions.get(l.id)!, sc.partitions.get(r.id)!, mergedId, 1),
        run(sc) {
          sc.commitEffect(this.single!(sc));
        },
      });
    }
  }
  return out;
}

export function mergeEffect(sc: Scenario, left: ScenarioPartition, right: ScenarioPartition, mergedId: string, finish: number): Effect {
  const parts = zeroParts();
  parts.actions = 1;
  parts.partitionMinutes = -Math.max(0, sc.steps - finish) * sc.stepMin;
  return {
    deltas: new Map(),
    parts,
    commit: (s) => {
      s.partitions.delete(left.id);
      s.partitions.delete(right.id);
      s.partitions.set(mergedId, {
        id: mergedId,
        spec: {
          ...left.spec,
          id: mergedId,
          hi: right.spec.hi,
          sizeBytes: left.sizeBytes + right.sizeBytes,
          rows: left.spec.rows + right.spec.rows,
        },
        node: left.node,
        replicas: left.replicas.filter((r) => right.replicas.includes(r)),
        read: left.read.map((r, k) => r + right.read[k]!),
        write: left.write.map((w, k) => w + right.write[k]!),
        upper: left.upper.map((u, k) => u + right.upper[k]!),
        sizeBytes: left.sizeBytes + right.sizeBytes,
        availableFrom: finish,
        locked: true,
      });
    },
  };
}

export const mergeAction: PlacementAction<'partition'> = {
  kind: 'partition',
  plan: planMerges,
  idTarget: (op) => `${op.table}/${op.partition}+${op.params.with}`,
  related: (params) => presentIds(params.with, params.mergedId),
  reverses: 'split',
  movesData: false,
  apply({ input, part, replace }, cmd) {
    const a = part(cmd.partition);
    const b = part(cmd.params.with ?? null);
    const [l, r] = (a.lo ?? -Infinity) < (b.lo ?? -Infinity) ? [a, b] : [b, a];
    if (l.table !== r.table || l.hi !== r.lo) throw new StateError(`merge: ${l.id} and ${r.id} are not neighbours`);
    if (l.node !== r.node) throw new StateError(`merge: ${l.id} and ${r.id} are on different nodes`);
    const merged: PartitionSpec = {
      ...l,
      id: cmd.params.mergedId ?? rangePartitionId(l.table, l.lo, r.hi),
      hi: r.hi,
      sizeBytes: l.sizeBytes + r.sizeBytes,
      rows: l.rows + r.rows,
      seriesId: undefined,
      replicas: (l.replicas ?? []).filter((x) => (r.replicas ?? []).includes(x)),
    };
    replace(l.id, [merged]);
    input.partitions = input.partitions.filter((p) => p.id !== r.id);
  },
};
