/**
 * `shardcast bench policy [--json]`: every policy on every workload of the suite (seeded,
 * deterministic), in this process, with the targets checked against the measured numbers:
 * - periodic workloads: predictive has ≥ 75% fewer SLA-violation minutes than reactive, and
 *   ≤ 50% of the node-minutes of static-for-peak;
 * - moving-hotspot and flash-crowd: predictive has fewer violation minutes than reactive, with
 *   ≤ 1.2× its bytes moved;
 * - overall: predictive's violation minutes summed over the suite ≤ 1.3× the clairvoyant's.
 * Every workload's table ends with the trace's lower bound (sim/bound.ts).
 * The suite: the synthetic generators (bench/sim/workload.ts SUITE) and the YCSB traces
 * (bench/ycsbTrace.ts BENCH_TRACES: the real YCSB client's zipfian, hotspot and latest request
 * distributions, turned into traces); the traces count in the overall comparison. When YCSB
 * cannot be run (no jars and no Maven or network, no java), the report says so and why.
 * Pass/fail is reported as measured; nothing is hard-coded.
 */
import { type PolicyEvalResult, capacityFor, evaluateWorkload, formatPolicyTable } from './policyEval.js';
import { formatTable } from '../lib/table.js';
import { SUITE, type Workload } from './sim/workload.js';
import type { SimConfig } from './sim/simulator.js';
import { BENCH_TRACES, ycsbWorkloads } from './ycsbTrace.js';
import { UsageError } from '../lib/errors.js';

export interface TargetCheck {
  target: string;
  workload: string;
  measured: string;
  pass: boolean;
}

/** The YCSB traces of the run: where each came from, or why there are none. */
export type YcsbStatus = { traces: { name: string; run: string }[] } | { skipped: string };

export interface PolicyBenchReport {
  backend: string;
  simConfig: Partial<SimConfig>;
  /** Simulator settings per workload where they differ from simConfig (traces: node capacity). */
  workloadSimConfig: Record<string, Partial<SimConfig>>;
  ycsb: YcsbStatus | null;
  workloads: PolicyEvalResult[];
  targets: TargetCheck[];
  passed: number;
  failed: number;
  wallMs: number;
}

const row = (r: PolicyEvalResult, policy: string) => r.rows.find((x) => x.policy === policy)!;

export function checkTargets(results: readonly PolicyEvalResult[], kinds: ReadonlyMap<string, Workload['kind']>): TargetCheck[] {
  const out: TargetCheck[] = [];
  for (const r of results) {
    const kind = kinds.get(r.workload);
    const pred = row(r, 'predictive'),
      reac = row(r, 'reactive'),
      stat = row(r, 'static');
    if (kind === 'periodic') {
      const limit = 0.25 * reac.violationMinutes;
      const fewer =
        reac.violationMinutes > 0 ? 1 - pred.violationMinutes / reac.violationMinutes : pred.violationMinutes === 0 ? 1 : -Infinity;
      out.push({
        target: '≥75% fewer SLA-violation minutes than reactive',
        workload: r.workload,
        measured: `${pred.violationMinutes.toFixed(0)} vs ${reac.violationMinutes.toFixed(0)} (${(fewer * 100).toFixed(0)}% fewer)`,
        pass: reac.violationMinutes > 0 ? pred.violationMinutes <= limit : pred.violationMinutes === 0,
      });
      const share = pred.nodeMinutes / stat.nodeMinutes;
      out.push({
        target: '≤50% of static-for-peak node-minutes',
        workload: r.workload,
        measured: `${pred.nodeMinutes.toFixed(0)} vs ${stat.nodeMinutes.toFixed(0)} (${(share * 100).toFixed(0)}%)`,
        pass: share <= 0.5,
      });
    }
    if (kind === 'moving-hotspot' || kind === 'flash-crowd') {
      out.push({
        target: 'fewer SLA-violation minutes than reactive',
        workload: r.workload,
        measured: `${pred.violationMinutes.toFixed(0)} vs ${reac.violationMinutes.toFixed(0)}`,
        pass: pred.violationMinutes < reac.violationMinutes,
      });
      const ratio = reac.gbMoved > 0 ? pred.gbMoved / reac.gbMoved : pred.gbMoved === 0 ? 0 : Infinity;
      out.push({
        target: '≤1.2× reactive bytes moved',
        workload: r.workload,
        measured: `${pred.gbMoved.toFixed(0)} vs ${reac.gbMoved.toFixed(0)} GiB (${ratio.toFixed(2)}×)`,
        pass: ratio <= 1.2,
      });
    }
  }
  const sum = (p: string) => results.reduce((a, r) => a + row(r, p).violationMinutes, 0);
  const pv = sum('predictive'),
    ov = sum('clairvoyant');
  out.push({
    target: 'within 1.3× of clairvoyant violation minutes (suite total)',
    workload: 'all',
    measured: `${pv.toFixed(0)} vs ${ov.toFixed(0)} (${ov > 0 ? (pv / ov).toFixed(2) : pv === 0 ? '1.00' : '∞'}×)`,
    pass: ov > 0 ? pv <= 1.3 * ov : pv === 0,
  });
  return out;
}

