import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GiB, NOW, fc, flat, scenario, twoNodes } from './decide-helpers.js';
import {
  type ClusterStateInput,
  type PlanContext,
  planColocations,
  planDereplicas,
  planMerges,
  planMoves,
  planRekeys,
  planReplicaRehomes,
  planReplicas,
  planScaleIn,
  nodesNeeded,
  planScaleOut,
  planSplits,
  planTemplateAdaptations,
  recommendKey,
  splitPoint,
  templateAction,
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
  const f = [
    fc('b0', flat(100)),
    fc('b1', flat(300)),
    fc('b2', flat(400)),
    fc('b3', flat(200)),
    fc('t/p1', flat(100)),
    fc('t/p2', flat(100)),
  ];
  const cx = ctx(twoNodes({ buckets }), f, { risk: 0 });
  const pt = splitPoint(cx, cx.s.partitions.get('p0')!);
  assert.deepEqual(pt, { at: 50, leftShare: 0.4 });
  const cands = planSplits(cx);
  assert.ok(cands.length > 0);
  const c = cands[0]!;
  assert.equal(c.ops[0]!.action, 'split');
  assert.equal(c.ops[0]!.params.splitAt, '50');
  const t = cx.s.clone();
  c.run(t);
  assert.equal(c.ops.length, 2);
  assert.equal(c.ops[1]!.action, 'move');
  assert.deepEqual(c.ops[1]!.dependsOn, [0]);
  assert.ok(t.partitions.has('t[0,50)') && t.partitions.has('t[50,100)'));
  // cold partitions are not split (hysteresis threshold)
  assert.equal(planSplits(ctx(twoNodes(), [fc('t/p0', flat(100))], { risk: 0 })).length, 0);
});

test('split: a small range over a node is split only where neither a move nor replicas can help', () => {
  const small = twoNodes();
  small.partitions = small.partitions.map((p) => (p.id === 'p0' ? { ...p, sizeBytes: 16 * 1024 } : p));
  const f = [fc('t/p0', flat(1500)), fc('t/p1', flat(100)), fc('t/p2', flat(100)), fc('t/p3', flat(100))];
  // 70% writes: replicas cannot take it (each copy takes every write) and a move carries it whole
  const writeHeavy = planSplits(ctx(small, f, { risk: 0, readFractionDefault: 0.3 }));
  assert.ok(
    writeHeavy.some((c) => c.ops[0]!.partition === 'p0'),
    'the small write-heavy range is split although under split.minSizeBytes',
  );
  // 80% reads: four copies take it (1500 × 0.8 / 4 + 300 < 1000), so the small range stays whole
  assert.equal(planSplits(ctx(small, f, { risk: 0, readFractionDefault: 0.8 })).filter((c) => c.ops[0]!.partition === 'p0').length, 0);
  // under a node's capacity on its own: a move helps, the small range stays whole
  const fits = [fc('t/p0', flat(800)), fc('t/p1', flat(300)), fc('t/p2', flat(300)), fc('t/p3', flat(100))];
  assert.equal(planSplits(ctx(small, fits, { risk: 0, readFractionDefault: 0.3 })).filter((c) => c.ops[0]!.partition === 'p0').length, 0);
});

test('merge: cold neighbours on the same node only', () => {
  const c = planMerges(ctx(twoNodes(), [fc('t/p0', flat(10)), fc('t/p1', flat(10)), fc('t/p2', flat(500))], { risk: 0 }));
  assert.equal(c.length, 1);
  assert.equal(c[0]!.ops[0]!.partition, 'p0');
  assert.equal(c[0]!.ops[0]!.params.with, 'p1');
  assert.equal(c[0]!.ops[0]!.params.mergedId, 't[0,200)');
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
  assert.equal(d[0]!.ops[0]!.targetNode, 'n2');
});

test('replicate: not when even every replica allowed leaves each copy over capacity', () => {
  // 90% reads. 2000/window: 1800 / 4 copies + 200 = 650 per copy fits a 1000-capacity node.
  // 5000/window: 4500 / 4 + 500 = 1625 per copy: four violating nodes instead of one.
  const fits = planReplicas(ctx(twoNodes(), [fc('t/p0', flat(2000)), fc('t/p1', flat(100))], { risk: 0, readFractionDefault: 0.9 }));
  assert.ok(fits.some((x) => x.ops[0]!.partition === 'p0'));
  const spreads = planReplicas(ctx(twoNodes(), [fc('t/p0', flat(5000)), fc('t/p1', flat(100))], { risk: 0, readFractionDefault: 0.9 }));
  assert.ok(!spreads.some((x) => x.ops[0]!.partition === 'p0'), 'no replica that leaves every copy over capacity');
});

