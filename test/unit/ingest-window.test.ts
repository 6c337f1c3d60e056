import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Envelope } from '../../schemas/envelope.js';
import type { WindowInput } from '../../processors/ingest/openWindow.js';
import { WindowAggregator, type WindowOutput } from '../../processors/ingest/window.js';
import { SpaceSaving } from '../../processors/ingest/spaceSaving.js';
import { LatencySketch } from '../../processors/ingest/latencySketch.js';
import { LogCollapsingLowestDenseDDSketch } from '@datadog/sketches-js';
import fc from 'fast-check';

let offset = 0;
/** The window's input with an id, so late items can be named. */
type TestInput = WindowInput & { eventId: string };

function e(ts: number, extra: Partial<TestInput> = {}, partition = 0, off?: number): Envelope<TestInput> {
  return {
    topic: 'q',
    partition,
    offset: String(off ?? offset++),
    key: null,
    raw: null,
    value: {
      eventId: `e${ts}`,
      ts,
      source: 's',
      readWrite: 'read',
      tables: ['orders'],
      keyRanges: [],
      parseError: null,
      durationMs: 10,
      rowsRead: 1,
      rowsWritten: 0,
      status: 'ok',
      node: null,
      partition: null,
      txId: null,
      ...extra,
    },
  };
}

/** Compact text for marble comparisons. */
const show = (o: WindowOutput<TestInput>): string => {
  if (o.kind === 'aggregate') return `agg ${o.value.seriesId}@${o.value.windowStart} q=${o.value.queries} late=${o.value.lateMerged}`;
  if (o.kind === 'late') return `late ${o.envelope.value.eventId}`;
  return `progress ${JSON.stringify(o.safeOffsets)}`;
};

/** The outputs of one step, as text. */
const step = (xs: WindowOutput<TestInput>[]): string[] => xs.map(show);

test('a window closes when the watermark passes its end; flush on completion', () => {
  offset = 0;
  // lateness 5s: window [0,10s) closes when an event with ts >= 15s arrives
  const agg = new WindowAggregator<TestInput>({ windowMs: 10_000, allowedLatenessMs: 5_000 });
  assert.deepEqual(step(agg.add(e(1000))), []);
  assert.deepEqual(step(agg.add(e(9000))), []);
  assert.deepEqual(step(agg.add(e(15_000))), ['agg s|*|*@0 q=2 late=0', 'agg s|orders|*@0 q=2 late=0', 'progress {"q:0":"1"}']);
  assert.deepEqual(step(agg.flush()), ['agg s|*|*@10000 q=1 late=0', 'agg s|orders|*@10000 q=1 late=0', 'progress {"q:0":"2"}']);
});

test('flush emits open windows and the final progress', () => {
  offset = 0;
  const agg = new WindowAggregator<TestInput>({ windowMs: 10_000, allowedLatenessMs: 5_000 });
  assert.deepEqual(step(agg.add(e(1000))), []);
  assert.deepEqual(step(agg.add(e(12_000))), []);
  assert.deepEqual(step(agg.flush()), [
    'agg s|*|*@0 q=1 late=0',
    'agg s|orders|*@0 q=1 late=0',
    'agg s|*|*@10000 q=1 late=0',
    'agg s|orders|*@10000 q=1 late=0',
    'progress {"q:0":"1"}',
  ]);
});

test('within lateness merged (lateMerged), beyond it a late item, never dropped', () => {
  offset = 0;
  // lateness 3s. b at 12s: watermark 9s. c at 8s: behind the watermark, window [0,10) still
  // open -> merged (lateMerged). d at 16s closes [0,10). f at 3s: window closed -> late item.
  const agg = new WindowAggregator<TestInput>({ windowMs: 10_000, allowedLatenessMs: 3_000 });
  assert.deepEqual(step(agg.add(e(1000))), []);
  assert.deepEqual(step(agg.add(e(12_000))), []);
  assert.deepEqual(step(agg.add(e(8000))), []);
  assert.deepEqual(step(agg.add(e(16_000))), ['agg s|*|*@0 q=2 late=1', 'agg s|orders|*@0 q=2 late=1', 'progress {"q:0":"0"}']);
  assert.deepEqual(step(agg.add(e(3000))), ['late e3000']);
  assert.deepEqual(step(agg.flush()), ['agg s|*|*@10000 q=2 late=0', 'agg s|orders|*@10000 q=2 late=0', 'progress {"q:0":"4"}']);
});

