import { test } from 'node:test';
import assert from 'node:assert/strict';
import { choose, newSelector, outcomeReward, solveSpd, update } from '../../processors/decide/index.js';

test('solveSpd solves a small SPD system', () => {
  const x = solveSpd([4, 1, 1, 3], [1, 2], 2);
  assert.ok(Math.abs(4 * x[0]! + x[1]! - 1) < 1e-9 && Math.abs(x[0]! + 3 * x[1]! - 2) < 1e-9);
});

test('no data: the selector returns the cost model default', () => {
  const opts = [
    { arm: 'a', features: [1, 0.5] },
    { arm: 'b', features: [1, 0.1] },
  ];
  assert.deepEqual(choose(null, opts, 1), { index: 1, arm: 'b', mode: 'default', scores: [] });
  const c = choose(newSelector(2), opts, 1);
  assert.equal(c.mode, 'default');
  assert.equal(c.index, 1);
});

test('learns a clearly better arm and overrides the default', () => {
  let m = newSelector(2, { alpha: 0.2, minObservations: 3 });
  const x = [1, 0.3];
  for (let i = 0; i < 10; i++) {
    m = update(m, 'good', x, -0.05);
    m = update(m, 'bad', x, -0.9);
  }
  const c = choose(
    m,
    [
      { arm: 'bad', features: x },
      { arm: 'good', features: x },
    ],
    0,
  );
  assert.equal(c.mode, 'learned');
  assert.equal(c.arm, 'good');
  assert.ok(c.scores.find((s) => s.arm === 'good')!.mean > c.scores.find((s) => s.arm === 'bad')!.mean);
});

test('outcome reward: violations cost more than nodes; bounded in (-1, 0]', () => {
  const calm = outcomeReward({ violationMinutes: 0, nodeMinutes: 300, gbMoved: 0, failed: 0, periodMinutes: 30, nodes: 10 });
  const hot = outcomeReward({ violationMinutes: 10, nodeMinutes: 300, gbMoved: 0, failed: 0, periodMinutes: 30, nodes: 10 });
  assert.ok(calm > hot);
  assert.ok(hot > -1 && calm <= 0);
});

test('outcomeReward with the node-minutes the load needed charges only the excess', () => {
  const base = { violationMinutes: 0, gbMoved: 0, failed: 0, periodMinutes: 60, nodes: 10 };
  const lean = outcomeReward({ ...base, nodeMinutes: 600, neededNodeMinutes: 600 });
  const fat = outcomeReward({ ...base, nodeMinutes: 600, neededNodeMinutes: 360 });
  assert.equal(lean, -0);
  assert.ok(fat < lean, 'four nodes more than the load needed cost reward');
  // a busy hour that needed all its nodes scores as well as a quiet one that needed its few
  assert.equal(outcomeReward({ ...base, nodeMinutes: 120, nodes: 2, neededNodeMinutes: 120 }), lean);
  const hot = outcomeReward({ ...base, violationMinutes: 5, nodeMinutes: 600, neededNodeMinutes: 600 });
  assert.ok(hot < fat);
});
