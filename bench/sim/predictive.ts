/**
 * The predictive policy, shardcast itself: forecasts per key unit (any Forecaster) → decide() →
 * commands, with the LinUCB selector learning from the simulated outcomes (rewarded for
 * violation minutes, bytes moved and the node-minutes beyond what the observed load needed).
 * The clairvoyant policy is the same engine with the true future as its forecast (zero-width
 * intervals): what perfect forecasts would give this engine, not a bound (bound.ts is).
 */
import type { AnyCommand, Forecast, WorkloadAggregate } from '../../schemas/types.js';
import type { Forecaster, SeriesForecast } from '../../models/forecaster.js';
import {
  type BucketSpec,
  type DecideConfigInput,
  type SelectorModel,
  buildState,
  decide,
  newSelector,
  outcomeReward,
  update,
} from '../../processors/decide/index.js';
import type { Observation, Policy } from './simulator.js';
import type { Workload } from './workload.js';
import { type PastView, pastView } from './view.js';
import { SimForecaster } from './forecaster.js';
import { driftForecast } from './drift.js';
import { StateError } from '../../lib/errors.js';
import { TARGET_UTIL } from './policies.js';

export interface PredictiveOptions {
  /** Uses the true future instead of forecasts. */
  clairvoyant?: boolean;
  forecaster?: Forecaster;
  decideEverySteps?: number;
  horizonSteps?: number;
  decide?: DecideConfigInput;
  /** Use the key-range drift model (sim/drift.ts) where it beats the forecaster (default true). */
  drift?: boolean;
  /** Learn the plan selector from simulated outcomes (default true). */
  learn?: boolean;
  /** Collects the engine's one-line explanations. */
  log?: (line: string) => void;
}

