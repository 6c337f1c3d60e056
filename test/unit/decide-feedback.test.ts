/** The live pipeline's decisions judged after their horizon, and the selector learning from it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DecisionFeedback } from '../../processors/decide/feedback.js';
import { outcomeReward } from '../../processors/decide/selector.js';
import type { CommandResult, WorkloadAggregate } from '../../schemas/types.js';
import { aggregate } from './sim-helpers.js';

const STEP = 10_000;
const agg = (windowStart: number, node: string | null, queries: number, table: string | null = null): WorkloadAggregate =>
  aggregate({
    seriesId: `src|${table ?? '*'}|*||${node ?? ''}`,
    windowStart,
    windowEnd: windowStart + STEP,
    source: 'src',
    table,
    node,
    queries,
  });
const result = (commandId: string, status: CommandResult['status'], bytesMoved: number): CommandResult => ({
  commandId,
  ts: 0,
  topic: 'shardcast.commands.shard',
  store: 'pg-shards',
  action: 'move',
  status,
  progress: 1,
  reason: null,
  rowsCopied: 0,
  bytesMoved,
  verified: true,
  durationMs: 0,
  executor: 'x',
  details: {},
});

test('a decision is judged once its horizon closed: violation minutes, node-minutes, bytes moved, failures', () => {
  const fb = new DecisionFeedback({ capacity: 100, stepMs: STEP, horizonMs: 6 * STEP, targetUtil: 0.8 });
  fb.record(0, 'balanced', [1, 0.5, 0], ['c1', 'c2']);
  for (let w = 0; w < 8; w++) {
    fb.observeAggregate(agg(w * STEP, 'node0', w < 2 ? 150 : 60)); // over capacity in the first two windows
    fb.observeAggregate(agg(w * STEP, 'node1', 40));
    fb.observeAggregate(agg(w * STEP, 'node0', 999, 'orders')); // a table series: not a node total
  }
  fb.observeResult(result('c1', 'SUCCEEDED', 2 * 1024 ** 3));
  fb.observeResult(result('c2', 'ROLLED_BACK', 0));
  fb.observeResult(result('other', 'FAILED', 5 * 1024 ** 3)); // not this decision's
  assert.deepEqual(fb.settle(6 * STEP), [], 'the last window of the horizon has not closed yet');
  const [s] = fb.settle(7 * STEP);
  assert.ok(s);
  const stepMin = STEP / 60_000;
  const near = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} vs ${b}`);
  near(s.violationMinutes, 2 * stepMin, 'violation minutes');
  near(s.nodeMinutes, 6 * 2 * stepMin, 'node-minutes');
  assert.equal(s.gbMoved, 2);
  assert.equal(s.failed, 1);
  // needed: ceil(190/80)=3 for two windows, ceil(100/80)=2 for four
  const expected = outcomeReward({
    violationMinutes: 2 * stepMin,
    nodeMinutes: 12 * stepMin,
    gbMoved: 2,
    failed: 1,
    periodMinutes: 1,
    nodes: 2,
    neededNodeMinutes: (2 * 3 + 4 * 2) * stepMin,
  });
  near(s.reward, expected, 'reward');
  assert.equal(fb.selector!.arms.balanced!.n, 1);
  assert.equal(fb.waiting, 0);
});

test('no observations over the horizon: no reward either way; a bad outcome rewards lower than a good one', () => {
  const fb = new DecisionFeedback({ capacity: 100, stepMs: STEP, horizonMs: 3 * STEP });
  fb.record(0, 'a', [1, 0], []);
  assert.deepEqual(fb.settle(10 * STEP), []);
  assert.equal(fb.selector!.arms.a, undefined);

  fb.record(10 * STEP, 'a', [1, 0], []);
  fb.record(20 * STEP, 'b', [0, 1], []);
  for (let w = 10; w < 23; w++) fb.observeAggregate(agg(w * STEP, 'node0', w < 20 ? 50 : 300));
  const settled = fb.settle(30 * STEP);
  assert.deepEqual(
    settled.map((x) => x.arm),
    ['a', 'b'],
  );
  assert.ok(settled[0]!.reward > settled[1]!.reward, 'overload over the horizon costs reward');
});
