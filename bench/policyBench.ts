/**
 * `shardcast bench policy [--set tuning|evaluation] [--seed N | --seeds a..b] [--families f,g] [--workers N] [--json]`:
 * every policy on every seeded workload family (bench/sim/families.ts), on worker threads, and
 * the targets of issue 19 checked on the evaluation seeds' medians per family:
 * - violation-minutes: predictive ≤ 0.5 × reactive on forecastable families (periodic, trend,
 *   drift, Zipfian); ≤ 1.0 × reactive on flash crowds, regime change and the mix;
 * - node-minutes: predictive ≤ 1.05 × reactive everywhere, ≤ 0.6 × static-for-peak on periodic;
 * - bytes moved: predictive ≤ reactive;
 * - predictive ≤ 1.3 × clairvoyant violation-minutes over the suite (medians summed), with the
 *   gap to the lower bound printed.
 * The tuning seeds' figures stand beside the evaluation's; no target reads them. `--set` reports
 * one set alone (the targets then read that set); --seed or --seeds with it pick seeds of that
 * set, without it they are the one set reported, named "seeds". The YCSB traces (bench/ycsbTrace.ts: the
 * real YCSB client's request distributions, one trace each, no seed) are reported after the
 * families and count in the suite comparison. Pass/fail is reported as measured.
 */
import { availableParallelism } from 'node:os';
import { type PolicyEvalResult, capacityFor, evaluateWorkload, formatPolicyTable } from './policyEval.js';
import { formatTable } from '../lib/table.js';
import { EVALUATION_SEEDS, FAMILIES, TUNING_SEEDS } from './sim/families.js';
import type { Workload } from './sim/workload.js';
import type { SimConfig } from './sim/simulator.js';
import { ycsbWorkloads } from './ycsbTrace.js';
import { UsageError } from '../lib/errors.js';
import { type PoolJob, type PoolResult, runPool } from './policyPool.js';
import { appendRun, readRuns, recordedRun } from './policyRuns.js';

export interface TargetCheck {
  target: string;
  workload: string;
  measured: string;
  pass: boolean;
}

/** The YCSB traces of the run: where each came from, or why there are none. */
export type YcsbStatus = { traces: { name: string; run: string }[] } | { skipped: string };

export interface Spread {
  median: number;
  worst: number;
}

/** One seed set of one family: per policy (and the bound), median and worst over the seeds. */
export interface SetSummary {
  seeds: number[];
  policies: Record<string, { violationMinutes: Spread; nodeMinutes: Spread; gbMoved: Spread }>;
}

export interface FamilySummary {
  family: string;
  kind: Workload['kind'];
  /** 'evaluation' and 'tuning', one of them (--set), or 'seeds' when the seeds were given without a set. */
  sets: Record<string, SetSummary>;
}

export interface PolicyBenchReport {
  backend: string;
  workers: number;
  simConfig: Partial<SimConfig>;
  seeds: Record<string, number[]>;
  families: FamilySummary[];
  /** Every run's full figures. */
  runs: { family: string; seed: number; set: string; result: PolicyEvalResult }[];
  /** Simulator settings per trace where they differ from simConfig (node capacity). */
  workloadSimConfig: Record<string, Partial<SimConfig>>;
  ycsb: YcsbStatus | null;
  traces: PolicyEvalResult[];
  targets: TargetCheck[];
  passed: number;
  failed: number;
  wallMs: number;
}

const FORECASTABLE = new Set<Workload['kind']>(['periodic', 'trend', 'moving-hotspot', 'zipfian', 'latest']);
const UNFORECASTABLE = new Set<Workload['kind']>(['flash-crowd', 'regime-change', 'mixed']);

export function spread(xs: readonly number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { median: s.length ? m : Number.NaN, worst: s.length ? s[s.length - 1]! : Number.NaN };
}

