/**
 * The predictive policy is shardcast itself, on the modules `run forecast` and `run decide` run:
 * each step the previous window's load is handed over as the aggregates ingest would emit (one
 * series per table and key unit, node totals beside them), the forecast rounds
 * (processors/forecast/rounds.ts) feed the online forecaster (models/online.ts, built from the
 * pipeline's own options: the ensemble with its intervals, seasons it detects itself), and the
 * decide rounds (processors/decide/rounds.ts) fold, discount by skill, plan, select and limit,
 * learning the plan selector from the simulated outcomes as the live stage learns from results.
 * Nothing here forecasts and no policy is told a season.
 *
 * The clairvoyant policy is the same decide rounds fed the true future as its forecasts (zero-width
 * intervals, issued at the same origins): what perfect forecasts would give this engine, not a
 * bound (bound.ts is).
 */
import type { Forecast, WorkloadAggregate } from '../../schemas/types.js';
import { OnlineForecaster } from '../../models/online.js';
import type { OnlineForecasterOptions } from '../../models/options.js';
import { pipelineForecasterOptions } from '../../processors/forecast/forecasterOptions.js';
import { initBackend } from '../../models/backend.js';
import { ForecastRounds } from '../../processors/forecast/rounds.js';
import { type BucketSpec, type DecideConfigInput, buildState } from '../../processors/decide/index.js';
import { DecideRounds } from '../../processors/decide/rounds.js';
import { StateError } from '../../lib/errors.js';
import type { Observation, Policy } from './simulator.js';
import type { PastView } from './view.js';
import type { Workload } from './workload.js';
import { TARGET_UTIL } from './policies.js';
import { tableTotals, unitTotals } from './load.js';

/** Source name of the simulated key-unit aggregates, and of the node totals. */
const SOURCE = 'sim';
const NODE_SOURCE = 'sim-nodes';

export interface PredictiveOptions {
  /** Uses the true future instead of forecasts. */
  clairvoyant?: boolean;
  /** Forecast and planning horizon in steps (default 30, the engine's default). */
  horizonSteps?: number;
  decide?: DecideConfigInput;
  /**
   * Changes to the pipeline's forecaster options (default: the global tfjs model off, to keep a
   * benchmark run within the time two shared cores allow; the ensemble's anchor, Holt-Winters,
   * and seasonal naive stay).
   */
  forecaster?: Partial<OnlineForecasterOptions>;
  /** Collects the engine's one-line explanations. */
  log?: (line: string) => void;
}

export interface PredictivePolicy extends Policy {
  /** The modules this policy runs, once made at its first step (for tests). */
  parts(): { forecaster: OnlineForecaster | null; forecastRounds: ForecastRounds | null; decideRounds: DecideRounds | null };
}

/**
 * The series of a table's key unit: once its key is hashed the units cut the hash, and their
 * series start afresh under new names, as ingest's buckets of a re-keyed table do
 * (schemas/keyBuckets.ts).
 */
function unitSeries(table: string, u: number, hashed: boolean): string {
  return `${SOURCE}|${table}|${hashed ? 'hash.' : ''}k${u}`;
}

/** Names of the tables whose key is hashed now. */
function hashedTables(obs: Observation): Set<string> {
  return new Set(obs.state.tables.filter((t) => t.keyHash).map((t) => t.name));
}

/** The previous step's load as ingest's aggregates: one per table and key unit, and per node. */
function aggregatesOf(obs: Observation, windowStart: number): { units: WorkloadAggregate[]; nodes: WorkloadAggregate[] } {
  const w = obs.past,
    t = obs.step - 1;
  const hashed = hashedTables(obs);
  const base = (seriesId: string, source: string, table: string | null, node: string | null, reads: number, writes: number) => ({
    seriesId,
    windowStart,
    windowEnd: windowStart + w.stepMs,
    source,
    table,
    keyBucket: null,
    partition: null,
    node,
    queries: reads + writes,
    reads,
    writes,
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
  });
  const units = w.tables.flatMap((tb, ti) => {
    const even = hashed.has(tb.name)
      ? unitTotals(
          tb.units,
          (u) => w.reads(ti, t, u),
          (u) => w.writes(ti, t, u),
        )
      : null;
    return Array.from({ length: tb.units }, (_, u) =>
      even
        ? base(unitSeries(tb.name, u, true), SOURCE, tb.name, null, even.reads / tb.units, even.writes / tb.units)
        : base(unitSeries(tb.name, u, false), SOURCE, tb.name, null, w.reads(ti, t, u), w.writes(ti, t, u)),
    );
  });
  const nodes = [...obs.lastNodeLoad].map(([node, q]) => base(`${NODE_SOURCE}|${node}`, NODE_SOURCE, null, node, q, 0));
  return { units, nodes };
}

