/**
 * The baseline scenario a plan starts from: the cluster as it is, with the changes already in
 * flight applied from when they are expected to finish (each by the action that made it).
 */
import { PLACEMENT_ACTIONS } from './actions/registry.js';
import type { Action } from './actions/common.js';
import type { DecideConfig } from './config.js';
import type { LoadProfile } from './loadProfile.js';
import { Scenario } from './scenario.js';
import type { ClusterState } from './state.js';

export function baselineScenario(state: ClusterState, profile: LoadProfile, cfg: DecideConfig, targetUtil = cfg.targetUtil): Scenario {
  const s = new Scenario(state, profile, cfg, targetUtil);
  // nodes being provisioned first (the moves onto them wait for them), nodes being removed last
  // (they serve until the moves off them finish)
  const order = (f: ClusterState['inFlight'][number]) => {
    const a = PLACEMENT_ACTIONS.get(f.action as Action);
    return a?.addsNode ? 0 : a?.removesNode ? 2 : 1;
  };
  for (const f of [...state.inFlight].sort((a, b) => order(a) - order(b))) {
    let finish = Math.max(0, Math.ceil((f.expectedEnd - profile.now) / profile.stepMs));
    const target = f.targetNode ? s.nodes.get(f.targetNode) : undefined;
    if (target && finish <= target.activeFrom) finish = target.activeFrom + 1; // waits for a provisioning node
    const sp = f.partition ? s.partitions.get(f.partition) : undefined;
    if (sp) sp.locked = true;
    // a rekey claims every shard of its table until it ends
    if (f.action === 'rekey' && f.table) for (const p of s.partitions.values()) if (p.spec.table === f.table) p.locked = true;
    PLACEMENT_ACTIONS.get(f.action as Action)?.inFlight?.(s, f, sp, finish);
  }
  return s;
}
