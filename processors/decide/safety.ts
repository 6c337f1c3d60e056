/**
 * Safety limits between the planner and the command topics:
 * - cooldown: no second command on the same target within safety.cooldownMs;
 * - flapping: no reverse command within safety.flapWindowMs (merge after split of the same
 *   range, dereplicate after replicate, scale_in of a node a scale_out just added, a move back
 *   to the node a partition just left). Reverse actions that add capacity (split after merge, scale_out
 *   after scale_in) are never blocked: load that arrives must be met; a move back to the node a
 *   partition left is blocked for safety.moveBackMs;
 * - concurrency: data moves running at once (in flight + starting now) ≤ maxConcurrentMoves,
 *   and their throttle rates together ≤ maxBytesPerMinute; a move held for a command it depends
 *   on goes out under the same limits when released (dependencies.ts);
 * - approval: per store ('manual' stores need approval for everything), recommendations
 *   (re-key, schema changes, precomputation) always, moves above maxAutoBytes always.
 * Which action undoes which, which ones move data or a primary copy, and which have no cooldown
 * is each action's own (actions/registry.ts). A candidate passes or is blocked as a whole. Hysteresis lives in the planners' thresholds
 * (split vs merge, scale-out target vs scale-in bound, replicate vs de-replicate).
 */
import type { AnyCommand } from '../../schemas/types.js';
import type { DecideConfig } from './config.js';
import type { ClusterState, RecentAction } from './state.js';
import type { Candidate, PlannedOp } from './actions/common.js';
import { DATA_MOVE_ACTIONS, PLACEMENT_ACTIONS, RECOMMENDATION_ACTIONS, relatedIds } from './actions/registry.js';

export function relatedOf(op: Pick<PlannedOp, 'action' | 'params' | 'target'>): string[] {
  return relatedIds(op.action, op.params);
}

/** The RecentAction a command leaves behind, for later cooldown and flap checks. */
export function recentFromCommand(c: AnyCommand): RecentAction {
  const target =
    c.kind === 'resource'
      ? (c.node ?? c.params.nodeId ?? '')
      : c.kind === 'partition'
        ? (c.partition ?? c.table)
        : (c.partition ?? c.table);
  return {
    commandId: c.commandId,
    action: c.action,
    target,
    ts: c.issuedAt,
    sourceNode: c.kind === 'shard' ? c.sourceNode : null,
    targetNode: c.kind === 'shard' ? c.targetNode : null,
    related: relatedIds(c.action, c.params),
  };
}

export interface SafetyVerdict {
  allowed: Candidate[];
  blocked: { candidate: Candidate; reason: string }[];
}

function opBlock(op: PlannedOp, recent: readonly RecentAction[], now: number, cfg: DecideConfig): string | null {
  const unit = PLACEMENT_ACTIONS.get(op.action);
  const ids = new Set([op.target, ...relatedOf(op)]);
  for (const r of recent) {
    const age = now - r.ts;
    if (age < 0) continue;
    const touches = ids.has(r.target) || (r.related ?? []).some((x) => ids.has(x));
    if (r.target === op.target && age < cfg.safety.cooldownMs && !unit?.noCooldown) {
      return `cooldown: ${r.action} on ${r.target} ${Math.round(age / 1000)}s ago (< ${Math.round(cfg.safety.cooldownMs / 1000)}s)`;
    }
    if (age < cfg.safety.flapWindowMs) {
      const rev = unit?.reverses;
      if (rev && r.action === rev && touches) {
        return `flap guard: ${op.action} would undo ${r.action} ${Math.round(age / 1000)}s ago`;
      }
      if (unit?.movesPrimary && r.target === op.target && r.sourceNode === op.targetNode && age < cfg.safety.moveBackMs) {
        return `flap guard: ${op.target} left ${op.targetNode} ${Math.round(age / 1000)}s ago`;
      }
    }
  }
  return null;
}

/** The limits on data moves running at once: how many, and their throttle rates together. */
export interface MoveLimits {
  maxConcurrentMoves: number;
  maxBytesPerMinute: number;
  /** The throttle rate of one move. */
  throttleBytesPerSec: number;
}

export const moveLimitsOf = (cfg: Pick<DecideConfig, 'safety' | 'throttleBytesPerSec'>): MoveLimits => ({
  maxConcurrentMoves: cfg.safety.maxConcurrentMoves,
  maxBytesPerMinute: cfg.safety.maxBytesPerMinute,
  throttleBytesPerSec: cfg.throttleBytesPerSec,
});

/** Why `starting` more data moves may not start beside `running` ones; null when they may. */
export function moveLimitBreach(running: number, starting: number, limits: MoveLimits): string | null {
  const ratePerMin = limits.throttleBytesPerSec * 60;
  if (running + starting > limits.maxConcurrentMoves)
    return `concurrency: ${running} moves running, ${starting} more would exceed ${limits.maxConcurrentMoves}`;
  if ((running + starting) * ratePerMin > limits.maxBytesPerMinute)
    return `bandwidth: ${running + starting} moves × ${(ratePerMin / 1024 ** 2).toFixed(0)} MiB/min exceed ${(limits.maxBytesPerMinute / 1024 ** 2).toFixed(0)} MiB/min`;
  return null;
}

/** Filters candidates (in plan order) through cooldowns, flap guards and move limits. */
export function applySafety(candidates: readonly Candidate[], state: ClusterState, now: number, cfg: DecideConfig): SafetyVerdict {
  const allowed: Candidate[] = [];
  const blocked: { candidate: Candidate; reason: string }[] = [];
  let running = state.inFlight.filter((f) => DATA_MOVE_ACTIONS.has(f.action) && !f.waiting).length;
  const limits = moveLimitsOf(cfg);
  for (const c of candidates) {
    let reason: string | null = null;
    for (const op of c.ops) {
      reason = opBlock(op, state.recent, now, cfg);
      if (reason) break;
    }
    const startingNow = c.ops.filter((o) => DATA_MOVE_ACTIONS.has(o.action) && o.startStep === 0 && o.dependsOn.length === 0).length;
    if (!reason && startingNow > 0) reason = moveLimitBreach(running, startingNow, limits);
    if (reason) {
      blocked.push({ candidate: c, reason });
      continue;
    }
    running += startingNow;
    allowed.push(c);
  }
  return { allowed, blocked };
}

export function requiresApproval(op: Pick<PlannedOp, 'action' | 'store' | 'bytes'>, cfg: DecideConfig): boolean {
  const mode = cfg.safety.approval[op.store] ?? cfg.safety.defaultApproval;
  return mode === 'manual' || RECOMMENDATION_ACTIONS.has(op.action) || op.bytes > cfg.safety.maxAutoBytes;
}