test('de-replicate: a range no replica can relieve and no split can cut keeps one copy', () => {
  // 90% reads at 5000/window: 4500 / 4 copies + 500 = 1625 per copy even with maxReplicas 3
  const replicated = (b0: number, b1: number) => {
    const buckets = [0, 1].map((i) => ({ seriesId: `b${i}`, table: 't', lo: i * 50, hi: (i + 1) * 50 }));
    const input = twoNodes({ buckets });
    input.partitions = input.partitions.map((p) => (p.id === 'p0' ? { ...p, replicas: ['n2'] } : p));
    const f = [fc('t/p0', flat(5000)), fc('b0', flat(b0)), fc('b1', flat(b1)), fc('t/p3', flat(100))];
    return planDereplicas(ctx(input, f, { risk: 0, readFractionDefault: 0.9 }));
  };
  // all of it in one key bucket: a split cannot cut it, so the copy only adds a violating node
  const uncut = replicated(5000, 0);
  assert.equal(uncut.length, 1);
  assert.equal(uncut[0]!.ops[0]!.action, 'dereplicate');
  assert.equal(uncut[0]!.ops[0]!.targetNode, 'n2');
  assert.match(uncut[0]!.explanation, /cannot be split/);
  // spread evenly: a split can halve it, so the copies stay for the split's halves
  assert.equal(replicated(2500, 2500).length, 0);
});