export function summarize(results: readonly PolicyEvalResult[], seeds: number[]): SetSummary {
  const policies: SetSummary['policies'] = {};
  for (const p of results[0]?.rows.map((r) => r.policy) ?? []) {
    const rows = results.map((r) => r.rows.find((x) => x.policy === p)!);
    policies[p] = {
      violationMinutes: spread(rows.map((r) => r.violationMinutes)),
      nodeMinutes: spread(rows.map((r) => r.nodeMinutes)),
      gbMoved: spread(rows.map((r) => r.gbMoved)),
    };
  }
  return { seeds, policies };
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : a === 0 ? 0 : Infinity);
const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '∞');

/** The set a family's targets and first columns read: evaluation when it ran, else the one set run. */
export const reportedSet = (f: FamilySummary): string => (f.sets.evaluation ? 'evaluation' : Object.keys(f.sets)[0]!);

/** The targets, on each family's reported set (evaluation, or the given seeds), plus suite totals. */
export function checkTargets(families: readonly FamilySummary[], traces: readonly PolicyEvalResult[] = []): TargetCheck[] {
  const out: TargetCheck[] = [];
  let pv = 0,
    cv = 0,
    bv = 0;
  for (const f of families) {
    const set = f.sets[reportedSet(f)];
    if (!set) continue;
    const med = (p: string, k: 'violationMinutes' | 'nodeMinutes' | 'gbMoved') => set.policies[p]![k].median;
    pv += med('predictive', 'violationMinutes');
    cv += med('clairvoyant', 'violationMinutes');
    bv += med('bound', 'violationMinutes');
    const pred = med('predictive', 'violationMinutes'),
      reac = med('reactive', 'violationMinutes');
    const vLimit = FORECASTABLE.has(f.kind) ? 0.5 : UNFORECASTABLE.has(f.kind) ? 1 : null;
    if (vLimit !== null)
      out.push({
        target: `violation-minutes ≤ ${vLimit} × reactive`,
        workload: f.family,
        measured: `${pred.toFixed(0)} vs ${reac.toFixed(0)} (${fmt(ratio(pred, reac))}×)`,
        pass: pred <= vLimit * reac,
      });
    const pn = med('predictive', 'nodeMinutes'),
      rn = med('reactive', 'nodeMinutes'),
      sn = med('static', 'nodeMinutes');
    out.push({
      target: 'node-minutes ≤ 1.05 × reactive',
      workload: f.family,
      measured: `${pn.toFixed(0)} vs ${rn.toFixed(0)} (${fmt(ratio(pn, rn))}×)`,
      pass: pn <= 1.05 * rn,
    });
    if (f.kind === 'periodic')
      out.push({
        target: 'node-minutes ≤ 0.6 × static-for-peak',
        workload: f.family,
        measured: `${pn.toFixed(0)} vs ${sn.toFixed(0)} (${fmt(ratio(pn, sn))}×)`,
        pass: pn <= 0.6 * sn,
      });
    const pg = med('predictive', 'gbMoved'),
      rg = med('reactive', 'gbMoved');
    out.push({
      target: 'bytes moved ≤ reactive',
      workload: f.family,
      measured: `${pg.toFixed(0)} vs ${rg.toFixed(0)} GiB`,
      pass: pg <= rg,
    });
  }
  for (const r of traces) {
    const v = (p: string) => r.rows.find((x) => x.policy === p)?.violationMinutes ?? 0;
    pv += v('predictive');
    cv += v('clairvoyant');
    bv += v('bound');
  }
  out.push({
    target: 'violation-minutes ≤ 1.3 × clairvoyant (suite, medians summed)',
    workload: 'all',
    measured: `${pv.toFixed(0)} vs ${cv.toFixed(0)} (${fmt(ratio(pv, cv))}×); lower bound ${bv.toFixed(0)}`,
    pass: pv <= 1.3 * cv,
  });
  return out;
}

