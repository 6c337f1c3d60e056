import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type FamilySummary,
  type PolicyBenchReport,
  checkTargets,
  defaultWorkers,
  formatReport,
  runPolicyBench,
  seedSets,
  spread,
  summarize,
} from '../../bench/policyBench.js';
import type { PolicyEvalResult, PolicyRow } from '../../bench/policyEval.js';
import { appendRun, readRuns, recordedRun } from '../../bench/policyRuns.js';
import { EVALUATION_SEEDS, FAMILIES, TUNING_SEEDS, parseSeeds } from '../../bench/sim/families.js';

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
  rows: ['static', 'reactive', 'predictive', 'clairvoyant', 'bound'].map((p) => row(p, v[p] ?? 0)),
});

function family(name: string, kind: FamilySummary['kind'], evaluation: PolicyEvalResult[], tuning: PolicyEvalResult[] = []): FamilySummary {
  return {
    family: name,
    kind,
    sets: {
      evaluation: summarize(
        evaluation,
        evaluation.map((_, i) => 1001 + i),
      ),
      ...(tuning.length
        ? {
            tuning: summarize(
              tuning,
              tuning.map((_, i) => i + 1),
            ),
          }
        : {}),
    },
  };
}

function report(ycsb: PolicyBenchReport['ycsb'], families: FamilySummary[], traces: PolicyEvalResult[] = []): PolicyBenchReport {
  const targets = checkTargets(families, traces);
  return {
    backend: 'test',
    workers: 1,
    simConfig: {},
    seeds: {},
    families,
    runs: [],
    workloadSimConfig: {},
    ycsb,
    traces,
    targets,
    passed: targets.filter((t) => t.pass).length,
    failed: targets.filter((t) => !t.pass).length,
    wallMs: 0,
  };
}

test('seed sets: tuning and evaluation are disjoint, ≥ 10 evaluation seeds; --seeds forms', () => {
  assert.ok(EVALUATION_SEEDS.length >= 10);
  assert.equal(TUNING_SEEDS.filter((s) => EVALUATION_SEEDS.includes(s)).length, 0);
  assert.deepEqual(parseSeeds('3..6'), [3, 4, 5, 6]);
  assert.deepEqual(parseSeeds('7,9'), [7, 9]);
  assert.equal(parseSeeds('6..3'), null);
  assert.equal(parseSeeds('x'), null);
});

test('every family is seeded: the same seed gives the same trace, another seed another', () => {
  for (const [name, gen] of Object.entries(FAMILIES)) {
    const a = gen(5),
      b = gen(5),
      c = gen(6);
    assert.deepEqual(a.reads[0]!.slice(0, 2000), b.reads[0]!.slice(0, 2000), name);
    assert.notDeepEqual(a.reads[0]!.slice(0, 2000), c.reads[0]!.slice(0, 2000), name);
  }
});

test('the latest family: the hot unit follows the inserts up the key space, warms as it fills, and outgrows a node at the peak', () => {
  const w = FAMILIES.latest!(2);
  const units = w.tables[0]!.units;
  const load = (t: number, u: number) => w.reads[0]![t * units + u]! + w.writes[0]![t * units + u]!;
  const hottest = (t: number) => [...Array(units).keys()].reduce((b, u) => (load(t, u) > load(t, b) ? u : b), 0);
  const first = hottest(0),
    last = hottest(w.steps - 1);
  assert.ok(last > first + 10, `the hot unit moves up: ${first} → ${last}`);
  for (let u = last + 1; u < units; u++) assert.equal(load(w.steps - 1, u), 0, 'no load ahead of the newest key');
  // a unit entered by the frontier starts cool and warms as it fills
  let entered = -1;
  for (let t = 1; t < w.steps && entered < 0; t++) if (load(t, first + 1) > 0 && load(t - 1, first + 1) === 0) entered = t;
  assert.ok(entered > 0);
  assert.ok(load(entered, first + 1) < load(entered + 20, first + 1), 'the new unit warms up');
  let peakUnit = 0;
  for (let t = 0; t < w.steps; t++) peakUnit = Math.max(peakUnit, load(t, hottest(t)));
  assert.ok(peakUnit > 1.5 * 6000, `the newest unit outgrows a 6000-query node: ${peakUnit}`);
  const writes = w.writes[0]!.reduce((a, b) => a + b, 0),
    reads = w.reads[0]!.reduce((a, b) => a + b, 0);
  assert.ok(writes > 0.04 * (reads + writes) && writes < 0.25 * (reads + writes), 'a write share between 5 and 20 %');
});

test('median and worst over seeds', () => {
  assert.deepEqual(spread([5, 1, 3]), { median: 3, worst: 5 });
  assert.deepEqual(spread([4, 1, 3, 10]), { median: 3.5, worst: 10 });
});

test('policy bench: targets read the evaluation medians only, never the tuning set', () => {
  const good = [1, 2, 3].map(() => result('p', { reactive: 40, predictive: 2, clairvoyant: 2, static: 0 }));
  const bad = [1, 2].map(() => result('p', { reactive: 40, predictive: 39, clairvoyant: 2 }));
  const t = checkTargets([family('periodic-daily', 'periodic', good, bad)]);
  const v = t.find((x) => x.target.startsWith('violation-minutes ≤ 0.5'))!;
  assert.equal(v.pass, true);
  assert.match(v.measured, /^2 vs 40 /);
  // flash crowds: never worse than reactive
  const flash = checkTargets([family('flash-crowd', 'flash-crowd', [result('f', { reactive: 10, predictive: 11, clairvoyant: 5 })])]);
  assert.equal(flash.find((x) => x.target.startsWith('violation-minutes ≤ 1 '))!.pass, false);
});

