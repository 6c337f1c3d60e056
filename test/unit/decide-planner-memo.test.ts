import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NOW, fc, flat, scenario, twelvePartitions, twoNodes } from './decide-helpers.js';
import { MeasureMemo, type Plan, planAll, planFor } from '../../processors/decide/planner.js';

/** Twelve 1 GiB partitions at 200 per window on two nodes of 1000: both nodes hot, room to move and to add a node. */
function twelveHot() {
  const partitions = twelvePartitions();
  const rising = (i: number) => Array.from({ length: 30 }, (_, h) => 120 + (i % 3) * 40 + h * 3);
  return { input: twoNodes({ partitions }), forecasts: partitions.map((p, i) => fc(`t/${p.id}`, i < 6 ? rising(i) : flat(150), 0.2)) };
}

/** Measures and searches every time: what a strategy plans with nothing shared. */
class NothingShared extends MeasureMemo {
  override get(): undefined {
    return undefined;
  }
  override reuse<T>(_key: string, _name: string, make: () => T): T {
    return make();
  }
}

const summary = (plans: Plan[]) =>
  plans.map((p) => ({
    strategy: p.strategy,
    chosen: p.chosen.map((c) => ({
      explanation: c.candidate.explanation,
      ops: c.ops,
      delta: c.delta,
      parts: c.parts,
      firstBenefitStep: c.firstBenefitStep,
      latestStart: c.latestStart,
      deferred: c.deferred,
    })),
    before: p.before,
    after: p.after,
    features: p.features,
  }));

test('strategies that share measurements plan exactly what each plans alone', () => {
  const { input, forecasts } = twelveHot();
  const { state, profile, cfg } = scenario(input, forecasts, {
    provisioningMs: 300_000,
    actions: ['scale_out', 'move', 'split', 'replicate'],
  });
  const memo = new MeasureMemo();
  const shared = planAll(state, profile, cfg, NOW, memo);
  const alone = cfg.strategies.map((st) => planFor(st, state, profile, cfg, NOW, undefined, new NothingShared()));
  assert.ok(
    shared.some((p) => p.chosen.length > 0),
    'the case plans something',
  );
  assert.ok(memo.hits > 0, 'strategies agreed on a scenario, so some candidate lists were taken from the memo');
  assert.deepEqual(summary(shared), summary(alone));
});

test('a scale-in whose drain search is shared plans as each strategy plans it alone', () => {
  const input = twoNodes();
  input.nodes = [...input.nodes, { id: 'n3', store: 'pg', capacity: 1000 }];
  const cold = ['p0', 'p1', 'p2', 'p3'].map((p) => fc(`t/${p}`, flat(100), 0.2));
  const { state, profile, cfg } = scenario(input, cold, { actions: ['scale_in', 'move'] });
  const memo = new MeasureMemo();
  const shared = planAll(state, profile, cfg, NOW, memo);
  const alone = cfg.strategies.map((st) => planFor(st, state, profile, cfg, NOW, undefined, new NothingShared()));
  assert.ok(
    shared.some((p) => p.chosen.some((c) => c.candidate.action === 'scale_in')),
    'the case plans a scale-in',
  );
  assert.ok(memo.hits > 0);
  assert.deepEqual(summary(shared), summary(alone));
});
