/**
 * The policies the simulator compares, and the static one. All of them emit the command objects
 * the executors consume.
 * - static (here): hash placement on enough nodes for the trace's peak at the target
 *   utilisation, read ahead from the whole trace; never acts.
 * - reactive (reactive.ts): load-based splitting and rebalancing as CockroachDB and TiDB do it,
 *   proportional autoscaling as the Kubernetes HPA does it, on what was observed.
 * - predictive and clairvoyant (predictive.ts): shardcast's decide engine on forecasts, or on
 *   the true future.
 * The lower bound every policy's figures are read against is in bound.ts.
 */
import type { Policy, SimConfig } from './simulator.js';
import { StateError } from '../../lib/errors.js';
import { type Workload, totalPerStep } from './workload.js';

/** Utilisation the static and the predictive policies provision for. */
export const TARGET_UTIL = 0.85;

/**
 * The node count of a user sizing for the trace's peak: the total load's peak at `targetUtil`,
 * read ahead from the whole trace. Placement stays the hash placement, so a hot range can still
 * overload its node; sizing until no node ever does would take up to one node per range on a
 * skewed trace, more than anyone provisions.
 */
export function staticNodes(w: Workload, cfg: SimConfig, targetUtil = TARGET_UTIL): number {
  const total = totalPerStep(w);
  let peak = 0;
  for (let t = 0; t < w.steps; t++) peak = Math.max(peak, total[t]!);
  return Math.max(1, Math.ceil(peak / (cfg.capacity * targetUtil)));
}

export function staticPolicy(targetUtil = TARGET_UTIL): Policy {
  return {
    name: 'static',
    readsAhead: true,
    initialNodes: (cfg: SimConfig, ahead: Workload | null) => {
      if (!ahead) throw new StateError('static is sized from the whole trace');
      return staticNodes(ahead, cfg, targetUtil);
    },
    act: () => [],
  };
}