/** Predictive (forecasts → decide) and clairvoyant (true future → decide) policies. */
export function predictivePolicy(o: PredictiveOptions = {}): Policy & { selector(): SelectorModel } {
  const forecaster = o.forecaster ?? new SimForecaster();
  const every = o.decideEverySteps ?? 2;
  // Horizon and lead margin are times, not step counts: an hour ahead (a scale-out, its data
  // moves at the concurrency limit and a margin fit in it at the simulator's rates), at least
  // 12 steps; a 5-minute margin on top of the estimated migration time.
  let H = 0,
    leadMargin = 0;
  let selector = newSelector(8, { alpha: 0.3, minObservations: 5 });
  const decisions: { step: number; arm: string; features: number[] }[] = [];
  let buckets: BucketSpec[] | null = null;
  return {
    name: o.clairvoyant ? 'clairvoyant' : 'predictive',
    ...(o.clairvoyant ? { readsAhead: true as const } : {}),
    selector: () => selector,
    act(obs: Observation): AnyCommand[] {
      const { state, now, cfg, step } = obs;
      const w = obs.past;
      // the clairvoyant policy reads the true future; the predictive one only the past
      const ahead = o.clairvoyant ? obs.ahead : undefined;
      if (o.clairvoyant && !ahead) throw new StateError('the clairvoyant policy was not given the trace');
      const src = ahead ? pastOf(ahead) : w;
      if (!H) {
        H = o.horizonSteps ?? Math.max(12, Math.ceil(3_600_000 / w.stepMs));
        leadMargin = Math.max(1, Math.ceil(300_000 / w.stepMs));
      }
      // rewards for decisions whose horizon has passed
      while (decisions.length && decisions[0]!.step + H <= step) {
        const d = decisions.shift()!;
        const span = obs.history.slice(d.step, d.step + H);
        const r = outcomeReward({
          violationMinutes: span.reduce((a, s) => a + s.violationMinutes, 0),
          nodeMinutes: span.reduce((a, s) => a + s.nodes, 0) * (w.stepMs / 60_000),
          gbMoved: span.reduce((a, s) => a + s.bytesStarted, 0) / 1024 ** 3,
          failed: span.reduce((a, s) => a + s.failed, 0),
          periodMinutes: H * (w.stepMs / 60_000),
          nodes: Math.max(1, ...span.map((s) => s.nodes)),
          // what the load of those (past) steps needed at the target utilisation
          neededNodeMinutes:
            span.reduce((a, _, j) => a + Math.max(1, Math.ceil(totalAt(w, d.step + j) / (cfg.capacity * TARGET_UTIL))), 0) *
            (w.stepMs / 60_000),
        });
        if (o.learn !== false) selector = update(selector, d.arm, d.features, r);
      }
      if (step === 0 || step % every !== 0) return [];
      buckets ??= w.tables.flatMap((t) =>
        Array.from({ length: t.units }, (_, u) => ({ seriesId: `${t.name}#${u}`, table: t.name, lo: u, hi: u + 1 })),
      );
      const forecasts: Forecast[] = [];
      const seriesTotal = (ti: number, u: number, t: number) => src.load(ti, t, u);
      const mk = (seriesId: string, f: SeriesForecast): Forecast => ({
        seriesId,
        issuedAt: now,
        originTs: now - w.stepMs,
        stepMs: w.stepMs,
        metric: 'queries',
        model: f.model,
        backend: null,
        recentError: null,
        intervalLevel: 0.9,
        points: f.predicted.map((p, h) => ({
          horizon: h + 1,
          ts: now + (h + 1) * w.stepMs,
          predicted: p,
          lower: f.lower[h]!,
          upper: f.upper[h]!,
        })),
      });
      if (o.clairvoyant) {
        w.tables.forEach((tb, ti) => {
          for (let u = 0; u < tb.units; u++) {
            const vals = Array.from({ length: H }, (_, h) =>
              step + h < ahead!.steps ? seriesTotal(ti, u, step + h) : seriesTotal(ti, u, ahead!.steps - 1),
            );
            forecasts.push(mk(`${tb.name}#${u}`, { predicted: vals, lower: vals, upper: vals, model: 'clairvoyant' }));
          }
        });
      } else {
        const histLen = w.season ? w.season + H + 60 : 120;
        const reqs = w.tables.flatMap((tb, ti) =>
          Array.from({ length: tb.units }, (_, u) => {
            const from = Math.max(0, step - histLen);
            const history = new Float64Array(step - from);
            for (let t = from; t < step; t++) history[t - from] = seriesTotal(ti, u, t);
            return { history, horizon: H, season: w.season ?? undefined };
          }),
        );
        const res = forecaster.forecastBatch(reqs);
        if (res instanceof Promise) throw new StateError('the simulator needs a synchronous forecastBatch');
        let i = 0;
        for (const tb of w.tables) {
          const uni = res.slice(i, i + tb.units);
          i += tb.units;
          // a hot range moving along the keys: the table's drift model, where it beats these
          const drift =
            o.drift === false || w.season
              ? null
              : driftForecast(
                  reqs.slice(i - tb.units, i).map((r) => r.history),
                  H,
                  (u, end, k) => {
                    const f = forecaster.forecastBatch([
                      { history: (reqs[i - tb.units + u]!.history as Float64Array).subarray(0, end), horizon: k },
                    ]);
                    if (f instanceof Promise) throw new StateError('the simulator needs a synchronous forecastBatch');
                    return f[0]!.predicted;
                  },
                );
          for (let u = 0; u < tb.units; u++) {
            const f = drift
              ? { predicted: drift.predicted[u]!, lower: drift.lower[u]!, upper: drift.upper[u]!, model: 'sim-drift' }
              : uni[u]!;
            forecasts.push(mk(`${tb.name}#${u}`, f));
          }
        }
      }
      const aggregates: WorkloadAggregate[] = state.partitions.map((p) => {
        const l = obs.lastPartitionLoad.get(p.id) ?? { reads: 0, writes: 0 };
        return {
          seriesId: `${p.table}/${p.id}`,
          windowStart: now - w.stepMs,
          windowEnd: now,
          source: 'sim',
          table: p.table,
          keyBucket: null,
          partition: p.id,
          node: p.node,
          queries: l.reads + l.writes,
          reads: l.reads,
          writes: l.writes,
          rowsRead: 0,
          rowsWritten: 0,
          errors: 0,
          unparsed: 0,
          lateMerged: 0,
          latencySumMs: 0,
          latencyP50Ms: null,
          latencyP95Ms: null,
          latencyP99Ms: null,
          hotKeys: [],
          coAccess: [],
        };
      });
      const st = buildState({
        tables: [...state.tables],
        partitions: [...state.partitions],
        nodes: [...state.nodes],
        buckets,
        coAccess: obs.lastCoAccess,
        inFlight: [...state.inFlight],
        recent: [...state.recent],
      });
      const cfgIn: DecideConfigInput = {
        stepMs: w.stepMs,
        horizonSteps: H,
        decideEveryMs: every * w.stepMs,
        throttleBytesPerSec: cfg.throttleBytesPerSec,
        migrationOverhead: cfg.migrationOverhead,
        provisioningMs: cfg.provisioningMs,
        crossNodeCost: cfg.crossNodeCost,
        // planned at point + 0.3 × (upper − point) per partition: the margins add up linearly over a
        // node's partitions while their errors largely do not, so a node's plan sits higher in its
        // own interval than any one partition's
        risk: o.clairvoyant ? 0 : 0.3,
        targetUtil: TARGET_UTIL,
        leadMarginSteps: leadMargin,
        policy: o.clairvoyant ? 'clairvoyant' : 'shardcast-predictive',
        ...o.decide,
        // scale in when the remaining nodes stay under the target at the forecast's upper bound
        // (scale-out acts on the risk-adjusted plan above the target: the band between the two is
        // the hysteresis, as wide as the forecast is uncertain)
        scale: {
          minNodes: 2,
          maxNodes: 64,
          scaleInUtil: TARGET_UTIL,
          nodePrefix: o.clairvoyant ? 'c' : 'p',
          tailSteps: H,
          nodeCapacity: cfg.capacity,
          ...o.decide?.scale,
        },
      };
      const r = decide(st, forecasts, aggregates, now, cfgIn, selector);
      if (o.log) for (const line of r.explanations) o.log(`[${step}] ${line}`);
      decisions.push({ step, arm: r.strategy, features: r.features });
      return r.commands;
    },
  };
}

/** The load of step t over all tables, from what the policy may read. */
function totalAt(v: PastView, t: number): number {
  let s = 0;
  v.tables.forEach((tb, ti) => {
    for (let u = 0; u < tb.units; u++) s += v.load(ti, t, u);
  });
  return s;
}

/** A view of the whole trace, for the clairvoyant policy only. */
function pastOf(w: Workload): PastView {
  const v = pastView(w);
  v.advance(w.steps);
  return v;
}