/** The true load from `origin + 1` on, as forecasts issued at `origin` (the clairvoyant policy's). */
function trueFuture(ahead: Workload, origin: number, H: number, issuedAt: number, hashed: ReadonlySet<string>): Forecast[] {
  // a hashed table's units all carry its mean: one sum per table and step, not one per unit
  const means = new Map<string, number>();
  const v = (ti: number, t: number, u: number) => {
    const step = Math.min(t, ahead.steps - 1);
    if (hashed.has(ahead.tables[ti]!.name)) {
      const key = `${ti}:${step}`;
      let mean = means.get(key);
      if (mean === undefined) {
        const tot = tableTotals(ahead, ti, step);
        mean = (tot.reads + tot.writes) / ahead.tables[ti]!.units;
        means.set(key, mean);
      }
      return mean;
    }
    const s = step * ahead.tables[ti]!.units + u;
    return ahead.reads[ti]![s]! + ahead.writes[ti]![s]!;
  };
  return ahead.tables.flatMap((tb, ti) =>
    Array.from({ length: tb.units }, (_, u) => ({
      seriesId: unitSeries(tb.name, u, hashed.has(tb.name)),
      issuedAt,
      originTs: ahead.startTs + origin * ahead.stepMs,
      stepMs: ahead.stepMs,
      metric: 'queries',
      model: 'clairvoyant',
      backend: null,
      recentError: null,
      intervalLevel: 0.9,
      points: Array.from({ length: H }, (_, k) => {
        const x = v(ti, origin + k + 1, u);
        return { horizon: k + 1, ts: ahead.startTs + (origin + k + 1) * ahead.stepMs, predicted: x, lower: x, upper: x };
      }),
    })),
  );
}

function bucketsOf(w: PastView, hashed: ReadonlySet<string>): BucketSpec[] {
  return w.tables.flatMap((t) =>
    Array.from({ length: t.units }, (_, u) => ({ seriesId: unitSeries(t.name, u, hashed.has(t.name)), table: t.name, lo: u, hi: u + 1 })),
  );
}

/** Predictive (the product's forecast → decide) and clairvoyant (true future → decide) policies. */
export function predictivePolicy(o: PredictiveOptions = {}): PredictivePolicy {
  let forecaster: OnlineForecaster | null = null;
  let forecastRounds: ForecastRounds | null = null;
  let decideRounds: DecideRounds | null = null;
  let buckets: BucketSpec[] | null = null;
  let bucketsHashed = '';

  const setUp = async (obs: Observation): Promise<DecideRounds> => {
    const { past: w, cfg } = obs;
    const H = o.horizonSteps ?? 30;
    if (!o.clairvoyant) {
      const fo = { global: false as const, ...o.forecaster };
      const backend = fo.global === false ? null : await initBackend('auto');
      forecaster = new OnlineForecaster({ ...pipelineForecasterOptions({ stepMs: w.stepMs, horizon: H, backend }), ...fo });
      forecastRounds = new ForecastRounds(forecaster, { stepMs: w.stepMs, sources: [SOURCE] });
    }
    return new DecideRounds({
      capacity: cfg.capacity,
      decide: {
        stepMs: w.stepMs,
        horizonSteps: H,
        // a round per window, as the live stage decides on every window's forecasts
        decideEveryMs: w.stepMs,
        throttleBytesPerSec: cfg.throttleBytesPerSec,
        migrationOverhead: cfg.migrationOverhead,
        provisioningMs: cfg.provisioningMs,
        crossNodeCost: cfg.crossNodeCost,
        // planned at point + 0.3 × (upper − point) per partition: the margins add up linearly over a
        // node's partitions while their errors largely do not
        risk: o.clairvoyant ? 0 : 0.3,
        targetUtil: TARGET_UTIL,
        leadMarginSteps: Math.max(1, Math.ceil(300_000 / w.stepMs)),
        policy: o.clairvoyant ? 'clairvoyant' : 'shardcast-predictive',
        ...o.decide,
        scale: {
          minNodes: 2,
          maxNodes: 64,
          scaleInUtil: TARGET_UTIL,
          nodePrefix: o.clairvoyant ? 'c' : 'p',
          tailSteps: H,
          nodeCapacity: cfg.capacity,
          ...o.decide?.scale,
        },
      },
    });
  };

  return {
    name: o.clairvoyant ? 'clairvoyant' : 'predictive',
    ...(o.clairvoyant ? { readsAhead: true as const } : {}),
    parts: () => ({ forecaster, forecastRounds, decideRounds }),
    async act(obs) {
      if (o.clairvoyant && !obs.ahead) throw new StateError('the clairvoyant policy was not given the trace');
      decideRounds ??= await setUp(obs);
      if (obs.step === 0) return [];
      const w = obs.past;
      const windowStart = obs.now - w.stepMs;
      const { units, nodes } = aggregatesOf(obs, windowStart);
      for (const r of obs.results) decideRounds.observeResult(r);
      for (const a of [...units, ...nodes]) decideRounds.observeAggregate(a);
      // the forecast rounds forecast from the window before the newest seen, as live; the
      // clairvoyant policy's true future is issued at that same origin
      const forecasts = forecastRounds
        ? (await forecastRounds.next(units, obs.now)).forecasts
        : obs.step >= 2
          ? trueFuture(obs.ahead!, obs.step - 2, decideRounds.config.horizonSteps, obs.now, hashedTables(obs))
          : [];
      for (const f of forecasts) decideRounds.observeForecast(f);
      const now = decideRounds.due();
      if (now === null) return [];
      const hashed = hashedTables(obs);
      const key = [...hashed].sort().join(',');
      if (!buckets || key !== bucketsHashed) [buckets, bucketsHashed] = [bucketsOf(w, hashed), key];
      const st = buildState({
        tables: [...obs.state.tables],
        partitions: [...obs.state.partitions],
        nodes: [...obs.state.nodes],
        buckets: buckets!,
        coAccess: obs.lastCoAccess,
        inFlight: [...obs.state.inFlight],
        recent: [...obs.state.recent],
      });
      const { result } = decideRounds.decide(st, now);
      if (o.log) for (const line of result.explanations) o.log(`[${obs.step}] ${line}`);
      return result.commands;
    },
  };
}