test('policy bench: traces count in the suite comparison with the clairvoyant policy, and the bound is printed', () => {
  const fam = family('periodic-daily', 'periodic', [result('p', { reactive: 40, predictive: 2, clairvoyant: 2, bound: 1 })]);
  const trace = result('ycsb-hotspot', { reactive: 50, predictive: 30, clairvoyant: 10 });
  const all = checkTargets([fam], [trace]).find((t) => t.workload === 'all')!;
  assert.match(all.measured, /^32 vs 12 .*lower bound 1$/);
  assert.equal(all.pass, false);
});

test('policy bench: the YCSB traces are listed, or the reason they were skipped is printed; tuning beside evaluation', () => {
  const fams = [
    family(
      'periodic-daily',
      'periodic',
      [result('p', { reactive: 40, predictive: 2, clairvoyant: 2 })],
      [result('p', { reactive: 41, predictive: 3, clairvoyant: 2 })],
    ),
  ];
  const skipped = formatReport(report({ skipped: 'java not found: install a Java runtime to run YCSB' }, fams));
  assert.match(skipped, /YCSB traces SKIPPED .*java not found: install a Java runtime to run YCSB/);
  assert.match(skipped, /failed \(YCSB traces skipped, see above\)$/);
  assert.match(skipped, /tuning viol-min med/);
  assert.match(skipped, /^bound /m);
  const ran = formatReport(
    report({ traces: [{ name: 'ycsb-zipfian', run: 'cached .stack/traces/ycsb-zipfian-abc.csv' }] }, fams, [
      result('ycsb-zipfian', { reactive: 1, predictive: 1, clairvoyant: 1 }),
    ]),
  );
  assert.match(ran, /ycsb-zipfian: cached \.stack\/traces\/ycsb-zipfian-abc\.csv/);
  assert.match(ran, /^ycsb-zipfian: ycsb-zipfian; 10 evaluated minutes/m, 'the trace has its table');
  assert.doesNotMatch(ran, /SKIPPED/);
});

test('--set: both sets by default, one set alone, given seeds only from that set', () => {
  assert.deepEqual(seedSets(), { evaluation: EVALUATION_SEEDS, tuning: TUNING_SEEDS });
  assert.deepEqual(seedSets('tuning'), { tuning: TUNING_SEEDS });
  assert.deepEqual(seedSets('evaluation'), { evaluation: EVALUATION_SEEDS });
  assert.deepEqual(seedSets('evaluation', [1001, 1003]), { evaluation: [1001, 1003] });
  assert.deepEqual(seedSets(undefined, [5]), { seeds: [5] });
  assert.throws(() => seedSets('tuning', [1, 1001]), /1001 are not tuning seeds/);
  assert.throws(() => seedSets('evaluation', [2]), /2 are not evaluation seeds/);
});

test('workers: one core is left free by default, never fewer than one worker', () => {
  assert.equal(defaultWorkers(2), 1);
  assert.equal(defaultWorkers(16), 15);
  assert.equal(defaultWorkers(1), 1);
});

test('a tuning-only run checks and labels its targets on the tuning seeds', () => {
  const f: FamilySummary = {
    family: 'zipfian',
    kind: 'zipfian',
    sets: { tuning: summarize([result('zipfian', { reactive: 100, predictive: 80, clairvoyant: 70 })], [1]) },
  };
  const targets = checkTargets([f]);
  const v = targets.find((t) => t.target.startsWith('violation-minutes ≤ 0.5'))!;
  assert.equal(v.pass, false);
  assert.match(v.measured, /80 vs 100/);
  const rep = { ...report(null, [f]), seeds: { tuning: [1] } };
  const text = formatReport(rep);
  assert.match(text, /zipfian \(zipfian\): tuning seeds 1\n/);
  assert.match(text, /targets \(on the tuning seeds\)/);
});

test('--runs: finished runs are appended as JSON lines and read back instead of simulated again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-runs-'));
  const file = join(dir, 'runs.jsonl');
  assert.equal(readRuns(file).size, 0, 'no file: nothing recorded');
  const figures = result('zipfian', { static: 40, reactive: 100, predictive: 30, clairvoyant: 20 });
  appendRun(file, { family: 'zipfian', seed: 1001, kind: 'zipfian', result: figures });
  appendRun(file, { family: 'zipfian', seed: 1002, kind: 'zipfian', result: result('zipfian', { reactive: 50, predictive: 10 }) });
  const runs = readRuns(file);
  assert.deepEqual(recordedRun(runs, { family: 'zipfian', seed: 1001 })?.result, figures);
  assert.equal(recordedRun(runs, { family: 'zipfian', seed: 1003 }), undefined);
  // every job recorded: the report is built from the file, no simulation runs (it would take minutes)
  const t0 = performance.now();
  const { report } = await runPolicyBench({ set: 'evaluation', seeds: [1001, 1002], families: ['zipfian'], runsFile: file, workers: 1 });
  assert.ok(performance.now() - t0 < 5000);
  assert.deepEqual(report.seeds, { evaluation: [1001, 1002] });
  assert.equal(report.families[0]!.sets.evaluation!.policies.predictive!.violationMinutes.median, 20);
  assert.equal(report.families[0]!.sets.evaluation!.policies.reactive!.violationMinutes.worst, 100);
  assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, 2, 'nothing appended twice');
  writeFileSync(file, '{"family":"zipfian"}\n');
  assert.throws(() => readRuns(file), /runs\.jsonl:1: expected \{family, seed, kind/);
  writeFileSync(file, 'not json\n');
  assert.throws(() => readRuns(file), /runs\.jsonl:1: not JSON/);
});