/** One family's table: per policy, the reported set's median and worst, the tuning medians beside. */
export function formatFamily(f: FamilySummary): string {
  const main = reportedSet(f);
  const set = f.sets[main]!,
    tuning = main === 'evaluation' ? f.sets.tuning : undefined;
  const rows = Object.entries(set.policies).map(([policy, s]) => ({
    policy,
    'viol-min med': s.violationMinutes.median.toFixed(0),
    worst: s.violationMinutes.worst.toFixed(0),
    'node-min med': s.nodeMinutes.median.toFixed(0),
    'worst ': s.nodeMinutes.worst.toFixed(0),
    'GiB med': s.gbMoved.median.toFixed(0),
    ...(tuning
      ? {
          'tuning viol-min med': tuning.policies[policy]!.violationMinutes.median.toFixed(0),
          'tuning node-min med': tuning.policies[policy]!.nodeMinutes.median.toFixed(0),
        }
      : {}),
  }));
  const seeds = (s: number[]) => (s.length > 3 ? `${s[0]}…${s[s.length - 1]} (${s.length})` : s.join(', '));
  return [
    `${f.family} (${f.kind}): ${main === 'seeds' ? 'given' : main} seeds ${seeds(set.seeds)}${tuning ? `; tuning seeds ${seeds(tuning.seeds)}` : ''}`,
    formatTable(rows),
  ].join('\n');
}

export function formatReport(rep: PolicyBenchReport): string {
  const lines = [
    `policy benchmark — cluster simulator, ${rep.backend}, ${rep.workers} worker threads, ${rep.runs.length} runs (${(rep.wallMs / 1000).toFixed(1)} s)`,
    "medians and worst cases over seeds; the bound row is the trace's lower bound (no policy can do better)",
    '',
  ];
  for (const f of rep.families) lines.push(formatFamily(f), '');
  const y = rep.ycsb;
  if (y && 'skipped' in y) lines.push(`YCSB traces SKIPPED (not in the suite or the totals): ${y.skipped}`, '');
  else if (y)
    lines.push('YCSB traces (real YCSB client, BasicDB, turned into traces):', ...y.traces.map((t) => `  ${t.name}: ${t.run}`), '');
  for (const w of rep.traces) lines.push(formatPolicyTable(w), '');
  const on = rep.seeds.evaluation ? 'evaluation' : rep.seeds.tuning ? 'tuning' : 'given';
  lines.push(`targets (on the ${on} seeds):`);
  lines.push(
    formatTable(
      rep.targets.map((t) => ({ result: t.pass ? 'PASS' : 'FAIL', workload: t.workload, target: t.target, measured: t.measured })),
      { indent: '  ' },
    ),
  );
  lines.push(`${rep.passed} passed, ${rep.failed} failed${y && 'skipped' in y ? ' (YCSB traces skipped, see above)' : ''}`);
  return lines.join('\n');
}

export type SeedSetName = 'tuning' | 'evaluation';

export interface PolicyBenchOptions {
  json?: boolean;
  /** Only this seed set (default: evaluation, tuning beside it). */
  set?: SeedSetName;
  /** Family names; default: all of them. */
  families?: string[];
  /** Seeds to run instead of the tuning and evaluation sets. */
  seeds?: number[];
  /** Worker threads; default: one per core but one, left to the rest of the machine. */
  workers?: number;
  /** Append each finished run to this file, and take the runs already in it instead of running them again. */
  runsFile?: string;
  /** Include the YCSB traces (default: when no family list is given). */
  ycsb?: boolean;
  onProgress?: (line: string) => void;
  /** Lines about fetching YCSB and running its client (default: stderr). */
  log?: (line: string) => void;
}

/**
 * The seed sets a run reports: both named sets by default, one with `set`, the given seeds under
 * the set's name (each must belong to it) or, without a set, under "seeds".
 */
export function seedSets(set?: SeedSetName, seeds?: number[]): Record<string, number[]> {
  const named = { evaluation: EVALUATION_SEEDS, tuning: TUNING_SEEDS };
  if (!set) return seeds ? { seeds } : named;
  if (!named[set]) throw new UsageError(`--set ${set}: expected tuning or evaluation`);
  if (!seeds) return { [set]: named[set] };
  const foreign = seeds.filter((s) => !named[set].includes(s));
  if (foreign.length)
    throw new UsageError(
      `seeds ${foreign.join(', ')} are not ${set} seeds (${set}: ${named[set][0]}..${named[set][named[set].length - 1]})`,
    );
  return { [set]: seeds };
}

