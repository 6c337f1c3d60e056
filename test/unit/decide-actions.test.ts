import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GiB, NOW, fc, flat, scenario, twoNodes } from './decide-helpers.js';
import {
  type PlanContext, planColocations, planDereplicas, planMerges, planMoves, planRekeys, planReplicas, planScaleIn, planScaleOut,
  planSplits, planTemplateAdaptations, recommendKey, splitPoint, templateAction,
} from '../../processors/decide/index.js';

function ctx(...args: Parameters<typeof scenario>): PlanContext {
  const { s, profile, cfg, state } = scenario(...args);
  return { s, profile, cfg, state, now: NOW };
}

const hotN1 = [fc('t/p0', flat(500)), fc('t/p1', flat(300)), fc('t/p2', flat(300)), fc('t/p3', flat(100))];

test('move: only partitions on a node forecast above target, to the node with room', () => {
  const c = planMoves(ctx(twoNodes(), hotN1, { risk: 0 }));
  assert.ok(c.length > 0);
  for (const x of c) {
    assert.equal(x.ops[0]!.sourceNode, 'n1');
    assert.equal(x.ops[0]!.targetNode, 'n2');
    assert.equal(x.ops[0]!.bytes, 2 * GiB);
  }
  assert.equal(c[0]!.ops[0]!.partition, 'p0', 'the hottest partition first');
  // nothing hot, nothing to move
  assert.equal(planMoves(ctx(twoNodes(), [fc('t/p0', flat(100))], { risk: 0 })).length, 0);
});

test('split: at the forecast-weighted point from key-bucket forecasts, then one half moves', () => {
  const buckets = [0, 1, 2, 3].map((i) => ({ seriesId: `b${i}`, table: 't', lo: i * 25, hi: (i + 1) * 25 }));
  // p0 = [0,100): load 100, 300, 400, 200 per bucket → 40% of it lies below 50, the boundary closest to half
  const f = [fc('b0', flat(100)), fc('b1', flat(300)), fc('b2', flat(400)), fc('b3', flat(200)), fc('t/p1', flat(100)), fc('t/p2', flat(100))];
  const cx = ctx(twoNodes({ buckets }), f, { risk: 0 });
  const pt = splitPoint(cx, cx.s.partitions.get('p0')!);
  assert.deepEqual(pt, { at: 50, leftShare: 0.4 });
  const cands = planSplits(cx);
  assert.ok(cands.length > 0);
  const c = cands[0]!;
  assert.equal(c.ops[0]!.action, 'split');
  assert.equal(c.ops[0]!.params['splitAt'], '50');
  const t = cx.s.clone();
  c.run(t);
  assert.equal(c.ops.length, 2);
  assert.equal(c.ops[1]!.action, 'move');
  assert.deepEqual(c.ops[1]!.dependsOn, [0]);
  assert.ok(t.partitions.has('t[0,50)') && t.partitions.has('t[50,100)'));
  // cold partitions are not split (hysteresis threshold)
  assert.equal(planSplits(ctx(twoNodes(), [fc('t/p0', flat(100))], { risk: 0 })).length, 0);
});

test('merge: cold neighbours on the same node only', () => {
  const c = planMerges(ctx(twoNodes(), [fc('t/p0', flat(10)), fc('t/p1', flat(10)), fc('t/p2', flat(500))], { risk: 0 }));
  assert.equal(c.length, 1);
  assert.equal(c[0]!.ops[0]!.partition, 'p0');
  assert.equal(c[0]!.ops[0]!.params['with'], 'p1');
  assert.equal(c[0]!.ops[0]!.params['mergedId'], 't[0,200)');
});

test('replicate a read-hot partition; de-replicate a cold replica', () => {
  const input = twoNodes();
  const f = [fc('t/p0', flat(900)), fc('t/p1', flat(100))];
  const c = planReplicas(ctx(input, f, { risk: 0, readFractionDefault: 0.9 }));
  assert.ok(c.some((x) => x.ops[0]!.partition === 'p0' && x.ops[0]!.targetNode === 'n2'));
  assert.equal(planReplicas(ctx(input, f, { risk: 0, readFractionDefault: 0.3 })).length, 0, 'write-heavy: no replica');
  const withReplica = twoNodes();
  withReplica.partitions = withReplica.partitions.map((p) => (p.id === 'p1' ? { ...p, replicas: ['n2'] } : p));
  const d = planDereplicas(ctx(withReplica, [fc('t/p1', flat(20))], { risk: 0 }));
  assert.equal(d.length, 1);
  assert.equal(d[0]!.ops[0]!.sourceNode, 'n2');
});

