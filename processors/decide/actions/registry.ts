/**
 * The actions the decide code knows, one unit per placement action (its module holds its
 * planner, the effect of a command still in flight on the baseline, the change a finished
 * command makes to the cluster view, its command id, the partition ids it creates or consumes,
 * the action it undoes for flap checks, whether it moves data or a primary copy or adds a
 * node, and whether it skips the cooldown). The planner searches them in this order (of equal
 * gains the first wins); the baseline, safety, the engine's command ids, applyCommand and the
 * simulator's data moves look them up here instead of switching on action names. A new
 * placement action adds its module (exporting its PlacementAction) and an entry here.
 *
 * Recommendations (rekey, template adaptations) do not change placement: the engine plans them
 * separately, they always need approval, and only a re-key changes the view (the table's key).
 */
import type { AnyCommand } from '../../../schemas/types.js';
import type { Action, ApplyContext, CommandKind, CommandOf, PlacementAction, PlannedOp } from './common.js';
import { colocateAction } from './colocate.js';
import { mergeAction } from './merge.js';
import { moveAction } from './move.js';
import { applyRekey } from './rekey.js';
import { dereplicateAction, replicateAction } from './replicate.js';
import { scaleInAction } from './scaleIn.js';
import { scaleOutAction } from './scaleOut.js';
import { splitAction } from './split.js';

export const PLACEMENT_ACTIONS: ReadonlyMap<Action, PlacementAction> = new Map<Action, PlacementAction>([
  ['move', moveAction],
  ['split', splitAction],
  ['merge', mergeAction],
  ['replicate', replicateAction],
  ['dereplicate', dereplicateAction],
  ['colocate', colocateAction],
  ['scale_out', scaleOutAction],
  ['scale_in', scaleInAction],
]);

export interface RecommendationAction {
  kind: 'partition';
  /** The change a finished one makes to the view; none: the view stays as it is. */
  apply?(cx: ApplyContext, cmd: CommandOf<'partition'>): void;
}

export const RECOMMENDATION_ACTIONS: ReadonlyMap<Action, RecommendationAction> = new Map<Action, RecommendationAction>([
  ['rekey', { kind: 'partition', apply: applyRekey }],
  ['composite_index', { kind: 'partition' }],
  ['derived_attribute', { kind: 'partition' }],
  ['precompute', { kind: 'partition' }],
  ['repartition', { kind: 'partition' }],
]);

/** Placement actions that copy bytes between nodes (the concurrent-move and bandwidth limits). */
export const DATA_MOVE_ACTIONS: ReadonlySet<string> = new Set([...PLACEMENT_ACTIONS].filter(([, a]) => a.movesData).map(([name]) => name));

/**
 * The part of a command's id that names what it changes. Actions outside the placement
 * registry (recommendations) are named by table, target and their sorted parameters.
 */
export function idTargetOf(op: PlannedOp): string {
  const placement = PLACEMENT_ACTIONS.get(op.action);
  if (placement) return placement.idTarget(op);
  return `${op.table}/${op.target}/${Object.entries(op.params)
    .sort()
    .map(([k, v]) => `${k}=${v}`)
    .join('&')}`;
}

/** Partition ids a command of `action` creates or consumes besides its target. */
export function relatedIds(action: string, params: Record<string, string>): string[] {
  return PLACEMENT_ACTIONS.get(action as Action)?.related(params) ?? [];
}

/** The change a finished command makes to the view, when its action has one for its kind. */
export function applyOf(cmd: AnyCommand): ((cx: ApplyContext, cmd: AnyCommand) => void) | undefined {
  const unit: { kind: CommandKind; apply?(cx: ApplyContext, cmd: AnyCommand): void } | undefined =
    PLACEMENT_ACTIONS.get(cmd.action) ?? RECOMMENDATION_ACTIONS.get(cmd.action);
  return unit?.kind === cmd.kind ? unit.apply : undefined;
}
