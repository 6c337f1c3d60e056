/**
 * Candidate plans over the forecast horizon. For each strategy (a weighting of the cost
 * model's terms), a greedy search: generate every action planner's candidates against the
 * current scenario, score each by the change it makes, take the best that gains at least
 * `minGain`, apply it, repeat up to `maxActionsPerTick`.
 *
 * Lead time: a candidate's benefit starts at `firstBenefitStep` (the first step it relieves a
 * node above target) and its critical path lasts until its last op finishes. Its latest start
 * is `firstBenefitStep − duration − leadMarginSteps`, earlier by the wait for a free data-move
 * slot (moves in flight and moves this plan issues now hold them); if that is after the next
 * decide run, it is planned (so nothing else is planned for the same problem) but deferred,
 * not issued: changes start early enough to finish before the load, and no earlier than needed.
 */
import type { DecideConfig, Strategy, Weights } from './config.js';
import { type ScoreParts, totalScore } from './costModel.js';
import type { LoadProfile } from './loadProfile.js';
import { type PlanMetrics, type Scenario, planMetrics } from './scenario.js';
import { baselineScenario } from './baseline.js';
import type { ClusterState } from './state.js';
import type { Candidate, PlanContext } from './actions/common.js';
import { PLACEMENT_ACTIONS } from './actions/registry.js';

export interface ChosenCandidate {
  candidate: Candidate;
  /** The ops as planned in this plan's scenario. */
  ops: Candidate['ops'];
  delta: number;
  parts: ScoreParts;
  firstBenefitStep: number | null;
  latestStart: number;
  deferred: boolean;
}

export interface Plan {
  strategy: Strategy;
  chosen: ChosenCandidate[];
  /** Metrics with the reference (configured) weights, before and after the plan. */
  before: PlanMetrics;
  after: PlanMetrics;
  /** Context features for the plan selector. */
  features: number[];
}

export function strategyWeights(strategy: Strategy, w: Weights): { weights: Weights; targetDelta: number } {
  switch (strategy) {
    case 'frugal':
      return { weights: { ...w, nodeMinute: w.nodeMinute * 2, gbMoved: w.gbMoved * 2, headroom: w.headroom * 0.5 }, targetDelta: 0 };
    case 'headroom':
      return { weights: { ...w, headroom: w.headroom * 2 }, targetDelta: -0.1 };
    case 'scale-first':
      return { weights: { ...w, gbMoved: w.gbMoved * 3, nodeMinute: w.nodeMinute * 0.5 }, targetDelta: 0 };
    case 'move-first':
      return { weights: { ...w, nodeMinute: w.nodeMinute * 3 }, targetDelta: 0 };
    default:
      return { weights: w, targetDelta: 0 };
  }
}

/** First step where `after` relieves a node that `before` has above target. */
function firstRelief(before: Scenario, after: Scenario): number | null {
  let first: number | null = null;
  for (const n of before.nodes.values()) {
    const m = after.nodes.get(n.id);
    if (!m) continue;
    for (let k = 0; k < before.steps && (first === null || k < first); k++) {
      if (n.load[k]! > before.targetUtil * n.capacity && m.load[k]! < n.load[k]! - 1e-9) {
        first = k;
        break;
      }
    }
  }
  return first;
}

/**
 * What a candidate changes in a scenario, before any weighting: its score parts and the first
 * step it relieves a hot node. A compound candidate keeps the parts before and after, so its
 * score change is taken as the difference of the two scores, as it always was, and the ops its
 * run built (a compound candidate makes them as it runs; lead time is read from them).
 */
export type Measured = { explanation: string } & (
  | { kind: 'single'; parts: ScoreParts; firstBenefitStep: number | null }
  | {
      kind: 'compound';
      parts: ScoreParts;
      before: ScoreParts;
      after: ScoreParts;
      firstBenefitStep: number | null;
      ops: Candidate['ops'];
    }
);