test('progress: safe offset per partition is below the first offset an open window holds', () => {
  const agg = new WindowAggregator({ windowMs: 10_000, allowedLatenessMs: 0 });
  const out: WindowOutput[] = [];
  out.push(...agg.add(e(1000, {}, 0, 10)));
  out.push(...agg.add(e(1000, {}, 1, 50)));
  out.push(...agg.add(e(11_000, {}, 0, 11))); // p1 still at 1s: the watermark waits for it
  assert.equal(out.filter((o) => o.kind === 'aggregate').length, 0);
  out.push(...agg.add(e(12_000, {}, 1, 51))); // both past 10s: closes [0,10); p0 held from 11, p1 from 51
  const prog = out.filter((o) => o.kind === 'progress').pop();
  assert.deepEqual(prog, { kind: 'progress', safeOffsets: { 'q:0': '10', 'q:1': '50' } });
  out.push(...agg.markDone({ topic: 'q', partition: 2, offset: '7' }));
  assert.deepEqual(out.filter((o) => o.kind === 'progress').pop(), {
    kind: 'progress',
    safeOffsets: { 'q:0': '10', 'q:1': '50', 'q:2': '7' },
  });
  const fin = agg
    .flush()
    .filter((o) => o.kind === 'progress')
    .pop();
  assert.deepEqual(fin, {
    kind: 'progress',
    safeOffsets: { 'q:0': '11', 'q:1': '51', 'q:2': '7' },
    // the final progress is committed: it carries what a restart resumes from
    resume: { closedThrough: 20_000, seenThrough: { 'q:0': 11, 'q:1': 51, 'q:2': 7 } },
  });
});

test('per-partition watermark: a partition read far ahead does not make the other partition late', () => {
  const agg = new WindowAggregator({ windowMs: 10_000, allowedLatenessMs: 1000 });
  agg.assign([
    { topic: 'q', partition: 0 },
    { topic: 'q', partition: 1 },
  ]);
  const out: WindowOutput[] = [];
  for (let i = 0; i < 60; i++) out.push(...agg.add(e(i * 1000, {}, 0, i))); // p0 reaches 59s first
  for (let i = 0; i < 60; i++) out.push(...agg.add(e(i * 1000 + 500, {}, 1, i))); // then p1 from 0.5s
  assert.equal(out.filter((o) => o.kind === 'late').length, 0);
  const done = [...out, ...agg.flush()].filter((o) => o.kind === 'aggregate' && o.value.table === null);
  assert.equal(
    done.reduce((n, o) => n + (o.kind === 'aggregate' ? o.value.queries : 0), 0),
    120,
  );
});

test('per-partition watermark: a partition silent for partitionIdleMs stops holding it back', () => {
  let now = 0;
  const agg = new WindowAggregator({ windowMs: 10_000, allowedLatenessMs: 0, partitionIdleMs: 5000, now: () => now });
  agg.add(e(1000, {}, 1, 0)); // p1 delivers once, then goes quiet
  const out: WindowOutput[] = [];
  for (let i = 0; i < 30; i++) {
    now += 1000;
    out.push(...agg.add(e(i * 1000, {}, 0, i)));
  }
  // p1 idle after 5 s of processing time: p0 alone drives the watermark and windows close
  assert.ok(out.some((o) => o.kind === 'aggregate' && o.value.windowStart === 0));
  // p1 speaking again at an old event time is late for the closed window, and reported as such
  now += 1;
  const back = agg.add(e(2000, {}, 1, 1));
  assert.equal(back.filter((o) => o.kind === 'late').length, 1);
});

