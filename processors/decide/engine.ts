/**
 * The decision engine: catalog view + forecasts + current aggregates → commands.
 *
 *   decide(state, forecasts, aggregates, now, cfg[, selector]) → { commands, explanations, … }
 *
 * Pure: time is the `now` argument, nothing is read or written. Steps: load profile (cost
 * model) → one greedy plan per strategy (planner) → the selector picks a plan (cost-model
 * argmax until it has data) → lead-time deferral → safety (cooldowns, flap guards, move
 * limits) → commands in the Avro shapes of schemas/types.ts, each with a stable id (hash of
 * action, target and issuing window), evidence, expected benefit and cost, a deadline,
 * whether it needs approval, and a one-line explanation.
 *
 * Command parameters (strings, as the Avro map requires; their form is the contract of
 * schemas/commandParams.ts: a candidate whose commands do not fit is reported blocked, not
 * issued, and the executors check it again):
 *   split: splitAt, leftId, rightId, leftFraction (of bytes), leftLoadShare
 *   merge: with, mergedId            move/replicate: bytes   colocate: bytes, with (the partition it joins)
 *   dereplicate: none (targetNode names the node whose copy is dropped)
 *   scale_out: nodeId, capacity      rekey: keyColumns, previousKey, share, keyHash
 *   composite_index: name, columns   derived_attribute: name, expression
 *   precompute: name, template (count_by | sum_by), groupBy, value (sum_by), templateId
 *   any: dependsOn (comma-separated command ids that must finish first), strategy
 */
import { commandParamsReason } from '../../schemas/commandParams.js';
import type { AnyCommand, Evidence, Forecast, WorkloadAggregate } from '../../schemas/types.js';
import { type DecideConfig, type DecideConfigInput, decideConfig } from './config.js';
import { totalScore } from './costModel.js';
import { type LoadProfile, buildLoadProfile, peakOf } from './loadProfile.js';
import { commandId } from './ids.js';
import { type ChosenCandidate, type Plan, planAll } from './planner.js';
import { type SelectorChoice, type SelectorModel, choose } from './selector.js';
import { applySafety, requiresApproval } from './safety.js';
import { awaitCreators } from './dependencies.js';
import { type ClusterState, type ClusterStateInput, buildState } from './state.js';
import type { Candidate, PlannedOp } from './actions/common.js';
import { idTargetOf } from './actions/registry.js';
import { planRekeys } from './actions/rekey.js';
import { planAppendRekeys } from './actions/appendHotSpot.js';
import { planTemplateAdaptations } from './actions/schema.js';

export interface DecideResult {
  commands: AnyCommand[];
  /** One line per command, then one per deferred or blocked candidate. */
  explanations: string[];
  strategy: string;
  selection: SelectorChoice;
  /** The chosen plan's selector features (to pair with a reward later). */
  features: number[];
  plans: { strategy: string; scoreBefore: number; scoreAfter: number; actions: number; deferred: number }[];
  deferred: string[];
  blocked: string[];
  /**
   * Candidates not issued because a command of theirs does not fit the command contract
   * (schemas/commandParams.ts): a planner bug, listed here (and among `blocked`) to be logged and counted.
   */
  misfits: { action: string; explanation: string; reason: string }[];
}

function isClusterState(s: ClusterState | ClusterStateInput): s is ClusterState {
  return (s as ClusterState).partitionById instanceof Map;
}