export function measureCandidate(s: Scenario, c: Candidate): Measured {
  if (c.single) {
    const { parts, firstBenefitStep } = s.measure(c.single(s));
    return { explanation: c.explanation, kind: 'single', parts, firstBenefitStep };
  }
  const t = s.clone();
  c.run(t);
  const parts = {} as ScoreParts;
  for (const k of Object.keys(s.parts) as (keyof ScoreParts)[]) parts[k] = t.parts[k] - s.parts[k];
  return {
    explanation: c.explanation,
    kind: 'compound',
    parts,
    before: { ...s.parts },
    after: { ...t.parts },
    firstBenefitStep: firstRelief(s, t),
    ops: c.ops,
  };
}

/** A measured candidate's score change under `weights` (negative is better). */
export function scoreMeasured(m: Measured, weights: Weights): { delta: number; parts: ScoreParts; firstBenefitStep: number | null } {
  const delta = m.kind === 'single' ? totalScore(m.parts, weights) : totalScore(m.after, weights) - totalScore(m.before, weights);
  return { delta, parts: m.parts, firstBenefitStep: m.firstBenefitStep };
}

/**
 * Measurements shared by the strategies of one round. A strategy's scenario is fixed by its
 * target utilisation and the candidates it took so far (by their place in the generated list,
 * which is deterministic for a scenario), so strategies that agree on their first choices
 * measure the same candidates once; only the weighting differs between them.
 */
export class MeasureMemo {
  private readonly lists = new Map<string, Measured[]>();
  /** Candidate lists taken from an earlier strategy instead of measured again. */
  hits = 0;
  key(targetUtil: number, taken: readonly number[]): string {
    return `${targetUtil}|${taken.join(',')}`;
  }
  get(key: string): Measured[] | undefined {
    const list = this.lists.get(key);
    if (list) this.hits++;
    return list;
  }
  private readonly searches = new Map<string, unknown>();
  /** A planner's search for the scenario `key` names, made on first use (PlanContext.reuse). */
  reuse<T>(key: string, name: string, make: () => T): T {
    const k = `${key}#${name}`;
    if (this.searches.has(k)) return this.searches.get(k) as T;
    const v = make();
    this.searches.set(k, v);
    return v;
  }
  set(key: string, list: Measured[]): void {
    this.lists.set(key, list);
  }
}

function criticalPath(c: Candidate): number {
  return c.ops.reduce((m, o) => Math.max(m, o.finishStep), 0);
}

/** The reference scenario and its metrics, the same for every strategy of a round. */
export interface Reference {
  scenario: Scenario;
  metrics: PlanMetrics;
}

export function referenceOf(state: ClusterState, profile: LoadProfile, cfg: DecideConfig): Reference {
  const scenario = baselineScenario(state, profile, cfg);
  return { scenario, metrics: planMetrics(scenario, cfg.weights) };
}

