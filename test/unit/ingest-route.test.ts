import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { QueryEvent, WorkloadAggregate } from '../../schemas/types.js';
import { IngestCore, decodeFailure, splitOutputs, type IngestInput, type IngestOutput } from '../../processors/ingest/processor.js';
import { commitPositions, resumeStateOf } from '../../processors/ingest/commitMetadata.js';
import { PartitionedIngest } from '../../processors/ingest/partitionedIngest.js';
import { QueryRouter, originKey, routeKey } from '../../processors/ingest/route.js';
import { initSqlParsers } from '../../processors/ingest/sql/index.js';
import { rng as seeded } from '../../lib/rng.js';
import { queryEvent } from '../fixtures/records.js';

const env = (partition: number, offset: number, value: IngestInput['value'], raw: Buffer | null = Buffer.from('bytes')): IngestInput => ({
  topic: 'q',
  partition,
  offset: String(offset),
  key: null,
  raw,
  value,
});

test('routeKey: a query goes by its source and node, what every series it counts in carries', () => {
  assert.equal(routeKey({ source: 'pg', node: null }), 'pg');
  assert.equal(routeKey({ source: 'pg', node: 'n1' }), 'pg|n1');
  assert.notEqual(routeKey({ source: 'pg', node: 'n1' }), routeKey({ source: 'pg', node: 'n2' }));
  assert.equal(originKey({ originTopic: 'q', originPartition: 2 }), 'q:2');
});

test('QueryRouter: valid events keyed in offset order with their bytes, bad ones as dead letters, then one mark per internal partition', () => {
  const router = new QueryRouter(3);
  const batch = [
    env(1, 10, queryEvent('a', 's', { ts: 1_000, node: 'n1' }), Buffer.from('a')),
    env(1, 11, decodeFailure('not Avro'), Buffer.from('junk')),
    env(1, 12, { ...queryEvent('b', 's', { ts: 3_000 }), durationMs: -1 }, Buffer.from('b')),
    env(1, 13, queryEvent('c', 't', { ts: 2_000 }), Buffer.from('c')),
  ];
  const r = router.route(batch, 99);
  assert.equal(r.routed, 2);
  assert.deepEqual(
    r.records.filter((x) => x.value.event !== null).map((x) => [x.key, x.value.originOffset, x.value.event!.toString()]),
    [
      ['s|n1', 10, 'a'],
      ['t', 13, 'c'],
    ],
  );
  const marks = r.records.filter((x) => x.value.event === null);
  assert.deepEqual(
    marks.map((m) => [m.partition, m.value.markTs, m.value.originPartition, m.value.originOffset]),
    [
      [0, 2_000, 1, 13],
      [1, 2_000, 1, 13],
      [2, 2_000, 1, 13],
    ],
    'the newest valid event time, to every internal partition',
  );
  assert.deepEqual(
    r.letters.map((l) => [l.stage, l.sourceOffset, l.value?.toString()]),
    [
      ['decode', '11', 'junk'],
      ['validate', '12', 'b'],
    ],
  );
  // an older batch does not move event time back; a batch of bad input alone still marks
  const older = router.route([env(1, 14, queryEvent('d', 's', { ts: 500 }))], 100);
  assert.ok(older.records.filter((x) => x.value.event === null).every((m) => m.value.markTs === 2_000));
  assert.equal(router.route([env(1, 15, decodeFailure('x'))], 101).records.length, 3);
  // a partition that never delivered a valid event has no event time to mark
  assert.equal(router.route([env(2, 0, decodeFailure('x'))], 102).records.length, 0);
});

/** A seeded workload from two source partitions, each in event-time order, over sources and nodes. */
function workload(): { partition: number; ev: QueryEvent }[] {
  const rng = seeded(3);
  const sqls = [
    (k: number) => `SELECT * FROM orders WHERE id = ${k}`,
    (k: number) => `UPDATE orders SET s = 1 WHERE id BETWEEN ${k} AND ${k + 300}`,
    (k: number) => `SELECT o.id FROM orders o JOIN users u ON o.uid = u.uid WHERE u.uid = ${k}`,
  ];
  return Array.from({ length: 3_000 }, (_, i) => ({
    partition: i % 2,
    ev: queryEvent(`e${i}`, `src${i % 5}`, {
      ts: 100_000 + i * 40 + Math.floor(rng() * 30),
      sql: sqls[i % 3]!(Math.floor(rng() * 1000)),
      node: i % 3 === 0 ? null : `n${i % 2}`,
      durationMs: 1 + Math.floor(rng() * 100),
    }),
  }));
}

