import { test } from 'node:test';
import assert from 'node:assert/strict';
import { segmentScripts } from '../../demo/pgbench.js';
import { nodeLoadBeforeAfter } from '../../demo/report.js';
import type { ShardRoute } from '../../stores/postgres/routing.js';

const route = (shard: string, lo: string | null, hi: string | null, node: string): ShardRoute => ({
  shard,
  lo,
  hi,
  node,
  version: 1,
  state: 'active',
  owner: null,
  replicas: [],
});

test('segmentScripts: rates follow key spans plus the hotspot, scripts name the shard tables on their node', () => {
  const shards = [route('s0', null, '500', 'node0'), route('s1', '500', null, 'node1')];
  const plan = segmentScripts('orders', shards, [0, 1000], { lo: 600, width: 100, share: 0.5 }, 100);
  const n0 = plan.find((p) => p.node === 'node0')!;
  const n1 = plan.find((p) => p.node === 'node1')!;
  assert.equal(Math.round(n0.rate), 25); // half of the background, no hotspot
  assert.equal(Math.round(n1.rate), 75); // the other half plus the whole hotspot
  assert.ok(n0.scripts.every((s) => s.text.includes('FROM orders__s0')));
  const hot = n1.scripts.find((s) => s.name === 's1-hot')!;
  assert.match(hot.text, /random_zipfian\(1, 100, 1\.1\)/);
  assert.match(hot.text, /\\set k 600 \+ :r - 1/);
});

test('segmentScripts: a hotspot across a shard boundary is split by the keys each shard holds', () => {
  const shards = [route('s0', null, '500', 'node0'), route('s1', '500', null, 'node0')];
  const plan = segmentScripts('orders', shards, [0, 1000], { lo: 450, width: 100, share: 1 }, 100);
  assert.equal(plan.length, 1);
  const w = Object.fromEntries(plan[0]!.scripts.map((s) => [s.name, Math.round(s.weight)]));
  assert.deepEqual(w, { 's0-bg': 0, 's0-hot': 50, 's1-bg': 0, 's1-hot': 50 });
});

test('segmentScripts: a replicated shard shares its reads with its replicas; reports and service time as asked', () => {
  const shards = [{ ...route('s0', null, null, 'node0'), replicas: ['node2'] }];
  const plan = segmentScripts('orders', shards, [0, 1000], { lo: 0, width: 100, share: 0.5 }, 100, 33, 0.1);
  assert.deepEqual(
    plan.map((p) => [p.node, Math.round(p.rate)]),
    [
      ['node0', 55],
      ['node2', 55],
    ],
  );
  const on2 = plan.find((p) => p.node === 'node2')!;
  assert.ok(on2.scripts.every((s) => s.name.endsWith('-on-node2') && s.text.includes('FROM orders__s0')));
  assert.match(on2.scripts.find((s) => s.name.startsWith('s0-hot'))!.text, /pg_sleep\(0\.033\)/);
  const reports = plan[0]!.scripts.filter((s) => /recent|totals/.test(s.name));
  assert.equal(reports.length, 2);
  assert.ok(
    reports.every((s) => !s.text.includes('pg_sleep')),
    'a report scans many rows: no per-row sleep',
  );
});

test('nodeLoadBeforeAfter: mean per bucket in the first and last third', () => {
  const rows = [1, 2, 3, 4, 5, 6].flatMap((b) => [
    { node: 'node0', bucket_ms: b * 15000, total_queries: b <= 2 ? 100 : 10 },
    { node: 'node1', bucket_ms: b * 15000, total_queries: b <= 2 ? 10 : 50 },
  ]);
  assert.deepEqual(nodeLoadBeforeAfter(rows), [
    { node: 'node0', before: 100, after: 10 },
    { node: 'node1', before: 10, after: 50 },
  ]);
});