test('a window closed by an idle advance reports an event for it as late, with the time windows are closed through', () => {
  offset = 0;
  const agg = new WindowAggregator<TestInput>({ windowMs: 2000, allowedLatenessMs: 1000 });
  agg.add(e(1000));
  // the source went quiet: event time moves on 5 s, which closes [0, 2s) and [2s, 4s)
  const closed = agg.advance(5000);
  assert.ok(closed.some((o) => o.kind === 'aggregate' && o.value.windowStart === 0));
  const late = agg.add(e(2500)).filter((o) => o.kind === 'late');
  assert.equal(late.length, 1);
  const item = late[0] as Extract<WindowOutput<TestInput>, { kind: 'late' }>;
  assert.ok(item.closedThrough >= 4000, `closed through ${item.closedThrough}, the event's window ends at 4000`);
});

test('property: the watermark add reuses between events always equals one computed afresh', () => {
  const op = fc.oneof(
    {
      weight: 20,
      arbitrary: fc.record({
        kind: fc.constant('add' as const),
        part: fc.integer({ min: 0, max: 3 }),
        dts: fc.integer({ min: -4000, max: 6000 }),
        dnow: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 9000 })),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('assign' as const), parts: fc.subarray([0, 1, 2, 3]) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 20_000 }) }) },
  );
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 200 }), fc.boolean(), (ops, withClock) => {
      let now = 0;
      const agg = new WindowAggregator({
        windowMs: 10_000,
        allowedLatenessMs: 2000,
        partitionIdleMs: 5000,
        ...(withClock ? { now: () => now } : {}),
      });
      const newest = [0, 0, 0, 0];
      const off = [0, 0, 0, 0];
      for (const o of ops) {
        if (o.kind === 'assign') agg.assign(o.parts.map((partition) => ({ topic: 'q', partition })));
        else if (o.kind === 'advance') agg.advance(o.ms);
        else {
          now += o.dnow;
          newest[o.part] = Math.max(0, newest[o.part]! + o.dts);
          agg.add(e(newest[o.part]!, {}, o.part, off[o.part]!++));
          assert.equal(agg.lastWatermark, agg.watermark);
        }
      }
    }),
    { numRuns: 300 },
  );
});

test('idle source: advancing event time closes the windows it passes, with their progress', () => {
  offset = 0;
  const agg = new WindowAggregator<TestInput>({ windowMs: 10_000, allowedLatenessMs: 0 });
  assert.deepEqual(step(agg.advance(5000)), [], 'nothing to advance before the first event');
  assert.deepEqual(step(agg.add(e(1000))), []);
  assert.deepEqual(step(agg.advance(5000)), [], 'event time 6s: [0,10s) still open');
  const closing = agg.advance(5000);
  assert.deepEqual(step(closing), ['agg s|*|*@0 q=1 late=0', 'agg s|orders|*@0 q=1 late=0', 'progress {"q:0":"0"}']);
  const prog = closing.find((o) => o.kind === 'progress');
  assert.deepEqual(
    prog?.kind === 'progress' ? prog.resume : undefined,
    { closedThrough: 10_000, seenThrough: { 'q:0': 0 } },
    'committed with the windows it closed: the resume state rides along (without it the commit would clear it)',
  );
  assert.deepEqual(step(agg.advance(5000)), [], 'no open window left');
});

test('aggregates: counts, latency quantiles, hot keys, co-access, series per bucket/partition/node', () => {
  offset = 0;
  const evs = [
    e(100, {
      durationMs: 5,
      pointKeys: { orders: ['7'] },
      keyRanges: [{ table: 'orders', column: 'id', lo: 7, hi: 7, bucket: 'k0' }],
      node: 'n1',
      partition: 'p0',
    }),
    e(200, {
      durationMs: 15,
      pointKeys: { orders: ['7'] },
      keyRanges: [{ table: 'orders', column: 'id', lo: 7, hi: 7, bucket: 'k0' }],
      node: 'n1',
      partition: 'p0',
      status: 'error',
    }),
    e(300, { readWrite: 'write', rowsWritten: 3, tables: ['orders', 'customers'], txId: 'tx1', parseError: 'x' }),
    e(400, { tables: ['items'], txId: 'tx1' }),
  ];
  const agg = new WindowAggregator<TestInput>({ windowMs: 1000, allowedLatenessMs: 0 });
  const out = [...evs.flatMap((ev) => agg.add(ev)), ...agg.flush()];
  const aggs = new Map(out.filter((o) => o.kind === 'aggregate').map((o) => [o.value.seriesId, o.value]));
  const k0 = aggs.get('s|orders|k0|p0|n1')!;
  assert.equal(k0.queries, 2);
  assert.equal(k0.errors, 1);
  assert.equal(k0.latencySumMs, 20);
  assert.ok(Math.abs(k0.latencyP50Ms! - 5) <= 0.2, String(k0.latencyP50Ms));
  assert.ok(k0.latencyP99Ms! >= 4.9 && k0.latencyP99Ms! <= 15.2, String(k0.latencyP99Ms));
  assert.deepEqual(k0.hotKeys, [{ key: '7', count: 2, error: 0 }]);
  const total = aggs.get('s|*|*')!;
  assert.equal(total.queries, 2);
  assert.equal(total.writes, 1);
  assert.equal(total.unparsed, 1);
  assert.equal(aggs.get('s|*|*||n1')!.queries, 2);
  const ord = aggs.get('s|orders|*')!;
  assert.deepEqual(ord.coAccess.map((c) => c.other).sort(), ['customers|*', 'items|*']);
  assert.deepEqual(
    aggs
      .get('s|items|*')!
      .coAccess.map((c) => c.other)
      .sort(),
    ['customers|*', 'orders|*'],
  );
});

