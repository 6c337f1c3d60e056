import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runFigures } from '../../demo/comparison.js';
import { parsePgbenchLog } from '../../demo/pgbench.js';

test('a pgbench per-transaction log gives each latency with its schedule lag; failed lines are counted apart', () => {
  const log = ['0 1 34000 0 1796280000 123456 2000', '1 1 35500 0 1796280000 223456 500', '0 2 failed 0 1796280001 1 0', ''].join('\n');
  assert.deepEqual(parsePgbenchLog(log), { latenciesMs: [36, 36], failed: 1 });
  // without -R there is no lag column
  assert.deepEqual(parsePgbenchLog('0 1 1500 0 1796280000 5').latenciesMs, [1.5]);
});

test('SLA-violation minutes count the node-segments whose p99 is over the SLA', () => {
  const fast = Array.from({ length: 100 }, () => 30);
  const slow = Array.from({ length: 100 }, (_, i) => (i < 90 ? 30 : 900));
  const segments = [
    {
      seconds: 30,
      nodes: [
        { node: 'node0', latenciesMs: slow },
        { node: 'node1', latenciesMs: fast },
      ],
    },
    {
      seconds: 30,
      nodes: [
        { node: 'node0', latenciesMs: fast },
        { node: 'node1', latenciesMs: [] },
      ],
    },
  ];
  const f = runFigures(segments, 250, { planned: 3, succeeded: 2 });
  assert.equal(f.slaViolationMinutes, 0.5);
  assert.equal(f.transactions, 300);
  assert.equal(f.p50Ms, 30);
  assert.ok(f.p99Ms > 250);
  assert.equal(runFigures(segments, 1000, { planned: 0, succeeded: 0 }).slaViolationMinutes, 0);
});
