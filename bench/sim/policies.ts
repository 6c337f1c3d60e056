/**
 * The policies the simulator compares. All of them emit the command objects the executors
 * consume.
 * - static: hash placement on enough nodes for the trace's peak at targetUtil; never acts.
 * - reactive: modelled on CockroachDB/TiDB load-based splitting and rebalancing: split a range
 *   whose load over the last measurement window (the previous step, standing in for their
 *   10-second QPS window) exceeds splitFraction × node capacity, at its load-weighted median
 *   key; move one range per step from the hottest node toward the mean when it is more than
 *   10% above it; scale out when cluster utilisation is above 80%, in (draining the coldest
 *   node) after 15 steps below 50%.
 * - predictive: shardcast: forecasts per key unit (any Forecaster) → decide() → commands,
 *   with the LinUCB selector learning from the simulated outcomes (rewarded for violation
 *   minutes, bytes moved and the node-minutes beyond what the observed load needed).
 * - oracle: the same engine with the true future as its forecast (zero-width intervals).
 */
import type { AnyCommand, Forecast, WorkloadAggregate } from '../../schemas/types.js';
import type { Forecaster, SeriesForecast } from '../../models/forecaster.js';
import {
  type BucketSpec,
  type DecideConfigInput,
  type SelectorModel,
  buildState,
  commandId,
  decide,
  newSelector,
  outcomeReward,
  rangePartitionId,
  update,
} from '../../processors/decide/index.js';
import type { Observation, Policy, SimConfig } from './simulator.js';
import { type Workload, totalPerStep } from './workload.js';
import { SimForecaster } from './forecaster.js';
import { driftForecast } from './drift.js';
import { StateError } from '../../lib/errors.js';

const TARGET_UTIL = 0.85;

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

function base(now: number, store: string, explanation: string, policy: string, estimatedDurationMs: number) {
  return {
    issuedAt: now,
    deadline: now + estimatedDurationMs,
    store,
    storeKind: 'postgres' as const,
    params: {} as Record<string, string>,
    evidence: {
      seriesId: null,
      currentLoad: 0,
      forecastPeak: 0,
      forecastLower: 0,
      forecastUpper: 0,
      peakAt: null,
      capacity: null,
      model: null,
    },
    expectedBenefit: 0,
    expectedCost: 0,
    estimatedDurationMs,
    requiresApproval: false,
    policy,
    explanation,
  };
}

export interface ReactiveOptions {
  splitFraction?: number;
  rebalanceThreshold?: number;
  scaleOutUtil?: number;
  scaleInUtil?: number;
  scaleInSteps?: number;
  maxConcurrentMoves?: number;
  minNodes?: number;
}