function evidenceFor(op: PlannedOp, state: ClusterState, profile: LoadProfile): Evidence {
  const pid = op.partition ?? null;
  const load = pid ? profile.partitions.get(pid) : undefined;
  if (load) {
    const pk = peakOf(load.point);
    const nodeId = state.partitionById.get(pid!)?.node;
    return {
      seriesId: load.seriesId,
      currentLoad: load.currentRead + load.currentWrite,
      forecastPeak: pk.value,
      forecastLower: load.lower[pk.step] ?? pk.value,
      forecastUpper: load.upper[pk.step] ?? pk.value,
      peakAt: profile.now + (pk.step + 1) * profile.stepMs,
      capacity: nodeId ? (state.nodeById.get(nodeId)?.capacity ?? null) : null,
      model: load.model,
    };
  }
  // Resource actions and table-level recommendations: cluster totals.
  const steps = profile.steps;
  const point = new Float64Array(steps),
    lower = new Float64Array(steps),
    upper = new Float64Array(steps);
  let current = 0,
    model: string | null = null;
  for (const l of profile.partitions.values()) {
    if (op.table && !l.seriesId.startsWith(`${op.table}/`) && op.kind === 'partition') continue;
    current += l.currentRead + l.currentWrite;
    model ??= l.model;
    for (let k = 0; k < steps; k++) {
      point[k]! += l.point[k]!;
      lower[k]! += l.lower[k]!;
      upper[k]! += l.upper[k]!;
    }
  }
  const pk = peakOf(point);
  const node = op.node ? state.nodeById.get(op.node) : undefined;
  return {
    seriesId: null,
    currentLoad: current,
    forecastPeak: pk.value,
    forecastLower: lower[pk.step] ?? 0,
    forecastUpper: upper[pk.step] ?? 0,
    peakAt: profile.now + (pk.step + 1) * profile.stepMs,
    capacity: node?.capacity ?? state.nodes.reduce((a, n) => a + n.capacity, 0),
    model,
  };
}

function toCommands(
  c: Candidate,
  benefit: number,
  cost: number,
  deadline: number,
  state: ClusterState,
  profile: LoadProfile,
  now: number,
  cfg: DecideConfig,
  strategy: string,
): AnyCommand[] {
  const windowMs = cfg.windowMs ?? cfg.decideEveryMs;
  const ids = c.ops.map((op) => commandId(op.action, idTargetOf(op), now, windowMs));
  const n = c.ops.length;
  return c.ops.map((op, i) => {
    const params: Record<string, string> = { ...op.params, strategy };
    if (op.dependsOn.length) params.dependsOn = op.dependsOn.map((j) => ids[j]!).join(',');
    const base = {
      commandId: ids[i]!,
      issuedAt: now,
      // an op planned to finish after the candidate's first relief (a fill move queued behind
      // the scale-out's earlier ones) keeps until its own planned finish
      deadline: Math.max(deadline, now + op.finishStep * cfg.stepMs),
      store: op.store,
      storeKind: op.storeKind,
      params,
      evidence: evidenceFor(op, state, profile),
      expectedBenefit: benefit / n,
      expectedCost: cost / n,
      estimatedDurationMs: op.durationMs,
      requiresApproval: requiresApproval(op, cfg),
      policy: cfg.policy,
      explanation: n > 1 ? `${c.explanation} [${i + 1}/${n}: ${op.action}]` : c.explanation,
    };
    if (op.kind === 'partition') {
      return { kind: 'partition', ...base, table: op.table ?? '', partition: op.partition, action: op.action as never };
    }
    if (op.kind === 'shard') {
      return {
        kind: 'shard',
        ...base,
        table: op.table ?? '',
        partition: op.partition,
        sourceNode: op.sourceNode,
        targetNode: op.targetNode,
        action: op.action as never,
      };
    }
    return { kind: 'resource', ...base, node: op.node, action: op.action as never };
  });
}

/** Benefit (score terms the candidate lowers) and cost (terms it raises), reference weights. */
function benefitCost(ch: ChosenCandidate, cfg: DecideConfig): { benefit: number; cost: number } {
  const w = cfg.weights;
  let benefit = 0,
    cost = 0;
  const terms: [number, number][] = [
    [w.overload, ch.parts.overload],
    [w.headroom, ch.parts.headroom],
    [w.nodeMinute, ch.parts.nodeMinutes],
    [w.gbMoved, ch.parts.gbMoved],
    [w.storageGbMinute, ch.parts.storageGbMinutes],
    [w.action, ch.parts.actions],
    [w.partitionMinute, ch.parts.partitionMinutes],
  ];
  for (const [wt, d] of terms) {
    if (d < 0) benefit += -wt * d;
    else cost += wt * d;
  }
  return { benefit, cost };
}