export function formatReport(rep: PolicyBenchReport): string {
  const lines = [
    `policy benchmark — cluster simulator, ${rep.backend}, all policies run in this process (${(rep.wallMs / 1000).toFixed(1)} s)`,
    '',
  ];
  const y = rep.ycsb;
  if (y && 'skipped' in y) lines.push(`YCSB traces SKIPPED (not in the suite or the totals): ${y.skipped}`, '');
  else if (y)
    lines.push('YCSB traces (real YCSB client, BasicDB, turned into traces):', ...y.traces.map((t) => `  ${t.name}: ${t.run}`), '');
  for (const w of rep.workloads) lines.push(formatPolicyTable(w), '');
  lines.push('targets:');
  lines.push(
    formatTable(
      rep.targets.map((t) => ({ result: t.pass ? 'PASS' : 'FAIL', workload: t.workload, target: t.target, measured: t.measured })),
      { indent: '  ' },
    ),
  );
  lines.push(`${rep.passed} passed, ${rep.failed} failed${y && 'skipped' in y ? ' (YCSB traces skipped, see above)' : ''}`);
  return lines.join('\n');
}

export interface PolicyBenchOptions {
  json?: boolean;
  /** Workload names (synthetic or ycsb-*); default: all of them. */
  workloads?: string[];
  seed?: number;
  /** Include the YCSB traces (default: when no workload list is given, or it names one). */
  ycsb?: boolean;
  onProgress?: (w: string) => void;
  /** Lines about fetching YCSB and running its client (default: stderr). */
  log?: (line: string) => void;
}

export function runPolicyBench(opts: PolicyBenchOptions = {}): { report: PolicyBenchReport; text: string } {
  const t0 = performance.now();
  const ycsbNames = BENCH_TRACES.map((t) => t.name);
  const names = opts.workloads ?? Object.keys(SUITE);
  for (const name of names) {
    if (!SUITE[name] && !ycsbNames.includes(name))
      throw new UsageError(`unknown workload ${name}; expected one of ${[...Object.keys(SUITE), ...ycsbNames].join(', ')}`);
  }
  const kinds = new Map<string, Workload['kind']>();
  const results: PolicyEvalResult[] = [];
  const simConfig: Partial<SimConfig> = {};
  const workloadSimConfig: Record<string, Partial<SimConfig>> = {};
  for (const name of names) {
    const gen = SUITE[name];
    if (!gen) continue;
    opts.onProgress?.(name);
    const w = gen(opts.seed !== undefined ? { seed: opts.seed } : {});
    kinds.set(w.name, w.kind);
    results.push(evaluateWorkload(w, simConfig));
  }
  const wantYcsb = opts.ycsb ?? (opts.workloads === undefined || opts.workloads.some((n) => ycsbNames.includes(n)));
  let ycsb: YcsbStatus | null = null;
  if (wantYcsb) {
    const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
    const got = ycsbWorkloads(log);
    if ('skipped' in got) {
      ycsb = { skipped: got.skipped };
      log(`YCSB traces skipped: ${got.skipped}`);
    } else {
      const traces: { name: string; run: string }[] = [];
      for (const { workload: w, run } of got.workloads) {
        if (opts.workloads && !opts.workloads.includes(w.name) && opts.ycsb === undefined) continue;
        opts.onProgress?.(w.name);
        // a foreign trace: node capacity sized so its mean load fills the starting 4 nodes at 50% (as policy-eval does)
        const sim: Partial<SimConfig> = { capacity: capacityFor(w, 4), initialNodes: 4 };
        workloadSimConfig[w.name] = sim;
        kinds.set(w.name, w.kind);
        results.push(evaluateWorkload(w, sim));
        traces.push({ name: w.name, run });
      }
      ycsb = { traces };
    }
  }
  const targets = checkTargets(results, kinds);
  const report: PolicyBenchReport = {
    backend: `CPU, node ${process.version}`,
    simConfig,
    workloadSimConfig,
    ycsb,
    workloads: results,
    targets,
    passed: targets.filter((t) => t.pass).length,
    failed: targets.filter((t) => !t.pass).length,
    wallMs: Math.round(performance.now() - t0),
  };
  return { report, text: opts.json ? JSON.stringify(report, null, 2) : formatReport(report) };
}
