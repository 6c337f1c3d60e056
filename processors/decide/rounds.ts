/**
 * The decide stage's core, without Kafka or I/O: what `run decide` and the simulator's
 * predictive policy both drive. Forecasts, aggregates and command results are observed as
 * they arrive; a round is due when new forecasts came and the warm-up has passed (`due` says
 * at which time); the caller reads the planning state for that time and `decide`s:
 *
 *   settle the plan selector's matured decisions (feedback.ts) → score the matured forecasts
 *   (skill.ts) → fold forecasts and aggregates onto key buckets (series.ts) → move them toward
 *   the current load as far as skill is lacking → mark the buckets whose written keys keep
 *   growing (keyGrowth.ts) → the engine (engine.ts: plan selector, safety limits) → remember the
 *   decision for its reward and its forecasts for their skill.
 */
import type { CommandResult, Forecast, WorkloadAggregate } from '../../schemas/types.js';
import { type DecideConfig, type DecideConfigInput, decideConfig } from './config.js';
import { type DecideResult, decide } from './engine.js';
import { DecisionFeedback, type Settled } from './feedback.js';
import type { SelectorModel } from './selector.js';
import { foldAggregates, foldForecasts } from './series.js';
import { KeyGrowth } from './keyGrowth.js';
import { ForecastSkill, discountForecasts } from './skill.js';
import type { ClusterState, ClusterStateInput } from './state.js';

export interface DecideRoundsOptions {
  /** Queries per window a node serves before it is over capacity (the selector's reward). */
  capacity: number;
  /** The engine's configuration (config.ts; defaults when absent). */
  decide?: DecideConfigInput;
  /**
   * Windows of forecasts to see before the first plan (default 5): the first forecasts of a
   * series rest on one or two windows, too little to move data or remove a node on.
   */
  warmupWindows?: number;
}

export interface Round {
  result: DecideResult;
  /** Decisions whose horizon closed and whose reward the selector learned. */
  settled: Settled[];
  /** Forecast skill after this round's matured points (null while too few), and the trust it gave. */
  skill: number | null;
  trust: number;
}

export class DecideRounds {
  readonly config: DecideConfig;
  readonly skill: ForecastSkill;
  private readonly forecasts = new Map<string, Forecast>();
  private readonly latest = new Map<string, WorkloadAggregate>();
  /** Distinct forecast origins seen (bounded by the warm-up: only its size matters). */
  private readonly origins = new Set<number>();
  private fresh = false;
  private feedback: DecisionFeedback | null = null;
  private readonly keyGrowth = new KeyGrowth();

  constructor(private readonly opts: DecideRoundsOptions) {
    this.config = decideConfig(opts.decide ?? {});
    this.skill = new ForecastSkill(this.config.skill);
  }

  /** The plan selector as learned so far (null before the first decision). */
  get selector(): SelectorModel | null {
    return this.feedback?.selector ?? null;
  }

  observeForecast(f: Forecast): void {
    this.forecasts.set(f.seriesId, f);
    this.fresh = true;
  }

  observeAggregate(a: WorkloadAggregate): void {
    const cur = this.latest.get(a.seriesId);
    if (!cur || cur.windowStart <= a.windowStart) this.latest.set(a.seriesId, a);
    this.feedback?.observeAggregate(a);
    this.skill.observeAggregate(a);
    this.keyGrowth.observe(a);
  }

  observeResult(r: CommandResult): void {
    this.feedback?.observeResult(r);
  }

  /** The time of the round now due (after the newest forecast's origin window), or null when none is. */
  due(): number | null {
    if (!this.fresh) return null;
    this.fresh = false;
    const warmup = this.opts.warmupWindows ?? 5;
    if (this.origins.size < warmup) {
      for (const f of this.forecasts.values()) this.origins.add(f.originTs);
      if (this.origins.size < warmup) return null;
    }
    let now = -Infinity;
    for (const f of this.forecasts.values()) now = Math.max(now, f.originTs + f.stepMs);
    return Number.isFinite(now) ? now : null;
  }

  /**
   * One round at `now` on the planning state read for it; `input` replaces the configuration for
   * this round (the decide stage passes the operators' approval modes).
   */
  decide(state: ClusterState | ClusterStateInput, now: number, input?: DecideConfigInput): Round {
    const folded = foldForecasts(this.forecasts.values());
    if (!this.feedback && folded.length > 0) {
      const f0 = folded[0]!;
      this.feedback = new DecisionFeedback({
        capacity: this.opts.capacity,
        stepMs: f0.stepMs,
        horizonMs: f0.points.length * f0.stepMs,
        targetUtil: this.config.targetUtil,
      });
    }
    const settled = this.feedback?.settle(now) ?? [];
    const skill = this.skill.update();
    const trust = this.skill.trust;
    const aggregates = foldAggregates(this.latest.values());
    const current = new Map(aggregates.filter((a) => a.table !== null).map((a) => [a.seriesId, a.queries]));
    const planned = discountForecasts(folded, current, trust);
    const result = decide(
      withGrowingKeys(state, this.keyGrowth.growing()),
      planned,
      aggregates,
      now,
      input ? decideConfig(input) : this.config,
      this.feedback?.selector ?? null,
    );
    if (trust < 1)
      result.explanations.push(
        `forecast skill ${skill!.toFixed(2)}: plans ${Math.round((1 - trust) * 100)}% of the way to the current load`,
      );
    this.feedback?.record(
      now,
      result.strategy,
      result.features,
      result.commands.map((c) => c.commandId),
    );
    this.skill.track(folded);
    return { result, settled, skill, trust };
  }
}

/** The planning state with the buckets in `growing` marked as appending. */
function withGrowingKeys<S extends ClusterState | ClusterStateInput>(state: S, growing: ReadonlySet<string>): S {
  if (growing.size === 0 || !state.buckets?.some((b) => growing.has(b.seriesId))) return state;
  return { ...state, buckets: state.buckets.map((b) => (growing.has(b.seriesId) ? { ...b, appending: true } : b)) };
}
