/**
 * The simulator's load model for one step: each partition's reads are shared by its copies and
 * its writes land on every copy; a running data move costs `migrationOverhead × capacity` on its
 * source and on its target; co-accessed key units on different nodes add `crossNodeCost ×` their
 * joint load to both nodes.
 */
import type { AnyCommand } from '../../schemas/types.js';
import { type ClusterState, DATA_MOVE_ACTIONS, copiesOf } from '../../processors/decide/index.js';
import type { Workload } from './workload.js';

export interface LoadCosts {
  /** Share of a node's capacity a running data move takes on its source and on its target. */
  migrationOverhead: number;
  /** Extra load, per unit of joint load, of co-accessed units on different nodes. */
  crossNodeCost: number;
}

export interface StepLoad {
  /** Queries per step on each node. */
  nodeLoad: Map<string, number>;
  partitionLoad: Map<string, { reads: number; writes: number }>;
  /** Joint load between pairs of partitions. */
  coAccess: { a: string; b: string; weight: number }[];
}

/** The load of step `t` on `state`, with `running` commands in progress. */
export function stepLoad(w: Workload, state: ClusterState, t: number, running: readonly AnyCommand[], costs: LoadCosts): StepLoad {
  const tIndex = new Map(w.tables.map((tb, i) => [tb.name, i]));
  const nodeLoad = new Map<string, number>(state.nodes.map((n) => [n.id, 0]));
  const partitionLoad = new Map<string, { reads: number; writes: number }>();
  const unitOwner: string[][] = w.tables.map((tb) => new Array<string>(tb.units).fill(''));
  for (const p of state.partitions) {
    const ti = tIndex.get(p.table)!,
      tb = w.tables[ti]!;
    let reads = 0,
      writes = 0;
    for (let u = p.lo ?? 0; u < (p.hi ?? tb.units); u++) {
      reads += w.reads[ti]![t * tb.units + u]!;
      writes += w.writes[ti]![t * tb.units + u]!;
      unitOwner[ti]![u] = p.id;
    }
    partitionLoad.set(p.id, { reads, writes });
    const copies = copiesOf(p);
    for (const n of copies) nodeLoad.set(n, (nodeLoad.get(n) ?? 0) + reads / copies.length + writes);
  }
  for (const cmd of running) {
    if (cmd.kind !== 'shard' || !DATA_MOVE_ACTIONS.has(cmd.action)) continue;
    const p = state.partitionById.get(cmd.partition!);
    for (const n of [p?.node ?? cmd.sourceNode, cmd.targetNode]) {
      if (n && nodeLoad.has(n)) nodeLoad.set(n, nodeLoad.get(n)! + costs.migrationOverhead * state.nodeById.get(n)!.capacity);
    }
  }
  const co = new Map<string, number>();
  for (const e of w.coAccess) {
    if (t < e.fromStep || t >= e.toStep) continue;
    for (const [ta, ua, tb, ub, frac] of e.pairs) {
      const pa = unitOwner[ta]![ua]!,
        pb = unitOwner[tb]![ub]!;
      const joint = frac * w.reads[ta]![t * w.tables[ta]!.units + ua]!;
      const key = pa < pb ? `${pa}\u0000${pb}` : `${pb}\u0000${pa}`;
      co.set(key, (co.get(key) ?? 0) + joint);
      const na = state.partitionById.get(pa)!.node,
        nb = state.partitionById.get(pb)!.node;
      if (na !== nb) {
        nodeLoad.set(na, nodeLoad.get(na)! + costs.crossNodeCost * joint);
        nodeLoad.set(nb, nodeLoad.get(nb)! + costs.crossNodeCost * joint);
      }
    }
  }
  const coAccess = [...co].map(([k, weight]) => {
    const [a, b] = k.split('\u0000') as [string, string];
    return { a, b, weight };
  });
  return { nodeLoad, partitionLoad, coAccess };
}