test('routed by series over 4 internal partitions with marks, windows per partition equal one instance over everything', async () => {
  await initSqlParsers();
  const cfg = {
    featurize: { partitionKeys: { orders: { column: 'id', bounds: [500] }, users: { column: 'uid', bounds: [400] } } },
    windowMs: 10_000,
    allowedLatenessMs: 2_000,
  };
  const events = workload();
  const closers = [0, 1].map((p) => ({ partition: p, ev: queryEvent(`close${p}`, 'zz', { ts: 10_000_000 }) }));
  // source batches of 50 events, alternating partitions: the order both paths see
  const batches: IngestInput[][] = [];
  const offsets = [0, 0];
  for (const part of [events, closers]) {
    for (let i = 0; i < part.length; i += 100) {
      for (const p of [0, 1]) {
        const b = part
          .slice(i, i + 100)
          .filter((x) => x.partition === p)
          .map((x) => env(p, offsets[p]!++, x.ev));
        if (b.length > 0) batches.push(b);
      }
    }
  }
  const aggregatesOf = (outs: IngestOutput[]) => outs.flatMap((o) => (o.kind === 'out' ? [o.value] : []));
  const sorted = (xs: WorkloadAggregate[]) =>
    xs.filter((a) => a.source !== 'zz').sort((a, b) => a.windowStart - b.windowStart || a.seriesId.localeCompare(b.seriesId));

  const single = new IngestCore(cfg, () => 0);
  single.window.assign([
    { topic: 'q', partition: 0 },
    { topic: 'q', partition: 1 },
  ]);
  const one = sorted(batches.flatMap((b) => aggregatesOf(single.addBatch(b))));

  const K = 4;
  const router = new QueryRouter(K);
  const parts = new PartitionedIngest(cfg, () => 0);
  for (let p = 0; p < K; p++) parts.own(p, undefined, ['q:0', 'q:1']);
  const internalOffsets = new Array<number>(K).fill(0);
  const hash = (key: string) => [...key].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7) % K;
  const many: WorkloadAggregate[] = [];
  for (const b of batches) {
    const byPartition = new Map<number, IngestInput[]>();
    for (const r of router.route(b, 0).records) {
      const p = r.partition ?? hash(r.key!);
      const ev = b.find((x) => Number(x.offset) === r.value.originOffset)!.value;
      const value = r.value.event === null ? { mark: { origin: originKey(r.value), ts: r.value.markTs! } } : ev;
      byPartition.set(p, [...(byPartition.get(p) ?? []), env(p, internalOffsets[p]!++, value)]);
    }
    for (const [p, xs] of byPartition) many.push(...aggregatesOf(parts.addBatch(p, xs)!));
  }
  assert.ok(one.length > 100, `the workload makes many aggregates (${one.length})`);
  assert.deepEqual(sorted(many), one);
  // every query's series went to one partition: a series never closes on two
  assert.equal(new Set(many.map((a) => `${a.seriesId}@${a.windowStart}`)).size, many.length);
});

test('PartitionedIngest: a released partition forgets its open windows; an owned one resumes from its committed state', () => {
  const parts = new PartitionedIngest({ featurize: { partitionKeys: {} }, windowMs: 1_000 }, () => 0);
  parts.own(0, undefined, ['q:0']);
  parts.own(1, { closedThrough: 5_000, seenThrough: { 'q:1': 3 } }, ['q:0']);
  assert.deepEqual(parts.owned, [0, 1]);
  assert.deepEqual(
    parts.addBatch(0, [env(0, 0, queryEvent('a', 's', { ts: 100 }))])!.filter((o) => o.kind === 'out'),
    [],
  );
  parts.release(0);
  assert.equal(parts.owns(0), false);
  assert.equal(parts.addBatch(0, [env(0, 1, queryEvent('b', 's', { ts: 100 }))]), undefined);
  // at or below what was handled before, in a window closed before: already counted
  const outs = parts.addBatch(1, [env(1, 3, queryEvent('c', 's', { ts: 4_500 }))])!;
  assert.deepEqual(
    outs.filter((o) => o.kind !== 'progress'),
    [],
  );
});

test("PartitionedIngest: a window closed while a later one holds the partition's first offset is committed as closed, so the next owner does not emit it again", async () => {
  await initSqlParsers();
  const cfg = { featurize: { partitionKeys: {} }, windowMs: 1_000, allowedLatenessMs: 0 };
  // internal partition 0: offset 0 is an event of the second window (its source ran ahead),
  // offsets 1 and 2 belong to the first, then a mark from each source closes the first only
  const batch = [
    env(0, 0, queryEvent('late-window', 'b', { ts: 1_500 })),
    env(0, 1, queryEvent('x', 'a', { ts: 100 })),
    env(0, 2, queryEvent('y', 'a', { ts: 200 })),
    env(0, 3, { mark: { origin: 'q:0', ts: 1_200 } }),
    env(0, 4, { mark: { origin: 'q:1', ts: 1_600 } }),
  ];
  const first = new PartitionedIngest(cfg, () => 0);
  first.own(0, undefined, ['q:0', 'q:1']);
  const outs = first.addBatch(0, batch)!;
  const emitted = outs.flatMap((o) => (o.kind === 'out' ? [`${o.value.seriesId}@${o.value.windowStart}`] : []));
  assert.ok(emitted.length > 0 && emitted.every((k) => k.endsWith('@0')), `the first window closed (${emitted})`);
  const { progress } = splitOutputs(outs);
  const positions = progress ? commitPositions(progress) : [];
  assert.deepEqual(
    positions.map((p) => [p.partition, p.offset]),
    [[0, '-1']],
    'committed with its outputs: read again from offset 0 (the open window holds it)',
  );
  // the next owner takes the partition from that commit and reads it all again
  const next = new PartitionedIngest(cfg, () => 0);
  next.own(0, resumeStateOf(positions.map((p) => ({ ...p, metadata: p.metadata ?? null }))), ['q:0', 'q:1']);
  const again = next.addBatch(0, batch)!;
  assert.deepEqual(
    again.flatMap((o) => (o.kind === 'out' ? [`${o.value.seriesId}@${o.value.windowStart}`] : [])),
    [],
    'the first window is not emitted twice',
  );
});
