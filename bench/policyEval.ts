/**
 * `shardcast policy-eval --trace W.csv [--nodes N] [--capacity Q] [--json]`: the cluster simulator on one
 * trace, comparing static (hash placement provisioned for the peak), reactive
 * (CockroachDB/TiDB rules with HPA scaling), shardcast predictive and clairvoyant, all in this
 * process, each beside the trace's lower bound (sim/bound.ts).
 * The lead wires the CLI; this module exports functions only.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_SIM, type Policy, type SimConfig, type SimMetrics, simulate } from './sim/simulator.js';
import { lowerBound } from './sim/bound.js';
import { staticPolicy } from './sim/policies.js';
import { predictivePolicy } from './sim/predictive.js';
import { reactivePolicy } from './sim/reactive.js';
import type { Workload } from './sim/workload.js';
import { parseTrace } from './sim/trace.js';
import { formatTable } from '../lib/table.js';

/** The rows of a result: the four policies, then the trace's lower bound. */
export const POLICY_NAMES = ['static', 'reactive', 'predictive', 'clairvoyant', 'bound'] as const;

export interface PolicyRow {
  policy: string;
  violationMinutes: number;
  peakUtil: number;
  nodeMinutes: number;
  gbMoved: number;
  actions: number;
  rejected: number;
  failed: number;
  maxNodes: number;
  wallMs: number;
}

export interface PolicyEvalResult {
  workload: string;
  description: string;
  steps: number;
  stepMs: number;
  evalMinutes: number;
  capacity: number;
  /** The dynamic policies' starting node count. */
  initialNodes?: number;
  rows: PolicyRow[];
}

export function toRow(m: SimMetrics, wallMs: number): PolicyRow {
  return {
    policy: m.policy,
    violationMinutes: m.violationMinutes,
    peakUtil: m.peakUtil,
    nodeMinutes: m.nodeMinutes,
    gbMoved: m.bytesMoved / 1024 ** 3,
    actions: m.actions,
    rejected: m.rejected,
    failed: m.failed,
    maxNodes: m.maxNodes,
    wallMs,
  };
}

export function defaultPolicies(): Policy[] {
  return [staticPolicy(), reactivePolicy(), predictivePolicy(), predictivePolicy({ clairvoyant: true })];
}

/** Node capacity that makes the trace's mean load fill `meanNodes` nodes at 50% (for foreign traces). */
export function capacityFor(w: Workload, meanNodes = 4): number {
  let total = 0;
  w.tables.forEach((tb, ti) => {
    for (let i = 0; i < w.steps * tb.units; i++) total += w.reads[ti]![i]! + w.writes[ti]![i]!;
  });
  return Math.max(1, total / w.steps / (meanNodes * 0.5));
}

/** Runs every policy on one workload. */
export async function evaluateWorkload(
  w: Workload,
  sim: Partial<SimConfig> = {},
  policies: Policy[] = defaultPolicies(),
): Promise<PolicyEvalResult> {
  const rows: PolicyRow[] = [];
  for (const p of policies) {
    const t0 = performance.now();
    const m = await simulate(w, p, sim);
    rows.push(toRow(m, Math.round(performance.now() - t0)));
  }
  const capacity = sim.capacity ?? DEFAULT_SIM.capacity;
  const t0 = performance.now();
  const b = lowerBound(w, capacity);
  rows.push({
    policy: 'bound',
    violationMinutes: b.violationMinutes,
    peakUtil: b.peakUtil,
    nodeMinutes: b.nodeMinutes,
    gbMoved: 0,
    actions: 0,
    rejected: 0,
    failed: 0,
    maxNodes: b.maxNodes,
    wallMs: Math.round(performance.now() - t0),
  });
  return {
    workload: w.name,
    description: w.description,
    steps: w.steps,
    stepMs: w.stepMs,
    evalMinutes: Math.max(0, w.steps - w.evalStart) * (w.stepMs / 60_000),
    capacity,
    initialNodes: sim.initialNodes ?? DEFAULT_SIM.initialNodes,
    rows,
  };
}

/** The policies side by side for one workload, as an aligned table under a one-line title. */
export function formatPolicyTable(r: PolicyEvalResult): string {
  const rows = r.rows.map((x) => ({
    policy: x.policy,
    'SLA-viol min': x.violationMinutes.toFixed(0),
    'peak util': x.peakUtil.toFixed(2),
    'node-min': x.nodeMinutes.toFixed(0),
    'GiB moved': x.gbMoved.toFixed(0),
    actions: x.actions,
    'max nodes': x.maxNodes,
  }));
  return [
    `${r.workload}: ${r.description}; ${r.evalMinutes} evaluated minutes, node capacity ${r.capacity.toFixed(0)}/step${r.initialNodes ? `, ${r.initialNodes} nodes at the start` : ''}`,
    formatTable(rows),
  ].join('\n');
}

/**
 * Reads a trace CSV (path or text) and compares the four policies beside the trace's lower bound.
 * `nodes` (default 4) is the dynamic policies' starting node count; static is provisioned for the
 * peak. `capacity` is a node's queries per step; by default the simulator's for traces made by
 * the suite generators, and for other traces sized so the mean load fills 4 nodes at 50%,
 * whatever `nodes` is.
 */
export async function runPolicyEval(opts: { trace: string; nodes?: number; json?: boolean; capacity?: number }): Promise<{
  result: PolicyEvalResult;
  text: string;
}> {
  const text = opts.trace.includes('\n') ? opts.trace : readFileSync(opts.trace, 'utf8');
  const w = parseTrace(text, { name: opts.trace.includes('\n') ? 'trace' : opts.trace.split('/').pop()! });
  const capacity = opts.capacity ?? capacityFor(w, 4);
  const result = await evaluateWorkload(w, { capacity, initialNodes: opts.nodes ?? 4 });
  return { result, text: opts.json ? JSON.stringify(result, null, 2) : formatPolicyTable(result) };
}