test('written keys: each series reports the smallest and largest numeric key its writes named, reads and placeholders aside', () => {
  offset = 0;
  const kr = (lo: number, bucket: string) => ({ table: 'orders', column: 'id', lo, hi: lo, bucket });
  const evs = [
    e(100, { readWrite: 'write', pointKeys: { orders: ['1205'] }, keyRanges: [kr(1205, 'k2')], node: null }),
    e(200, { readWrite: 'write', pointKeys: { orders: ['1201'] }, keyRanges: [kr(1201, 'k2')], node: null }),
    e(300, { readWrite: 'read', pointKeys: { orders: ['1500'] }, keyRanges: [kr(1500, 'k2')], node: null }),
    e(400, { readWrite: 'write', pointKeys: { orders: ['$1'] }, keyRanges: [kr(1300, 'k2')], node: null }),
    e(500, { readWrite: 'read', pointKeys: { orders: ['5'] }, keyRanges: [kr(5, 'k0')], node: null }),
    // a two-row insert spanning buckets: each key on its bucket's series
    e(600, {
      readWrite: 'write',
      pointKeys: { orders: ['7', '1210'] },
      keyRanges: [kr(7, 'k0'), kr(1210, 'k2')],
      node: null,
    }),
  ];
  const agg = new WindowAggregator<TestInput>({ windowMs: 1000, allowedLatenessMs: 0 });
  const out = [...evs.flatMap((ev) => agg.add(ev)), ...agg.flush()];
  const aggs = new Map(out.filter((o) => o.kind === 'aggregate').map((o) => [o.value.seriesId, o.value]));
  const keys = (id: string) => [aggs.get(id)!.writeKeyMin, aggs.get(id)!.writeKeyMax];
  assert.deepEqual(keys('s|orders|k2'), [1201, 1210]);
  assert.deepEqual(keys('s|orders|k0'), [7, 7]);
  assert.deepEqual(keys('s|*|*'), [null, null], 'the total series names no key');
});

test('memory bound: a million distinct keys and thousands of series stay capped; nothing lost', () => {
  const agg = new WindowAggregator({ windowMs: 1_000_000_000, allowedLatenessMs: 0, maxSeriesPerWindow: 100, hotKeysPerSeries: 8 });
  const N = 200_000;
  for (let i = 0; i < N; i++) {
    agg.add(e(i, { tables: [`t${i % 500}`], pointKeys: { [`t${i % 500}`]: [String(i)] }, node: null }, 0, i));
  }
  const out = agg
    .flush()
    .filter((o) => o.kind === 'aggregate')
    .map((o) => o.value);
  assert.ok(out.length <= 102, `${out.length} series`);
  assert.equal(
    out.filter((a) => a.table === null).reduce((s, a) => s + a.queries, 0),
    N,
  );
  assert.equal(
    out.filter((a) => a.table !== null).reduce((s, a) => s + a.queries, 0),
    N,
  );
  assert.ok(out.every((a) => a.hotKeys.length <= 8));
  assert.ok(out.some((a) => a.seriesId === '~other'));
});

