import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type PolicyBenchReport, checkTargets, formatReport } from '../../bench/policyBench.js';
import type { PolicyEvalResult, PolicyRow } from '../../bench/policyEval.js';

const row = (policy: string, violationMinutes: number, nodeMinutes = 100, gbMoved = 0): PolicyRow => ({
  policy,
  violationMinutes,
  peakUtil: 1,
  nodeMinutes,
  gbMoved,
  actions: 0,
  rejected: 0,
  failed: 0,
  maxNodes: 4,
  wallMs: 0,
});
const result = (workload: string, v: Record<string, number>): PolicyEvalResult => ({
  workload,
  description: workload,
  steps: 10,
  stepMs: 60_000,
  evalMinutes: 10,
  capacity: 6000,
  rows: ['static', 'reactive', 'predictive', 'clairvoyant'].map((p) => row(p, v[p] ?? 0)),
});

function report(
  ycsb: PolicyBenchReport['ycsb'],
  workloads: PolicyEvalResult[],
  kinds: [string, 'trace' | 'periodic'][],
): PolicyBenchReport {
  const targets = checkTargets(workloads, new Map(kinds));
  return {
    backend: 'test',
    simConfig: {},
    workloadSimConfig: {},
    ycsb,
    workloads,
    targets,
    passed: targets.filter((t) => t.pass).length,
    failed: targets.filter((t) => !t.pass).length,
    wallMs: 0,
  };
}

test('policy bench: trace workloads count in the overall clairvoyant comparison', () => {
  const synth = result('periodic-daily', { reactive: 40, predictive: 2, clairvoyant: 2 });
  const trace = result('ycsb-hotspot', { reactive: 50, predictive: 30, clairvoyant: 10 });
  const withTrace = checkTargets(
    [synth, trace],
    new Map([
      ['periodic-daily', 'periodic'],
      ['ycsb-hotspot', 'trace'],
    ]),
  );
  const all = withTrace.find((t) => t.workload === 'all')!;
  assert.match(all.measured, /^32 vs 12 /);
  assert.equal(all.pass, false);
  assert.equal(withTrace.filter((t) => t.workload === 'ycsb-hotspot').length, 0, 'no per-workload targets for traces');
});

test('policy bench: the YCSB traces are listed, or the reason they were skipped is printed', () => {
  const w = [result('periodic-daily', { reactive: 40, predictive: 2, clairvoyant: 2 })];
  const skipped = formatReport(
    report({ skipped: 'java not found: install a Java runtime to run YCSB' }, w, [['periodic-daily', 'periodic']]),
  );
  assert.match(skipped, /YCSB traces SKIPPED .*java not found: install a Java runtime to run YCSB/);
  assert.match(skipped, /failed \(YCSB traces skipped, see above\)$/);
  const traces = [...w, result('ycsb-zipfian', { reactive: 1, predictive: 1, clairvoyant: 1 })];
  const ran = formatReport(
    report({ traces: [{ name: 'ycsb-zipfian', run: 'cached .stack/traces/ycsb-zipfian-abc.csv' }] }, traces, [
      ['periodic-daily', 'periodic'],
      ['ycsb-zipfian', 'trace'],
    ]),
  );
  assert.match(ran, /ycsb-zipfian: cached \.stack\/traces\/ycsb-zipfian-abc\.csv/);
  assert.match(ran, /^ycsb-zipfian: ycsb-zipfian; 10 evaluated minutes/m, 'the trace has its table');
  assert.doesNotMatch(ran, /SKIPPED/);
});