test('co-locate co-accessed partitions on different nodes: the smaller moves', () => {
  const input = twoNodes({ coAccess: [{ a: 'p0', b: 'p3', weight: 200 }] });
  input.partitions = input.partitions.map((p) => (p.id === 'p3' ? { ...p, sizeBytes: GiB } : p));
  const c = planColocations(ctx(input, [], { risk: 0 }));
  assert.equal(c.length, 1);
  assert.equal(c[0]!.ops[0]!.action, 'colocate');
  assert.equal(c[0]!.ops[0]!.partition, 'p3');
  assert.equal(c[0]!.ops[0]!.targetNode, 'n1');
});

test('scale out: a new node, provisioned first, then moves to it that wait for it', () => {
  const f = [fc('t/p0', flat(600)), fc('t/p1', flat(600)), fc('t/p2', flat(600)), fc('t/p3', flat(600))];
  const cx = ctx(twoNodes(), f, { risk: 0, provisioningMs: 300_000 });
  const [c] = planScaleOut(cx);
  assert.ok(c);
  const t = cx.s.clone();
  c.run(t);
  assert.equal(c.ops[0]!.action, 'scale_out');
  assert.equal(c.ops[0]!.finishStep, 5);
  assert.ok(c.ops.length >= 2);
  for (const m of c.ops.slice(1)) {
    assert.equal(m.action, 'move');
    assert.ok(m.dependsOn.includes(0));
    assert.ok(m.startStep >= 5, 'moves start once the node is up');
  }
});

test('scale in: drain the coldest node when the rest stay under the hysteresis bound', () => {
  const input = twoNodes();
  input.nodes = [...input.nodes, { id: 'n3', store: 'pg', capacity: 1000 }];
  const cold = [fc('t/p0', flat(100)), fc('t/p1', flat(100)), fc('t/p2', flat(100)), fc('t/p3', flat(100))];
  const cx = ctx(input, cold, { risk: 0 });
  const [c] = planScaleIn(cx);
  assert.ok(c);
  c.run(cx.s.clone());
  const last = c.ops[c.ops.length - 1]!;
  assert.equal(last.action, 'scale_in');
  assert.equal(last.node, 'n3', 'the empty node goes first');
  const busy = [fc('t/p0', flat(600)), fc('t/p1', flat(600)), fc('t/p2', flat(100)), fc('t/p3', flat(600))];
  assert.equal(planScaleIn(ctx(input, busy, { risk: 0 })).length, 0, 'remaining nodes would exceed scaleInUtil');
});

test('rekey: the column set most queries filter on, composite when both columns co-occur', () => {
  assert.deepEqual(recommendKey([{ table: 't', columns: ['tenant'], count: 80 }, { table: 't', columns: ['id'], count: 20 }], 0.6)?.columns, ['tenant']);
  const both = recommendKey([{ table: 't', columns: ['tenant', 'ts'], count: 90 }, { table: 't', columns: ['id'], count: 10 }], 0.6);
  assert.deepEqual(both?.columns, ['tenant', 'ts']);
  assert.equal(recommendKey([{ table: 't', columns: ['a'], count: 50 }, { table: 't', columns: ['b'], count: 50 }], 0.6), null);
  const c = planRekeys(ctx(twoNodes({ predicates: [{ table: 't', columns: ['tenant'], count: 900 }, { table: 't', columns: ['id'], count: 100 }] }), [], {}));
  assert.equal(c.length, 1);
  assert.equal(c[0]!.ops[0]!.params['keyColumns'], 'tenant');
});

test('templates: composite index, derived attribute, precomputation for hot templates', () => {
  const base = { table: 't', count: 1000, meanLatencyMs: 50, indexed: false };
  assert.equal(templateAction({ ...base, templateId: 'a', columns: ['x', 'y'], kind: 'point' }), 'composite_index');
  assert.equal(templateAction({ ...base, templateId: 'b', columns: ['x'], kind: 'expression', expression: 'lower(x)' }), 'derived_attribute');
  assert.equal(templateAction({ ...base, templateId: 'c', columns: [], kind: 'aggregate' }), 'precompute');
  assert.equal(templateAction({ ...base, templateId: 'd', columns: ['x'], kind: 'point' }), null);
  const c = planTemplateAdaptations(ctx(twoNodes({ templates: [
    { ...base, templateId: 'a', columns: ['x', 'y'], kind: 'point' },
    { ...base, templateId: 'cold', columns: ['x', 'y'], kind: 'point', count: 1 },
  ] }), [], {}));
  assert.equal(c.length, 1);
  assert.equal(c[0]!.ops[0]!.params['columns'], 'x,y');
});
