/**
 * `shardcast bench policy [--json]`: every policy on every workload of the suite (seeded,
 * deterministic), in this process, with the targets checked against the measured numbers:
 * - periodic workloads: predictive has ≥ 75% fewer SLA-violation minutes than reactive, and
 *   ≤ 50% of the node-minutes of static-for-peak;
 * - moving-hotspot and flash-crowd: predictive has fewer violation minutes than reactive, with
 *   ≤ 1.2× its bytes moved;
 * - overall: predictive's violation minutes summed over the suite ≤ 1.3× the oracle's.
 * Pass/fail is reported as measured; nothing is hard-coded.
 */
import { type PolicyEvalResult, evaluateWorkload, formatTable } from './policyEval.js';
import { SUITE, type Workload } from './sim/workload.js';
import type { SimConfig } from './sim/simulator.js';

export interface TargetCheck {
  target: string;
  workload: string;
  measured: string;
  pass: boolean;
}

export interface PolicyBenchReport {
  backend: string;
  simConfig: Partial<SimConfig>;
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
    const pred = row(r, 'predictive'), reac = row(r, 'reactive'), stat = row(r, 'static');
    if (kind === 'periodic') {
      const limit = 0.25 * reac.violationMinutes;
      const fewer = reac.violationMinutes > 0 ? 1 - pred.violationMinutes / reac.violationMinutes : pred.violationMinutes === 0 ? 1 : -Infinity;
      out.push({
        target: '≥75% fewer SLA-violation minutes than reactive', workload: r.workload,
        measured: `${pred.violationMinutes.toFixed(0)} vs ${reac.violationMinutes.toFixed(0)} (${(fewer * 100).toFixed(0)}% fewer)`,
        pass: reac.violationMinutes > 0 ? pred.violationMinutes <= limit : pred.violationMinutes === 0,
      });
      const share = pred.nodeMinutes / stat.nodeMinutes;
      out.push({
        target: '≤50% of static-for-peak node-minutes', workload: r.workload,
        measured: `${pred.nodeMinutes.toFixed(0)} vs ${stat.nodeMinutes.toFixed(0)} (${(share * 100).toFixed(0)}%)`, pass: share <= 0.5,
      });
    }
    if (kind === 'moving-hotspot' || kind === 'flash-crowd') {
      out.push({
        target: 'fewer SLA-violation minutes than reactive', workload: r.workload,
        measured: `${pred.violationMinutes.toFixed(0)} vs ${reac.violationMinutes.toFixed(0)}`, pass: pred.violationMinutes < reac.violationMinutes,
      });
      const ratio = reac.gbMoved > 0 ? pred.gbMoved / reac.gbMoved : pred.gbMoved === 0 ? 0 : Infinity;
      out.push({
        target: '≤1.2× reactive bytes moved', workload: r.workload,
        measured: `${pred.gbMoved.toFixed(0)} vs ${reac.gbMoved.toFixed(0)} GiB (${ratio.toFixed(2)}×)`, pass: ratio <= 1.2,
      });
    }
  }
  const sum = (p: string) => results.reduce((a, r) => a + row(r, p).violationMinutes, 0);
  const pv = sum('predictive'), ov = sum('oracle');
  out.push({
    target: 'within 1.3× of oracle violation minutes (suite total)', workload: 'all',
    measured: `${pv.toFixed(0)} vs ${ov.toFixed(0)} (${ov > 0 ? (pv / ov).toFixed(2) : pv === 0 ? '1.00' : '∞'}×)`,
    pass: ov > 0 ? pv <= 1.3 * ov : pv === 0,
  });
  return out;
}

export function formatReport(rep: PolicyBenchReport): string {
  const lines = [`policy benchmark — cluster simulator, ${rep.backend}, all policies run in this process (${(rep.wallMs / 1000).toFixed(1)} s)`, ''];
  for (const w of rep.workloads) lines.push(formatTable(w), '');
  lines.push('targets:');
  for (const t of rep.targets) lines.push(`  ${t.pass ? 'PASS' : 'FAIL'}  ${t.workload.padEnd(16)} ${t.target}: ${t.measured}`);
  lines.push(`${rep.passed} passed, ${rep.failed} failed`);
  return lines.join('\n');
}

export function runPolicyBench(opts: { json?: boolean; workloads?: string[]; seed?: number; onProgress?: (w: string) => void } = {}): { report: PolicyBenchReport; text: string } {
  const t0 = performance.now();
  const names = opts.workloads ?? Object.keys(SUITE);
  const kinds = new Map<string, Workload['kind']>();
  const results: PolicyEvalResult[] = [];
  const simConfig: Partial<SimConfig> = {};
  for (const name of names) {
    const gen = SUITE[name];
    if (!gen) throw new Error(`unknown workload ${name}; expected one of ${Object.keys(SUITE).join(', ')}`);
    opts.onProgress?.(name);
    const w = gen(opts.seed !== undefined ? { seed: opts.seed } : {});
    kinds.set(w.name, w.kind);
    results.push(evaluateWorkload(w, simConfig));
  }
  const targets = checkTargets(results, kinds);
  const report: PolicyBenchReport = {
    backend: `CPU, node ${process.version}`, simConfig, workloads: results, targets,
    passed: targets.filter((t) => t.pass).length, failed: targets.filter((t) => !t.pass).length,
    wallMs: Math.round(performance.now() - t0),
  };
  return { report, text: opts.json ? JSON.stringify(report, null, 2) : formatReport(report) };
}
