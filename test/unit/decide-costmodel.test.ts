import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GiB, NOW, STEP, fc, flat, scenario, twoNodes } from './decide-helpers.js';
import type { WorkloadAggregate } from '../../schemas/types.js';
import { aggregate } from './sim-helpers.js';
import {
  buildLoadProfile,
  buildState,
  decideConfig,
  migrationMs,
  moveEffect,
  nodePenalty,
  overlapFraction,
  replicateEffect,
} from '../../processors/decide/index.js';
import { totalScore } from '../../processors/decide/costModel.js';

test('load profile: forecast points aligned to steps, planned at point + risk × (upper − point)', () => {
  const cfg = decideConfig({ risk: 0.5, readFractionDefault: 0.75 });
  const state = buildState(twoNodes());
  const p = buildLoadProfile(state, [fc('t/p0', flat(100), 0.2)], [], NOW, cfg);
  const l = p.partitions.get('p0')!;
  assert.equal(l.point[0], 100);
  assert.equal(l.upper[0], 120);
  assert.equal(l.read[0]! + l.write[0]!, 110);
  assert.equal(l.read[0], 110 * 0.75);
  // no forecast and no aggregate: zero load carried
  assert.equal(p.partitions.get('p1')!.point[5], 0);
});

test('load profile: key-bucket forecasts are summed into partitions by overlap, intervals add in quadrature', () => {
  const cfg = decideConfig({ risk: 1 });
  const state = buildState(
    twoNodes({
      buckets: [
        { seriesId: 'b0', table: 't', lo: 0, hi: 50 },
        { seriesId: 'b1', table: 't', lo: 50, hi: 150 },
      ],
    }),
  );
  const p = buildLoadProfile(state, [fc('b0', flat(100), 0.3), fc('b1', flat(200), 0.4)], [], NOW, cfg);
  const p0 = p.partitions.get('p0')!; // b0 whole + half of b1
  assert.equal(p0.point[0], 200);
  assert.ok(Math.abs(p0.upper[0]! - (200 + Math.hypot(30, 40))) < 1e-9);
  assert.equal(p.partitions.get('p1')!.point[0], 100);
  assert.equal(overlapFraction(50, 150, 0, 100), 0.5);
});

test('load profile: a partition planned from key buckets takes its read share from the buckets, not the default', () => {
  const cfg = decideConfig({ risk: 0, readFractionDefault: 0.75 });
  const state = buildState(twoNodes({ buckets: [{ seriesId: 'b0', table: 't', lo: 0, hi: 100 }] }));
  const agg = (reads: number, writes: number) =>
    aggregate({ seriesId: 'b0', windowStart: NOW - STEP, windowEnd: NOW, source: 's', table: 't', queries: reads + writes, reads, writes });
  const share = (a: WorkloadAggregate[]) => {
    const l = buildLoadProfile(state, [fc('b0', flat(100))], a, NOW, cfg).partitions.get('p0')!;
    return l.read[0]! / (l.read[0]! + l.write[0]!);
  };
  // all reads (a SELECT-only workload): replicas can carry all of it
  assert.equal(share([agg(100, 0)]), 1);
  assert.equal(share([agg(40, 60)]), 0.4);
  // the buckets counted neither reads nor writes: the configured default
  assert.equal(share([agg(0, 0)]), 0.75);
});

test('node penalty: overload above capacity and headroom above target, in capacity-minutes', () => {
  const pen = nodePenalty([500, 900, 1200], { capacity: 1000, activeFrom: 0, activeUntil: 3 }, 0.8, 1);
  assert.ok(Math.abs(pen.overload - 0.2) < 1e-9);
  assert.ok(Math.abs(pen.headroom - (0.1 + 0.4)) < 1e-9);
});

test('migration duration is bytes / throttle rate', () => {
  assert.equal(migrationMs(2 * GiB, { throttleBytesPerSec: 16 * 1024 * 1024 }), 128_000);
});

test('scenario: node timelines; a move relieves the source after the migration and costs bytes', () => {
  const { s, cfg } = scenario(twoNodes(), [fc('t/p0', flat(400)), fc('t/p1', flat(400)), fc('t/p2', flat(400)), fc('t/p3', flat(100))], {
    risk: 0,
  });
  assert.equal(s.nodes.get('n1')!.load[0], 1200);
  assert.equal(s.nodes.get('n2')!.load[0], 100);
  const before = s.parts.overload;
  assert.ok(before > 0);
  const p0 = s.partitions.get('p0')!;
  const finish = Math.ceil(migrationMs(p0.sizeBytes, cfg) / STEP); // 3 steps
  const eff = moveEffect(s, p0, 'n2', 0, finish);
  const ev = s.measure(eff);
  assert.ok(totalScore(ev.parts, cfg.weights) < 0, 'moving the hot partition lowers the score');
  assert.equal(ev.parts.gbMoved, 2);
  s.commitEffect(eff);
  // during the migration both nodes carry the overhead; afterwards the load has moved
  assert.equal(s.nodes.get('n1')!.load[0], 1200 + 50);
  assert.equal(s.nodes.get('n2')!.load[0], 100 + 50);
  assert.equal(s.nodes.get('n1')!.load[finish], 800);
  assert.equal(s.nodes.get('n2')!.load[finish], 500);
  assert.ok(s.parts.overload < before);
});

test('scenario: replicas share reads, writes land on every copy', () => {
  const { s, cfg } = scenario(twoNodes(), [fc('t/p3', flat(800))], { risk: 0, readFractionDefault: 0.75 });
  const p3 = s.partitions.get('p3')!;
  s.commitEffect(replicateEffect(s, p3, 'n1', 0, 1));
  // 600 reads / 2 + 200 writes on each copy
  assert.equal(s.nodes.get('n2')!.load[1], 500);
  assert.equal(s.nodes.get('n1')!.load[1], 500);
  void cfg;
});

test('scenario: cross-node co-access adds load to both nodes and co-location removes it', () => {
  const { s, cfg } = scenario(twoNodes({ coAccess: [{ a: 'p0', b: 'p3', weight: 100 }] }), [], { risk: 0, crossNodeCost: 0.5 });
  assert.equal(s.nodes.get('n1')!.load[0], 50);
  assert.equal(s.nodes.get('n2')!.load[0], 50);
  const eff = moveEffect(s, s.partitions.get('p3')!, 'n1', 0, 3);
  s.commitEffect(eff);
  assert.equal(s.nodes.get('n1')!.load[5], 0);
  assert.ok(s.parts.crossLoad < 100 * 0.5 * 2 * 30);
  void cfg;
});

test('storage cost counts every copy', () => {
  const { s } = scenario(twoNodes(), [], {});
  const before = s.parts.storageGbMinutes;
  s.commitEffect(replicateEffect(s, s.partitions.get('p0')!, 'n2', 0, 10));
  assert.equal(s.parts.storageGbMinutes - before, 2 * 20);
});