test('space-saving: finds heavy hitters with bounded counters and honest error', () => {
  const s = new SpaceSaving(10);
  for (let i = 0; i < 10_000; i++) s.add(i % 5 === 0 ? 'hot' : `k${i}`);
  const top = s.top(1)[0]!;
  assert.equal(top.key, 'hot');
  assert.ok(top.count - top.error <= 2000 && 2000 <= top.count);
  assert.equal(s.size, 10);
});

test('property: space-saving top(k) is the k first counters of the full ranking (count desc, then key)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 300 }),
      fc.integer({ min: 0, max: 15 }),
      (cap, stream, k) => {
        const s = new SpaceSaving(cap);
        for (const x of stream) s.add(`k${x}`);
        const all = s.top(cap);
        const ranked = [...all].sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
        assert.deepEqual(all, ranked);
        assert.equal(all.length, Math.min(cap, new Set(stream).size));
        assert.deepEqual(s.top(k), ranked.slice(0, k));
      },
    ),
    { numRuns: 300 },
  );
});

test('resume: a restarted aggregator neither repeats closed windows nor re-reports, and rebuilds open ones', () => {
  const first = new WindowAggregator({ windowMs: 10_000, allowedLatenessMs: 0 });
  const out1: WindowOutput[] = [];
  out1.push(...first.add(e(1000, {}, 0, 0)));
  out1.push(...first.add(e(12_000, {}, 0, 1))); // closes [0,10)
  out1.push(...first.add(e(500, {}, 0, 2))); // late: reported once
  out1.push(...first.add(e(13_000, {}, 0, 3))); // open window [10,20)
  const prog = first.progressNow(true).pop();
  assert.ok(prog && prog.kind === 'progress' && prog.resume);
  assert.deepEqual(prog.safeOffsets, { 'q:0': '0' }); // offset 1 starts the open window
  assert.deepEqual(prog.resume, { closedThrough: 10_000, seenThrough: { 'q:0': 3 } });
  assert.equal(out1.filter((o) => o.kind === 'late').length, 1);

  // restart: re-read from offset 1 (safe 0 + 1) with the committed resume state
  const second = new WindowAggregator({ windowMs: 10_000, allowedLatenessMs: 0 });
  second.resume(prog.resume);
  const out2: WindowOutput[] = [];
  for (const [ts, off] of [
    [12_000, 1],
    [500, 2],
    [13_000, 3],
    [15_000, 4],
  ] as const)
    out2.push(...second.add(e(ts, {}, 0, off)));
  out2.push(...second.flush());
  assert.equal(out2.filter((o) => o.kind === 'late').length, 0, 'the late event is not reported again');
  assert.equal(second.counters.replaySkipped, 1);
  const totals = out2
    .filter((o) => o.kind === 'aggregate' && o.value.table === null)
    .map((o) => o.kind === 'aggregate' && [o.value.windowStart, o.value.queries]);
  assert.deepEqual(totals, [[10_000, 3]], 'window [10,20) rebuilt whole: offsets 1, 3 and 4');
  // a new event for the closed window after the replayed range is late as usual
  const third = new WindowAggregator({ windowMs: 10_000, allowedLatenessMs: 0 });
  third.resume(prog.resume);
  assert.equal(third.add(e(2000, {}, 0, 9)).filter((o) => o.kind === 'late').length, 1);
});

test('latency sketch: batched, minimum-first feeding gives the quantiles of the plain DDSketch fed in arrival order', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.constant(0), fc.double({ min: 0, max: 60_000, noNaN: true })), { maxLength: 300 }), (xs) => {
      const batched = new LatencySketch(0.01, 1024);
      const plain = new LogCollapsingLowestDenseDDSketch({ relativeAccuracy: 0.01, binLimit: 1024 });
      for (const x of xs) {
        batched.add(x);
        plain.accept(x);
      }
      assert.equal(batched.count, xs.length);
      for (const q of [0, 0.5, 0.95, 0.99, 1]) {
        assert.equal(batched.quantile(q), xs.length === 0 ? null : plain.getValueAtQuantile(q));
      }
    }),
    { numRuns: 300 },
  );
});