export function reactivePolicy(o: ReactiveOptions = {}): Policy {
  const splitFraction = o.splitFraction ?? 0.25,
    thr = o.rebalanceThreshold ?? 0.1;
  const outUtil = o.scaleOutUtil ?? 0.8,
    inUtil = o.scaleInUtil ?? 0.5,
    inSteps = o.scaleInSteps ?? 15;
  const maxMoves = o.maxConcurrentMoves ?? 4,
    minNodes = o.minNodes ?? 2;
  let lowFor = 0;
  return {
    name: 'reactive',
    act(obs: Observation): AnyCommand[] {
      const { state, now, cfg, workload: w, step } = obs;
      if (step === 0) return [];
      const out: AnyCommand[] = [];
      const busy = new Set(state.inFlight.map((f) => f.partition).filter(Boolean));
      const movesRunning = state.inFlight.filter((f) => ['move', 'colocate', 'replicate'].includes(f.action)).length;
      const scaling = state.inFlight.some((f) => f.action === 'scale_out' || f.action === 'scale_in');
      const windowMs = w.stepMs;
      // 1. load-based splitting
      const tIdx = new Map(w.tables.map((t, i) => [t.name, i]));
      for (const p of state.partitions) {
        const l = obs.lastPartitionLoad.get(p.id);
        if (!l || busy.has(p.id) || l.reads + l.writes <= splitFraction * cfg.capacity) continue;
        const ti = tIdx.get(p.table)!,
          tb = w.tables[ti]!;
        const lo = p.lo ?? 0,
          hi = p.hi ?? tb.units;
        if (hi - lo < 2) continue;
        const loads: number[] = [];
        for (let u = lo; u < hi; u++) loads.push(w.reads[ti]![(step - 1) * tb.units + u]! + w.writes[ti]![(step - 1) * tb.units + u]!);
        const total = loads.reduce((a, b) => a + b, 0);
        let acc = 0,
          at = lo + 1,
          best = Infinity;
        for (let i = 0; i < loads.length - 1; i++) {
          acc += loads[i]!;
          const gap = Math.abs(acc / total - 0.5);
          if (gap < best) {
            best = gap;
            at = lo + i + 1;
          }
        }
        out.push({
          kind: 'partition',
          ...base(now, p.store, `load ${(l.reads + l.writes).toFixed(0)}/window above split threshold`, 'reactive', w.stepMs),
          commandId: commandId('split', `${p.id}@${at}`, now, windowMs),
          table: p.table,
          partition: p.id,
          action: 'split',
          params: { splitAt: String(at), leftId: rangePartitionId(p.table, p.lo, at), rightId: rangePartitionId(p.table, at, p.hi) },
        });
        busy.add(p.id);
      }
      // 2. rebalance toward the mean
      const active = state.nodes.filter((n) => n.status !== 'provisioning');
      const loadOf = (id: string) => obs.lastNodeLoad.get(id) ?? 0;
      const totalLoad = active.reduce((a, n) => a + loadOf(n.id), 0);
      const totalCap = active.reduce((a, n) => a + n.capacity, 0);
      const meanLoad = totalLoad / Math.max(1, active.length);
      if (movesRunning < maxMoves && active.length > 1) {
        const sorted = [...active].sort((a, b) => loadOf(b.id) - loadOf(a.id));
        const hot = sorted[0]!,
          cold = sorted[sorted.length - 1]!;
        if (loadOf(hot.id) > meanLoad * (1 + thr) && !state.inFlight.some((f) => f.targetNode === hot.id || f.sourceNode === hot.id)) {
          const excess = loadOf(hot.id) - meanLoad;
          const room = meanLoad * (1 + thr) - loadOf(cold.id);
          const pick = state.partitions
            .filter((p) => p.node === hot.id && !busy.has(p.id))
            .map((p) => ({ p, l: (obs.lastPartitionLoad.get(p.id)?.reads ?? 0) + (obs.lastPartitionLoad.get(p.id)?.writes ?? 0) }))
            .filter((x) => x.l > 0 && x.l <= Math.max(room, 0))
            .sort((a, b) => Math.abs(a.l - excess) - Math.abs(b.l - excess) || (a.p.id < b.p.id ? -1 : 1))[0];
          if (pick) {
            out.push({
              kind: 'shard',
              ...base(
                now,
                pick.p.store,
                `rebalance: ${hot.id} at ${((loadOf(hot.id) / hot.capacity) * 100).toFixed(0)}% vs mean ${((meanLoad / hot.capacity) * 100).toFixed(0)}%`,
                'reactive',
                Math.ceil((pick.p.sizeBytes / cfg.throttleBytesPerSec) * 1000),
              ),
              commandId: commandId('move', `${pick.p.id}:${hot.id}->${cold.id}`, now, windowMs),
              table: pick.p.table,
              partition: pick.p.id,
              sourceNode: hot.id,
              targetNode: cold.id,
              action: 'move',
              params: { bytes: String(pick.p.sizeBytes) },
            });
            busy.add(pick.p.id);
          }
        }
      }
      // 3. scale on current load
      const util = totalCap > 0 ? totalLoad / totalCap : 0;
      lowFor = util < inUtil ? lowFor + 1 : 0;
      if (!scaling && util > outUtil) {
        const id = `r-${step}`;
        out.push({
          kind: 'resource',
          ...base(now, cfg.store, `cluster at ${(util * 100).toFixed(0)}% > ${outUtil * 100}%`, 'reactive', cfg.provisioningMs),
          commandId: commandId('scale_out', id, now, windowMs),
          node: null,
          action: 'scale_out',
          params: { nodeId: id, capacity: String(cfg.capacity) },
        });
        lowFor = 0;
      } else if (!scaling && movesRunning === 0 && lowFor >= inSteps && active.length > minNodes) {
        const victim = [...active].sort((a, b) => loadOf(a.id) - loadOf(b.id) || (a.id < b.id ? -1 : 1))[0]!;
        const others = active.filter((n) => n.id !== victim.id);
        const planned = new Map(others.map((n) => [n.id, loadOf(n.id)]));
        const ids: string[] = [];
        for (const p of state.partitions.filter((x) => x.node === victim.id)) {
          if (busy.has(p.id)) return out;
          const l = (obs.lastPartitionLoad.get(p.id)?.reads ?? 0) + (obs.lastPartitionLoad.get(p.id)?.writes ?? 0);
          const to = [...planned].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
          planned.set(to, planned.get(to)! + l);
          const id = commandId('move', `${p.id}:${victim.id}->${to}`, now, windowMs);
          ids.push(id);
          out.push({
            kind: 'shard',
            ...base(now, p.store, `drain ${victim.id} for scale-in`, 'reactive', Math.ceil((p.sizeBytes / cfg.throttleBytesPerSec) * 1000)),
            commandId: id,
            table: p.table,
            partition: p.id,
            sourceNode: victim.id,
            targetNode: to,
            action: 'move',
            params: { bytes: String(p.sizeBytes) },
          });
        }
        out.push({
          kind: 'resource',
          ...base(now, cfg.store, `cluster at ${(util * 100).toFixed(0)}% < ${inUtil * 100}% for ${lowFor} steps`, 'reactive', w.stepMs),
          commandId: commandId('scale_in', victim.id, now, windowMs),
          node: victim.id,
          action: 'scale_in',
          params: ids.length ? { dependsOn: ids.join(',') } : {},
        });
        lowFor = 0;
      }
      return out;
    },
  };
}