export function decide(
  stateIn: ClusterState | ClusterStateInput,
  forecasts: readonly Forecast[],
  aggregates: readonly WorkloadAggregate[],
  now: number,
  cfgIn: DecideConfigInput | DecideConfig = {},
  selector?: SelectorModel | null,
): DecideResult {
  const cfg = decideConfig(cfgIn as DecideConfigInput);
  const state = isClusterState(stateIn) ? stateIn : buildState(stateIn);
  const profile = buildLoadProfile(state, forecasts, aggregates, now, cfg);
  const plans: Plan[] = planAll(state, profile, cfg, now);
  // Safe default: the plan the cost model scores best with the configured weights.
  let defaultIndex = 0;
  plans.forEach((p, i) => {
    if (p.after.score < plans[defaultIndex]!.after.score - 1e-9) defaultIndex = i;
  });
  const selection = choose(
    selector,
    plans.map((p) => ({ arm: p.strategy, features: p.features })),
    defaultIndex,
  );
  const plan = plans[selection.index]!;

  const explanations: string[] = [];
  const deferred: string[] = [];
  const due = plan.chosen.filter((ch) => {
    if (!ch.deferred) return true;
    deferred.push(`deferred: ${ch.candidate.explanation} (latest start in ${ch.latestStart} steps)`);
    return false;
  });
  const verdict = applySafety(
    due.map((d) => d.candidate),
    state,
    now,
    cfg,
  );
  const blocked = verdict.blocked.map((b) => `blocked: ${b.candidate.explanation} (${b.reason})`);
  const commands: AnyCommand[] = [];
  const misfits: DecideResult['misfits'] = [];
  // A candidate whose commands an executor would refuse for their form (statistics-driven names
  // that are not plain identifiers, say) is not issued: it is reported blocked and a misfit.
  const issue = (c: Candidate, cmds: AnyCommand[]) => {
    const misfit = cmds.map(commandParamsReason).find((r) => r !== null);
    if (!misfit) return void commands.push(...cmds);
    blocked.push(`blocked: ${c.explanation} (${misfit})`);
    misfits.push({ action: c.action, explanation: c.explanation, reason: misfit });
  };
  for (const ch of due) {
    if (!verdict.allowed.includes(ch.candidate)) continue;
    const { benefit, cost } = benefitCost(ch, cfg);
    const deadline = now + (ch.firstBenefitStep ?? cfg.horizonSteps) * cfg.stepMs;
    issue(ch.candidate, toCommands(ch.candidate, benefit, cost, deadline, state, profile, now, cfg, plan.strategy));
  }
  const placed = awaitCreators(commands, state);
  commands.splice(0, commands.length, ...placed.commands);
  for (const o of placed.orphans) blocked.push(`blocked: ${o.command.explanation} (node ${o.node} is neither active nor being added)`);
  // Recommendations: independent of placement, issued when their own benefit beats their cost.
  const recs: Candidate[] = [];
  const ctx = { s: null as never, state, profile, cfg, now };
  if (cfg.actions.includes('rekey')) recs.push(...planRekeys(ctx), ...planAppendRekeys(ctx));
  if (cfg.actions.some((a) => a === 'composite_index' || a === 'derived_attribute' || a === 'precompute')) {
    recs.push(...planTemplateAdaptations(ctx).filter((c) => cfg.actions.includes(c.action)));
  }
  const recVerdict = applySafety(
    recs.filter((r) => r.recommendation!.benefit - r.recommendation!.cost > cfg.minGain),
    state,
    now,
    cfg,
  );
  for (const r of recVerdict.allowed) {
    issue(
      r,
      toCommands(
        r,
        r.recommendation!.benefit,
        r.recommendation!.cost,
        now + cfg.horizonSteps * cfg.stepMs,
        state,
        profile,
        now,
        cfg,
        plan.strategy,
      ),
    );
  }
  blocked.push(...recVerdict.blocked.map((b) => `blocked: ${b.candidate.explanation} (${b.reason})`));
  for (const c of commands) explanations.push(`${c.commandId} ${c.action}: ${c.explanation}`);
  explanations.push(...deferred, ...blocked);
  if (!commands.length && !deferred.length && !blocked.length) {
    explanations.push(
      `no action: peak node utilisation ${Math.round(plan.before.peakUtil * 100)}% over the next ${cfg.horizonSteps} steps (score ${totalScore(plan.before.parts, cfg.weights).toFixed(1)})`,
    );
  }
  return {
    commands,
    explanations,
    strategy: plan.strategy,
    selection,
    features: plan.features,
    plans: plans.map((p) => ({
      strategy: p.strategy,
      scoreBefore: p.before.score,
      scoreAfter: p.after.score,
      actions: p.chosen.length,
      deferred: p.chosen.filter((c) => c.deferred).length,
    })),
    deferred,
    blocked,
    misfits,
  };
}
