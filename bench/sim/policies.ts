/**
 * The policies the simulator compares, and the static one. All of them emit the command objects
 * the executors consume.
 * - static (here): hash placement on enough nodes for the trace's peak at targetUtil; never acts.
 * - reactive (reactive.ts): load-based splitting, rebalancing and scaling as the usual
 *   distributed databases do it, on what was observed.
 * - predictive and oracle (predictive.ts): shardcast's decide engine on forecasts, or on the
 *   true future.
 */
import type { Policy, SimConfig } from './simulator.js';
import { type Workload, totalPerStep } from './workload.js';

/** Utilisation the static and the predictive policies provision for. */
export const TARGET_UTIL = 0.85;

export function staticPolicy(targetUtil = TARGET_UTIL): Policy {
  return {
    name: 'static',
    initialNodes(w: Workload, cfg: SimConfig) {
      const total = totalPerStep(w);
      let peak = 0;
      for (let t = 0; t < w.steps; t++) peak = Math.max(peak, total[t]!);
      return Math.max(1, Math.ceil(peak / (cfg.capacity * targetUtil)));
    },
    act: () => [],
  };
}