export interface PredictiveOptions {
  /** Uses the true future instead of forecasts. */
  oracle?: boolean;
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

/** Predictive (forecasts → decide) and oracle (true future → decide) policies. */
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
  let totals: Float64Array | null = null;
  return {
    name: o.oracle ? 'oracle' : 'predictive',
    selector: () => selector,
    act(obs: Observation): AnyCommand[] {
      const { state, now, cfg, workload: w, step } = obs;
      totals ??= totalPerStep(w);
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
            span.reduce((a, _, j) => a + Math.max(1, Math.ceil(totals![d.step + j]! / (cfg.capacity * TARGET_UTIL))), 0) *
            (w.stepMs / 60_000),
        });
        if (o.learn !== false) selector = update(selector, d.arm, d.features, r);
      }
      if (step === 0 || step % every !== 0) return [];
      buckets ??= w.tables.flatMap((t) =>
        Array.from({ length: t.units }, (_, u) => ({ seriesId: `${t.name}#${u}`, table: t.name, lo: u, hi: u + 1 })),
      );
      const forecasts: Forecast[] = [];
      const seriesTotal = (ti: number, u: number, t: number) => {
        const tb = w.tables[ti]!;
        return w.reads[ti]![t * tb.units + u]! + w.writes[ti]![t * tb.units + u]!;
      };
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
      if (o.oracle) {
        w.tables.forEach((tb, ti) => {
          for (let u = 0; u < tb.units; u++) {
            const vals = Array.from({ length: H }, (_, h) =>
              step + h < w.steps ? seriesTotal(ti, u, step + h) : seriesTotal(ti, u, w.steps - 1),
            );
            forecasts.push(mk(`${tb.name}#${u}`, { predicted: vals, lower: vals, upper: vals, model: 'oracle' }));
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
        risk: o.oracle ? 0 : 0.3,
        targetUtil: TARGET_UTIL,
        leadMarginSteps: leadMargin,
        policy: o.oracle ? 'oracle' : 'shardcast-predictive',
        ...o.decide,
        // scale in when the remaining nodes stay under the target at the forecast's upper bound
        // (scale-out acts on the risk-adjusted plan above the target: the band between the two is
        // the hysteresis, as wide as the forecast is uncertain)
        scale: {
          minNodes: 2,
          maxNodes: 64,
          scaleInUtil: TARGET_UTIL,
          nodePrefix: o.oracle ? 'o' : 'p',
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