export function planFor(
  strategy: Strategy,
  state: ClusterState,
  profile: LoadProfile,
  cfg: DecideConfig,
  now: number,
  ref: Reference = referenceOf(state, profile, cfg),
  memo: MeasureMemo = new MeasureMemo(),
): Plan {
  const { weights, targetDelta } = strategyWeights(strategy, cfg.weights);
  const targetUtil = Math.max(0.3, cfg.targetUtil + targetDelta);
  const s = targetUtil === ref.scenario.targetUtil ? ref.scenario.clone() : baselineScenario(state, profile, cfg, targetUtil);
  const before = ref.metrics;
  const ctx: PlanContext = { s, state, profile, cfg, now };
  const decideEverySteps = Math.max(1, Math.round(cfg.decideEveryMs / cfg.stepMs));
  const chosen: ChosenCandidate[] = [];
  const allowed = new Set(cfg.actions);
  // Data moves queue behind the concurrency limit: a candidate's first move waits until a slot
  // frees, held by moves in flight and by the moves this plan issues now (until they finish).
  const DATA = new Set(['move', 'colocate', 'replicate']);
  const inFlightEnds = state.inFlight
    .filter((f) => DATA.has(f.action))
    .map((f) => Math.max(0, Math.ceil((f.expectedEnd - now) / cfg.stepMs)));
  const queueDelay = (c: Candidate) => {
    const starts = c.ops.filter((o) => DATA.has(o.action)).map((o) => o.startStep);
    if (!starts.length) return 0;
    const ends = [...inFlightEnds];
    for (const ch of chosen) if (!ch.deferred) for (const o of ch.ops) if (DATA.has(o.action)) ends.push(o.finishStep);
    const max = cfg.safety.maxConcurrentMoves;
    if (ends.length < max) return 0;
    ends.sort((a, b) => a - b);
    return Math.max(0, ends[ends.length - max]! - Math.min(...starts));
  };
  const taken: number[] = [];
  for (let i = 0; i < cfg.maxActionsPerTick; i++) {
    let best: ChosenCandidate | null = null;
    let bestIndex = -1;
    const key = memo.key(s.targetUtil, taken);
    const known = memo.get(key);
    ctx.reuse = (name, make) => memo.reuse(key, name, make);
    const measured: Measured[] = [];
    let index = 0;
    for (const [action, { plan }] of PLACEMENT_ACTIONS) {
      if (!allowed.has(action)) continue;
      for (const c of plan(ctx)) {
        const seen = known?.[index];
        const m = seen?.explanation === c.explanation ? seen : measureCandidate(s, c);
        if (m.kind === 'compound') c.ops = [...m.ops];
        measured.push(m);
        const ev = scoreMeasured(m, weights);
        index++;
        if (!(ev.delta < -cfg.minGain)) continue;
        if (!best || ev.delta < best.delta - 1e-9) {
          const latestStart = ev.firstBenefitStep === null ? 0 : ev.firstBenefitStep - criticalPath(c) - cfg.leadMarginSteps;
          best = { candidate: c, ops: c.ops, ...ev, latestStart, deferred: latestStart - queueDelay(c) > decideEverySteps };
          bestIndex = index - 1;
        }
      }
    }
    if (!known) memo.set(key, measured);
    if (!best) break;
    taken.push(bestIndex);
    best.candidate.run(s);
    best.ops = best.candidate.ops;
    if (best.deferred) {
      // lead time is measured on the ops as run in the scenario (compound candidates build them there)
      const path = criticalPath(best.candidate);
      best.latestStart = best.firstBenefitStep === null ? 0 : best.firstBenefitStep - path - cfg.leadMarginSteps;
      best.deferred = best.latestStart - queueDelay(best.candidate) > decideEverySteps;
    }
    chosen.push(best);
  }
  // The plan's effect scored with the reference weights, issued and deferred parts alike.
  const refAfter = baselineScenario(state, profile, cfg);
  for (const c of chosen) {
    c.candidate.run(refAfter);
    c.candidate.ops = c.ops;
  }
  const after = planMetrics(refAfter, cfg.weights);
  return { strategy, chosen, before, after, features: planFeatures(before, after, chosen) };
}

/**
 * Features of a plan for the selector: bias, overload and headroom avoided (capacity-minutes),
 * GiB moved, node-minutes added, actions, deferred share, peak utilisation after. Scaled to O(1).
 */
export function planFeatures(before: PlanMetrics, after: PlanMetrics, chosen: readonly ChosenCandidate[]): number[] {
  const issued = chosen.filter((c) => !c.deferred).length;
  return [
    1,
    Math.tanh((before.parts.overload - after.parts.overload) / 10),
    Math.tanh((before.parts.headroom - after.parts.headroom) / 10),
    Math.tanh((after.parts.gbMoved - before.parts.gbMoved) / 50),
    Math.tanh((after.parts.nodeMinutes - before.parts.nodeMinutes) / 100),
    Math.tanh(issued / 5),
    chosen.length ? (chosen.length - issued) / chosen.length : 0,
    Math.min(2, after.peakUtil) / 2,
  ];
}

export function planAll(
  state: ClusterState,
  profile: LoadProfile,
  cfg: DecideConfig,
  now: number,
  memo: MeasureMemo = new MeasureMemo(),
): Plan[] {
  const ref = referenceOf(state, profile, cfg);
  return cfg.strategies.map((st) => planFor(st, state, profile, cfg, now, ref, memo));
}