test('re-home a replica off a hot node: copy to a cool node first, then drop the hot copy', () => {
  const input = twoNodes({
    nodes: ['n1', 'n2', 'n3'].map((id) => ({ id, store: 'pg', capacity: 1000 })),
  });
  // p3 lives on n2 with a copy on n1; n1 also carries p0..p2 and is over capacity
  input.partitions = input.partitions.map((p) => (p.id === 'p3' ? { ...p, replicas: ['n1'] } : p));
  const f = [fc('t/p0', flat(800)), fc('t/p1', flat(100)), fc('t/p2', flat(100)), fc('t/p3', flat(1200))];
  const cx = ctx(input, f, { risk: 0, readFractionDefault: 0.9 });
  const c = planReplicaRehomes(cx).find((x) => x.ops[0]!.partition === 'p3' && x.ops[0]!.targetNode === 'n3');
  assert.ok(c, 'a re-home of the copy on n1 to the empty n3');
  const [add, drop] = c.ops;
  assert.equal(add!.action, 'replicate');
  assert.equal(drop!.action, 'dereplicate');
  assert.equal(drop!.targetNode, 'n1');
  assert.deepEqual(drop!.dependsOn, [0]);
  assert.ok(drop!.startStep >= add!.finishStep, 'the hot copy is dropped only once the new one serves');
  const t = cx.s.clone();
  c.run(t);
  assert.deepEqual([...t.partitions.get('p3')!.replicas], ['n3']);
  assert.ok(t.peakUtil('n1', drop!.finishStep) < cx.s.peakUtil('n1', drop!.finishStep), 'n1 relieved once the copy is dropped');
  assert.ok(t.peakUtil('n3') < 1, 'the new copy fits on n3');
  // no candidate re-homes a copy off a node that is not hot
  const cool = ctx(input, [fc('t/p3', flat(1200))], { risk: 0, readFractionDefault: 0.9 });
  assert.equal(planReplicaRehomes(cool).length, 0);
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

test('scale out: not while the nodes serving could carry the whole forecast load', () => {
  // n1 holds p0..p2 at 1000 (over target), n2 holds p3 at 100: 1100 in all needs 1.3 nodes at 85 %
  const f = [fc('t/p0', flat(700)), fc('t/p1', flat(200)), fc('t/p2', flat(100)), fc('t/p3', flat(100))];
  assert.deepEqual(planScaleOut(ctx(twoNodes(), f, { risk: 0 })), [], 'a placement problem');
  assert.deepEqual(planScaleOut(ctx(twoNodes(), f, { risk: 0, scale: { packingSlack: 0.4 } })), [], 'also with slack');
  assert.equal(planScaleOut(ctx(twoNodes(), f, { risk: 0, scale: { packingSlack: 1 } })).length, 1, 'up to twice the nodes needed');
  const busy = [fc('t/p0', flat(700)), fc('t/p1', flat(500)), fc('t/p2', flat(300)), fc('t/p3', flat(300))];
  assert.equal(planScaleOut(ctx(twoNodes(), busy, { risk: 0, scale: { packingSlack: 0.4 } })).length, 1, '1800 needs 2.1 nodes');
});

test('nodes needed: point forecasts plus the risk share of the intervals combined as independent errors', () => {
  // four partitions at 250 with intervals of ±100: planned (risk 0.5) 300 each, 1200 in all; the
  // intervals combine to √(4 × 100²) = 200, so the total is 1000 + 0.5 × 200
  const f = [0, 1, 2, 3].map((i) => fc(`t/p${i}`, flat(250), 0.4));
  const cx = ctx(twoNodes(), f, { risk: 0.5 });
  assert.ok(Math.abs(nodesNeeded(cx.s, 1000, 0) - 1100 / 850) < 1e-6, String(nodesNeeded(cx.s, 1000, 0)));
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
  // A node no adapter can stop (a configured node) is never the victim.
  const fixedInput = { ...input, nodes: input.nodes.map((n) => (n.id === 'n3' ? { ...n, removable: false } : n)) };
  const fx = ctx(fixedInput, cold, { risk: 0 });
  const others = planScaleIn(fx);
  assert.ok(others.length > 0, 'another, removable node is drained instead');
  for (const cand of others) {
    cand.run(fx.s.clone());
    assert.notEqual(cand.ops[cand.ops.length - 1]!.node, 'n3');
  }
});

test('scale in: a node the load has left is drained even when the nodes with the fewest bytes are all hot', () => {
  // six small hot shards (too small to split, too hot to fit anywhere else) and two big, nearly
  // idle ones: ranking victims by bytes alone never reaches the idle nodes
  const input: ClusterStateInput = {
    tables: [{ name: 't', store: 'pg', storeKind: 'postgres', keyColumns: ['id'] }],
    nodes: [1, 2, 3, 4, 5, 6, 7, 8].map((i) => ({ id: `n${i}`, store: 'pg', capacity: 1000 })),
    partitions: [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({
      id: `p${i}`,
      table: 't',
      store: 'pg',
      lo: i * 100,
      hi: (i + 1) * 100,
      sizeBytes: i < 6 ? 32 * 1024 ** 2 : 8 * GiB,
      rows: 1e6,
      node: `n${i + 1}`,
    })),
  };
  const loads = input.partitions.map((p, i) => fc(`t/${p.id}`, flat(i < 6 ? 900 : 50)));
  const cx = ctx(input, loads, { risk: 0 });
  const [c] = planScaleIn(cx);
  assert.ok(c, 'an idle node is drained');
  c.run(cx.s.clone());
  const last = c.ops[c.ops.length - 1]!;
  assert.equal(last.action, 'scale_in');
  assert.ok(last.node === 'n7' || last.node === 'n8', `the victim is an idle node, not ${last.node}`);
});

test('rekey: the column set most queries filter on, composite when both columns co-occur', () => {
  assert.deepEqual(
    recommendKey(
      [
        { table: 't', columns: ['tenant'], count: 80 },
        { table: 't', columns: ['id'], count: 20 },
      ],
      0.6,
    )?.columns,
    ['tenant'],
  );
  const both = recommendKey(
    [
      { table: 't', columns: ['tenant', 'ts'], count: 90 },
      { table: 't', columns: ['id'], count: 10 },
    ],
    0.6,
  );
  assert.deepEqual(both?.columns, ['tenant', 'ts']);
  assert.equal(
    recommendKey(
      [
        { table: 't', columns: ['a'], count: 50 },
        { table: 't', columns: ['b'], count: 50 },
      ],
      0.6,
    ),
    null,
  );
  const c = planRekeys(
    ctx(
      twoNodes({
        predicates: [
          { table: 't', columns: ['tenant'], count: 900 },
          { table: 't', columns: ['id'], count: 100 },
        ],
      }),
      [],
      {},
    ),
  );
  assert.equal(c.length, 1);
  assert.equal(c[0]!.ops[0]!.params.keyColumns, 'tenant');
  // A PostgreSQL shard table is routed by one column: no composite key is recommended for it.
  const pg = planRekeys(ctx(twoNodes({ predicates: [{ table: 't', columns: ['tenant', 'ts'], count: 900 }] }), [], {}));
  assert.equal(pg[0]?.ops[0]?.storeKind, 'postgres');
  assert.equal(pg[0]?.ops[0]?.params.keyColumns, 'tenant');
});

test('templates: composite index, derived attribute, precomputation for hot templates', () => {
  const base = { table: 't', count: 1000, meanLatencyMs: 50, indexed: false };
  assert.equal(templateAction({ ...base, templateId: 'a', columns: ['x', 'y'], kind: 'point' }), 'composite_index');
  assert.equal(
    templateAction({ ...base, templateId: 'b', columns: ['x'], kind: 'expression', expression: 'lower(x)' }),
    'derived_attribute',
  );
  assert.equal(templateAction({ ...base, templateId: 'c', columns: [], kind: 'aggregate' }), 'precompute');
  assert.equal(templateAction({ ...base, templateId: 'd', columns: ['x'], kind: 'point' }), null);
  const c = planTemplateAdaptations(
    ctx(
      twoNodes({
        templates: [
          { ...base, templateId: 'a', columns: ['x', 'y'], kind: 'point' },
          { ...base, templateId: 'cold', columns: ['x', 'y'], kind: 'point', count: 1 },
        ],
      }),
      [],
      {},
    ),
  );
  assert.equal(c.length, 1);
  assert.equal(c[0]!.ops[0]!.params.columns, 'x,y');
});

test('templates: the same statement on every shard table is one design of the logical table, with their counts added', () => {
  const base = { table: 't', meanLatencyMs: 50, indexed: false };
  const perShard = [0, 1, 2, 3].flatMap((i) => [
    { ...base, templateId: `ix${i}`, columns: ['x', 'y'], kind: 'range' as const, count: 40 },
    { ...base, templateId: `mv${i}`, columns: [], kind: 'aggregate' as const, groupBy: 'x', sumOf: 'amount', count: 40 },
  ]);
  const c = planTemplateAdaptations(ctx(twoNodes({ templates: perShard }), [], {}));
  // each alone is under the default 100 a window; together they are 160
  assert.deepEqual(c.map((x) => x.action).sort(), ['composite_index', 'precompute']);
  assert.match(c.find((x) => x.action === 'composite_index')!.explanation, /160\/window/);
  assert.equal(new Set(c.map((x) => x.ops[0]!.target)).size, 2);
});

/** Nodes n1..nK (capacity 1000), partitions [id, lo, hi, node], key buckets of 25 over the given ranges. */
function custom(nodes: number, parts: [string, number, number, string][], bucketRanges: [number, number][]) {
  const buckets = bucketRanges.flatMap(([lo, hi]) =>
    Array.from({ length: (hi - lo) / 25 }, (_, i) => ({ seriesId: `b${lo + i * 25}`, table: 't', lo: lo + i * 25, hi: lo + (i + 1) * 25 })),
  );
  return {
    tables: [{ name: 't', store: 'pg', storeKind: 'postgres' as const, keyColumns: ['id'] }],
    nodes: Array.from({ length: nodes }, (_, i) => ({ id: `n${i + 1}`, store: 'pg', capacity: 1000 })),
    partitions: parts.map(([id, lo, hi, node]) => ({ id, table: 't', store: 'pg', lo, hi, sizeBytes: 2 * GiB, rows: 1e6, node })),
    buckets,
  };
}

test('scale out: a partition too big for the new node is split and the half that fits moves', () => {
  // p0 = [0,100) carries 1200/step (4 buckets of 300) on n1: no whole copy fits a node's target
  const input = custom(
    2,
    [
      ['p0', 0, 100, 'n1'],
      ['p1', 100, 200, 'n2'],
    ],
    [[0, 100]],
  );
  // with p1's 600 on n2, 1800 in all: more than two nodes carry at target
  const f = [fc('b0', flat(300)), fc('b25', flat(300)), fc('b50', flat(300)), fc('b75', flat(300)), fc('t/p1', flat(600))];
  const cx = ctx(input, f, { risk: 0, provisioningMs: 300_000 });
  const [c] = planScaleOut(cx);
  assert.ok(c);
  const t = cx.s.clone();
  c.run(t);
  const actions = c.ops.map((o) => o.action);
  assert.deepEqual(actions.slice(0, 3), ['scale_out', 'split', 'move']);
  assert.equal(c.ops[1]!.partition, 'p0');
  assert.equal(c.ops[1]!.params.splitAt, '50');
  const mv = c.ops[2]!;
  assert.deepEqual(mv.dependsOn, [0, 1], 'the move waits for the node and the split');
  assert.ok(mv.partition === 't[0,50)' || mv.partition === 't[50,100)');
  assert.equal(mv.targetNode, c.ops[0]!.params.nodeId);
  assert.ok(
    t.peakUtil('n1', mv.finishStep) <= 0.85 + 1e-9,
    `n1 back under target once the half has moved (${t.peakUtil('n1', mv.finishStep)})`,
  );
  // replayed on another scenario (the planner's reference run), the same ops
  const again = cx.s.clone();
  c.run(again);
  assert.deepEqual(
    c.ops.map((o) => `${o.action}:${o.partition ?? ''}`),
    actions.map((a, i) => `${a}:${c.ops[i]!.partition ?? ''}`),
  );
  assert.ok(again.partitions.has('t[0,50)') && again.partitions.has('t[50,100)'));
});

test('scale in: a drained copy that fits nowhere whole is split and its halves placed', () => {
  // n1 and n2 at 550, n3 holds p3 at 400 (4 buckets of 100): under 85%, 300 of room on each, so
  // p3 fits nowhere whole and neither host can make room (one partition each, too big to move)
  const input = custom(
    3,
    [
      ['p0', 0, 100, 'n1'],
      ['p1', 100, 200, 'n2'],
      ['p3', 300, 400, 'n3'],
    ],
    [[300, 400]],
  );
  const f = [
    fc('t/p0', flat(550)),
    fc('t/p1', flat(550)),
    fc('b300', flat(100)),
    fc('b325', flat(100)),
    fc('b350', flat(100)),
    fc('b375', flat(100)),
  ];
  const cx = ctx(input, f, { risk: 0, scale: { scaleInUtil: 0.85 } });
  const [c] = planScaleIn(cx);
  assert.ok(c, 'a scale-in is planned');
  const t = cx.s.clone();
  c.run(t);
  const split = c.ops.findIndex((o) => o.action === 'split');
  assert.ok(split >= 0);
  assert.equal(c.ops[split]!.partition, 'p3');
  const moves = c.ops.filter((o) => o.action === 'move');
  assert.deepEqual(moves.map((m) => m.partition).sort(), ['t[300,350)', 't[350,400)']);
  for (const m of moves) assert.ok(m.dependsOn.includes(split), 'a half moves after the split');
  assert.deepEqual(new Set(moves.map((m) => m.targetNode)), new Set(['n1', 'n2']));
  const last = c.ops[c.ops.length - 1]!;
  assert.equal(last.action, 'scale_in');
  assert.equal(last.node, 'n3');
  assert.deepEqual(
    last.dependsOn,
    c.ops.slice(0, -1).map((_, i) => i),
  );
  for (const n of ['n1', 'n2']) assert.ok(t.peakUtil(n) <= 0.85 + 1e-9);
});

test('scale in under way: the node serves until the drain move off it finishes, and nothing scales out for its load', () => {
  const input = twoNodes();
  input.nodes = [...input.nodes, { id: 'n3', store: 'pg', capacity: 1000 }];
  input.partitions = input.partitions.map((p) => (p.id === 'p3' ? { ...p, node: 'n3' } : p));
  const inFlight = (id: string, action: string, extra: object, endStep: number) => ({
    commandId: id,
    action,
    bytes: 0,
    startedAt: NOW,
    expectedEnd: NOW + endStep * 60_000,
    ...extra,
  });
  // the scale-in is expected to end at step 2; the move it waits for lands at step 6
  input.inFlight = [
    inFlight('cmd-scale_in', 'scale_in', { node: 'n3' }, 2),
    inFlight('cmd-move', 'move', { partition: 'p3', sourceNode: 'n3', targetNode: 'n2' }, 6),
  ];
  const load = [fc('t/p0', flat(200)), fc('t/p1', flat(200)), fc('t/p2', flat(200)), fc('t/p3', flat(300))];
  const cx = ctx(input, load, { risk: 0 });
  const n3 = cx.s.nodes.get('n3')!;
  assert.ok(n3.activeUntil >= 6, `n3 serves until its copy has left (active until step ${n3.activeUntil})`);
  assert.ok(n3.activeUntil < cx.s.steps, 'and is gone after');
  assert.deepEqual(planScaleOut(cx), [], 'its load is no overload to scale out for');
});