/** Worker threads by default: every core but one, at least one. */
export const defaultWorkers = (cores = availableParallelism()) => Math.max(1, cores - 1);

export async function runPolicyBench(opts: PolicyBenchOptions = {}): Promise<{ report: PolicyBenchReport; text: string }> {
  const t0 = performance.now();
  const names = opts.families ?? Object.keys(FAMILIES);
  for (const name of names)
    if (!FAMILIES[name]) throw new UsageError(`unknown workload family ${name}; expected one of ${Object.keys(FAMILIES).join(', ')}`);
  const sets = seedSets(opts.set, opts.seeds);
  const jobs: (PoolJob & { set: string })[] = [];
  for (const family of names) for (const [set, seeds] of Object.entries(sets)) for (const seed of seeds) jobs.push({ family, seed, set });
  const workers = opts.workers ?? defaultWorkers();
  const recorded = opts.runsFile ? readRuns(opts.runsFile) : new Map<string, PoolResult>();
  const todo = jobs.filter((j) => !recordedRun(recorded, j));
  let done = jobs.length - todo.length;
  if (done) opts.onProgress?.(`${done}/${jobs.length} runs taken from ${opts.runsFile}`);
  const ran = await runPool(todo, workers, (r) => {
    if (opts.runsFile) appendRun(opts.runsFile, r);
    opts.onProgress?.(`${++done}/${jobs.length} ${r.family} seed ${r.seed}`);
  });
  const got = jobs.map((j) => recordedRun(recorded, j) ?? ran[todo.indexOf(j)]!);
  const families: FamilySummary[] = names.map((family) => {
    const mine = got.filter((g) => g.family === family);
    return {
      family,
      kind: mine[0]!.kind,
      sets: Object.fromEntries(
        Object.entries(sets).map(([set, seeds]) => [
          set,
          summarize(
            seeds.map((s) => mine.find((g) => g.seed === s)!.result),
            seeds,
          ),
        ]),
      ),
    };
  });
  const runs = got.map((g, i) => ({ family: g.family, seed: g.seed, set: jobs[i]!.set, result: g.result }));
  const wantYcsb = opts.ycsb ?? opts.families === undefined;
  let ycsb: YcsbStatus | null = null;
  const traces: PolicyEvalResult[] = [];
  const workloadSimConfig: Record<string, Partial<SimConfig>> = {};
  if (wantYcsb) {
    const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
    const y = ycsbWorkloads(log);
    if ('skipped' in y) {
      ycsb = { skipped: y.skipped };
      log(`YCSB traces skipped: ${y.skipped}`);
    } else {
      const list: { name: string; run: string }[] = [];
      for (const { workload: w, run } of y.workloads) {
        opts.onProgress?.(w.name);
        // a foreign trace: node capacity sized so its mean load fills the starting 4 nodes at 50% (as policy-eval does)
        const sim: Partial<SimConfig> = { capacity: capacityFor(w, 4), initialNodes: 4 };
        workloadSimConfig[w.name] = sim;
        traces.push(await evaluateWorkload(w, sim));
        list.push({ name: w.name, run });
      }
      ycsb = { traces: list };
    }
  }
  const targets = checkTargets(families, traces);
  const report: PolicyBenchReport = {
    backend: `CPU, node ${process.version}, predictive on the online forecaster without its global model (Holt-Winters, seasonal naive, key drift, daily profile)`,
    workers: Math.min(workers, todo.length),
    simConfig: {},
    seeds: sets,
    families,
    runs,
    workloadSimConfig,
    ycsb,
    traces,
    targets,
    passed: targets.filter((t) => t.pass).length,
    failed: targets.filter((t) => !t.pass).length,
    wallMs: Math.round(performance.now() - t0),
  };
  return { report, text: opts.json ? JSON.stringify(report, null, 2) : formatReport(report) };
}
