/**
 * The placement actions: the planner searches them in this order (of equal gains the first
 * wins), and the baseline scenario applies each one's changes still in flight. A new action
 * adds its file (planner and Effect) and an entry here. Recommendations (rekey, template
 * adaptations) do not change placement; the engine asks for them separately.
 */
import type { Action, Candidate, InFlightEffect, PlanContext } from './common.js';
import { planColocations } from './colocate.js';
import { planMerges } from './merge.js';
import { moveInFlight, planMoves } from './move.js';
import { planDereplicas, planReplicas, replicateInFlight } from './replicate.js';
import { planScaleIn, scaleInInFlight } from './scaleIn.js';
import { planScaleOut, scaleOutInFlight } from './scaleOut.js';
import { planSplits } from './split.js';

export interface PlacementAction {
  plan: (ctx: PlanContext) => Candidate[];
  /** What a command of this action still in flight does to the baseline; none: nothing yet. */
  inFlight?: InFlightEffect;
}

export const PLACEMENT_ACTIONS: ReadonlyMap<Action, PlacementAction> = new Map<Action, PlacementAction>([
  ['move', { plan: planMoves, inFlight: moveInFlight }],
  ['split', { plan: planSplits }],
  ['merge', { plan: planMerges }],
  ['replicate', { plan: planReplicas, inFlight: replicateInFlight }],
  ['dereplicate', { plan: planDereplicas }],
  ['colocate', { plan: planColocations, inFlight: moveInFlight }],
  ['scale_out', { plan: planScaleOut, inFlight: scaleOutInFlight }],
  ['scale_in', { plan: planScaleIn, inFlight: scaleInInFlight }],
]);
