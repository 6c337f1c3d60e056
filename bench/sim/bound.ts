/**
 * A lower bound for a trace, printed beside every policy's figures. Per evaluated step, with
 * free and instant moves, splits down to single key units and read replicas:
 * - node-minutes: the fewest nodes whose capacity covers the step's load (reads + writes; a
 *   replica only adds its writes), so no policy that avoids violations holds fewer;
 * - violation-minutes: one node-step for a step in which some key unit's writes alone exceed a
 *   node's capacity (every copy of that unit carries all its writes, and a key unit cannot be
 *   split); no placement avoids it.
 * Co-access between nodes and migration overhead only add load, so they are left out.
 */
import type { Workload } from './workload.js';

export interface TraceBound {
  violationMinutes: number;
  nodeMinutes: number;
  /** The most nodes any evaluated step needs. */
  maxNodes: number;
  /** Highest per-node utilisation on those nodes with the load spread evenly. */
  peakUtil: number;
}

export function lowerBound(w: Workload, capacity: number): TraceBound {
  const stepMin = w.stepMs / 60_000;
  const b: TraceBound = { violationMinutes: 0, nodeMinutes: 0, maxNodes: 0, peakUtil: 0 };
  for (let t = w.evalStart; t < w.steps; t++) {
    let total = 0,
      unavoidable = false;
    w.tables.forEach((tb, ti) => {
      for (let u = 0; u < tb.units; u++) {
        const i = t * tb.units + u;
        total += w.reads[ti]![i]! + w.writes[ti]![i]!;
        if (w.writes[ti]![i]! > capacity) unavoidable = true;
      }
    });
    const nodes = Math.max(1, Math.ceil(total / capacity - 1e-9));
    b.nodeMinutes += nodes * stepMin;
    b.maxNodes = Math.max(b.maxNodes, nodes);
    b.peakUtil = Math.max(b.peakUtil, total / (nodes * capacity));
    if (unavoidable) b.violationMinutes += stepMin;
  }
  return b;
}
