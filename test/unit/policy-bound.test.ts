import { test } from 'node:test';
import { handWorkload as workload } from './sim-helpers.js';
import assert from 'node:assert/strict';
import { lowerBound } from '../../bench/sim/bound.js';
import { evaluateWorkload } from '../../bench/policyEval.js';
import { staticNodes } from '../../bench/sim/policies.js';
import { DEFAULT_SIM } from '../../bench/sim/simulator.js';
import { SUITE, type Workload } from '../../bench/sim/workload.js';

test('bound: the fewest nodes that carry each step, and the steps no placement saves', async () => {
  // 4 steps: 2500, 900, 900, 2500 of reads over 5 units; capacity 1000 → 3, 1, 1, 3 nodes
  const w = workload(4, 5, (t) => (t === 0 || t === 3 ? 500 : 180));
  const b = lowerBound(w, 1000);
  assert.equal(b.nodeMinutes, 8);
  assert.equal(b.maxNodes, 3);
  assert.equal(b.violationMinutes, 0);
  // one unit writing 1200 per step in steps 1 and 2: every copy of it is over capacity
  const hot = workload(
    4,
    2,
    () => 10,
    (t, u) => (u === 0 && (t === 1 || t === 2) ? 1200 : 0),
  );
  assert.equal(lowerBound(hot, 1000).violationMinutes, 2);
  // steps before evalStart do not count
  assert.equal(lowerBound({ ...w, evalStart: 2 }, 1000).nodeMinutes, 4);
});

test("static is sized for the trace's peak at the target utilisation", () => {
  const w = SUITE['periodic-daily']!({ seed: 11 });
  const n = staticNodes(w, DEFAULT_SIM);
  let peak = 0;
  const total = new Float64Array(w.steps);
  w.tables.forEach((tb, ti) => {
    for (let t = 0; t < w.steps; t++)
      for (let u = 0; u < tb.units; u++) total[t]! += w.reads[ti]![t * tb.units + u]! + w.writes[ti]![t * tb.units + u]!;
  });
  for (const x of total) peak = Math.max(peak, x);
  assert.equal(n, Math.ceil(peak / (DEFAULT_SIM.capacity * 0.85)));
});

test('every policy is at or above the bound, on violation-minutes and on node-minutes', async () => {
  // small traces so the four policies run in seconds: a ramp with a burst, and two suite generators shortened
  const cut = (w: Workload, steps: number): Workload => ({
    ...w,
    steps,
    evalStart: Math.min(w.evalStart, Math.floor(steps / 3)),
    reads: w.reads.map((a, i) => a.slice(0, steps * w.tables[i]!.units)),
    writes: w.writes.map((a, i) => a.slice(0, steps * w.tables[i]!.units)),
  });
  const traces = [
    workload(
      120,
      16,
      (t, u) => 100 + 3 * t + (t > 50 && t < 70 && u < 3 ? 600 : 0),
      () => 5,
    ),
    cut(SUITE['flash-crowd']!({ seed: 21, units: 16 }), 300),
    cut(SUITE['moving-hotspot']!({ seed: 22, units: 16 }), 200),
  ];
  for (const w of traces) {
    const r = await evaluateWorkload(w, w.name === 'hand' ? { capacity: 1500 } : {});
    const bound = r.rows.find((x) => x.policy === 'bound')!;
    assert.deepEqual(
      r.rows.map((x) => x.policy),
      ['static', 'reactive', 'predictive', 'clairvoyant', 'bound'],
    );
    for (const row of r.rows) {
      assert.ok(row.violationMinutes >= bound.violationMinutes, `${w.name} ${row.policy}: violations ${row.violationMinutes} < bound`);
      assert.ok(
        row.nodeMinutes >= bound.nodeMinutes,
        `${w.name} ${row.policy}: node-minutes ${row.nodeMinutes} < bound ${bound.nodeMinutes}`,
      );
    }
  }
});
