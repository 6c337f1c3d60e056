/**
 * The simulator's load model for one step: each partition's reads are shared by its copies and
 * its writes land on every copy; a running data move costs `migrationOverhead × capacity` on its
 * source and on its target, a running rekey on every node holding a shard of its table;
 * co-accessed key units on different nodes add `crossNodeCost ×` their joint load to both nodes.
 * A table whose key is hashed (a finished rekey with `keyHash`) has its units cut the hash of
 * the key: each unit takes an equal share of the table's load, whatever keys are hot.
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
  const hashed = new Map(
    state.tables.filter((tb) => tb.keyHash && tIndex.has(tb.name)).map((tb) => [tb.name, tableTotals(w, tIndex.get(tb.name)!, t)]),
  );
  for (const p of state.partitions) {
    const ti = tIndex.get(p.table)!,
      tb = w.tables[ti]!;
    const even = hashed.get(p.table);
    let reads = 0,
      writes = 0;
    for (let u = p.lo ?? 0; u < (p.hi ?? tb.units); u++) {
      reads += even ? even.reads / tb.units : w.reads[ti]![t * tb.units + u]!;
      writes += even ? even.writes / tb.units : w.writes[ti]![t * tb.units + u]!;
      unitOwner[ti]![u] = p.id;
    }
    partitionLoad.set(p.id, { reads, writes });
    const copies = copiesOf(p);
    for (const n of copies) nodeLoad.set(n, (nodeLoad.get(n) ?? 0) + reads / copies.length + writes);
  }
  for (const cmd of running) {
    if (cmd.kind === 'partition' && cmd.action === 'rekey') {
      const nodes = new Set(state.partitions.filter((p) => p.table === cmd.table).flatMap((p) => copiesOf(p)));
      for (const n of nodes) nodeLoad.set(n, nodeLoad.get(n)! + costs.migrationOverhead * state.nodeById.get(n)!.capacity);
      continue;
    }
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

/** A table's reads and writes over its `units` key units, read unit by unit (the trace, or a policy's past view). */
export function unitTotals(units: number, reads: (u: number) => number, writes: (u: number) => number): { reads: number; writes: number } {
  let r = 0,
    wr = 0;
  for (let u = 0; u < units; u++) {
    r += reads(u);
    wr += writes(u);
  }
  return { reads: r, writes: wr };
}

/** Table `ti`'s reads and writes at step `t` of the trace, over all its key units. */
export function tableTotals(w: Pick<Workload, 'tables' | 'reads' | 'writes'>, ti: number, t: number): { reads: number; writes: number } {
  const units = w.tables[ti]!.units;
  return unitTotals(
    units,
    (u) => w.reads[ti]![t * units + u]!,
    (u) => w.writes[ti]![t * units + u]!,
  );
}
