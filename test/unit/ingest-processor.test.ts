import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { queryEvent as buildQueryEvent } from '../../schemas/queryEvent.js';
import fc from 'fast-check';
import { from, lastValueFrom, map, mergeMap, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import type { QueryEvent } from '../../schemas/types.js';
import { ingestBatchProcessor } from '../../processors/ingest/operator.js';
import { decodeFailure, newIngestStats, type IngestInput, type IngestOutput } from '../../processors/ingest/processor.js';
import { initSqlParsers, TemplateCache } from '../../processors/ingest/sql/index.js';
import { validateQueryEventJson, parseQueryEventLine, validateMetricSample } from '../../processors/ingest/validate.js';

before(async () => {
  await initSqlParsers();
});

const featurize = { partitionKeys: { orders: { column: 'order_id', bounds: [100, 200] } } };

function qe(ts: number, sql: string | null, extra: Partial<QueryEvent> = {}): QueryEvent {
  return buildQueryEvent({
    eventId: `e${ts}`,
    ts,
    source: 'src',
    dialect: 'postgres',
    sql,
    durationMs: 2,
    rowsRead: 1,
    ...extra,
  });
}
let off = 0;
const env = (value: QueryEvent | ReturnType<typeof decodeFailure>, partition = 0): IngestInput => ({
  topic: 'shardcast.telemetry.queries',
  partition,
  offset: String(off++),
  key: Buffer.from('k'),
  raw: Buffer.from('raw'),
  value,
});

const show = (o: IngestOutput): string => {
  if (o.kind === 'out') return `agg ${o.value.seriesId}@${o.value.windowStart} q=${o.value.queries} u=${o.value.unparsed}`;
  if (o.kind === 'dlq') return `dlq ${o.letter.stage} ${o.letter.sourceOffset}`;
  if (o.kind === 'features') return `feat ${o.value.eventId}`;
  return `progress ${JSON.stringify(o.safeOffsets)}`;
};

test('marble: decode failures and invalid events go to the DLQ at once; the rest are windowed', () => {
  off = 0;
  const sched = new TestScheduler((a, b) => assert.deepEqual(a, b));
  sched.run(({ cold, expectObservable }) => {
    // one event per fetched batch; the operator answers each batch with one array of outputs
    const src = cold('a 9ms b 9ms c 9ms d 9ms |', {
      a: [env(qe(1000, 'SELECT * FROM orders WHERE order_id = 150'))],
      b: [env(decodeFailure('unknown magic byte'))],
      c: [env({ ...qe(2000, null), eventId: '' })],
      d: [env(qe(3000, 'SELEC garbage', { tables: ['orders'] }))],
    });
    const out = src.pipe(
      ingestBatchProcessor({ featurize, windowMs: 10_000, allowedLatenessMs: 0, scheduler: sched }),
      map((xs) => xs.map(show)),
    );
    expectObservable(out).toBe('n 9ms x 9ms y 9ms n 9ms (f|)', {
      n: [],
      x: ['dlq decode 1'],
      y: ['dlq validate 2'],
      f: [
        'agg src|*|*@0 q=2 u=1',
        'agg src|orders|*@0 q=1 u=1',
        'agg src|orders|k1@0 q=1 u=0',
        'progress {"shardcast.telemetry.queries:0":"3"}',
      ],
    });
  });
});

test('marble: idle source — the scheduler advances the watermark and closes windows', () => {
  off = 0;
  const sched = new TestScheduler((a, b) => assert.deepEqual(a, b));
  sched.run(({ cold, expectObservable }) => {
    const src = cold('a 29999ms |', { a: [env(qe(1000, 'SELECT * FROM orders'))] });
    const out = src.pipe(
      ingestBatchProcessor({ featurize, windowMs: 10_000, allowedLatenessMs: 0, idleFlushMs: 5000, scheduler: sched }),
      map((xs) => xs.map(show)),
    );
    // ticks at 5s (an event arrived: no advance), 10s (+5s: event time 6s), 15s (+5s: 11s closes [0,10s))
    expectObservable(out).toBe('n 14999ms x 14999ms (f|)', {
      n: [],
      x: ['agg src|*|*@0 q=1 u=0', 'agg src|orders|*@0 q=1 u=0', 'progress {"shardcast.telemetry.queries:0":"0"}'],
      // on completion: the final progress again, now with the resume state a restart reads
      f: ['progress {"shardcast.telemetry.queries:0":"0"}'],
    });
  });
});

test('partition assignments pass through the same stream as the batches and hold the watermark', () => {
  off = 0;
  const out: IngestOutput[] = [];
  from([
    {
      assigned: [
        { topic: 'shardcast.telemetry.queries', partition: 0 },
        { topic: 'shardcast.telemetry.queries', partition: 1 },
      ],
    },
    [env(qe(1000, 'SELECT * FROM orders'), 0), env(qe(30_000, 'SELECT * FROM orders'), 0)],
  ])
    .pipe(ingestBatchProcessor({ featurize, windowMs: 10_000, allowedLatenessMs: 0, flushOnComplete: false }))
    .subscribe((xs) => out.push(...xs));
  // partition 1 has delivered nothing, so its events may still be older: no window closes
  assert.equal(out.filter((o) => o.kind === 'out').length, 0);
});

test('dead letters carry the original bytes, position, stage and reason', async () => {
  off = 0;
  const out = (await lastValueFrom(from([[env(decodeFailure('bad avro'))]]).pipe(ingestBatchProcessor({ featurize }), toArray()))).flat();
  const d = out.find((o) => o.kind === 'dlq');
  assert.ok(d && d.kind === 'dlq');
  assert.equal(d.letter.reason, 'bad avro');
  assert.equal(d.letter.stage, 'decode');
  assert.equal(d.letter.sourceTopic, 'shardcast.telemetry.queries');
  assert.deepEqual(d.letter.value, Buffer.from('raw'));
  assert.equal(d.letter.pipeline, 'ingest');
});

test('options: features emitted, unparsed optionally dead-lettered (still counted)', async () => {
  off = 0;
  const out = (
    await lastValueFrom(
      from([[env(qe(5, 'SELEC x'))]]).pipe(ingestBatchProcessor({ featurize, emitFeatures: true, dlqUnparsed: true }), toArray()),
    )
  ).flat();
  assert.deepEqual(out.map(show).slice(0, 2), ['dlq featurize 0', 'feat e5']);
  assert.ok(out.some((o) => o.kind === 'out' && o.value.unparsed === 1));
  const feat = out.find((o) => o.kind === 'features');
  assert.ok(feat && feat.kind === 'features' && !('pointKeys' in feat.value));
});

test('property: N in = total-series queries + DLQ (decode, invalid, late); progress reaches the last offset', () => {
  const cache = new TemplateCache();
  const item = fc.record({
    kind: fc.constantFrom('ok', 'ok', 'ok', 'ok', 'garbage', 'invalid', 'badsql'),
    ts: fc.integer({ min: 0, max: 120_000 }),
    key: fc.integer({ min: 0, max: 300 }),
    partition: fc.integer({ min: 0, max: 2 }),
  });
  fc.assert(
    fc.property(
      fc.array(item, { maxLength: 300 }),
      fc.integer({ min: 0, max: 20_000 }),
      fc.integer({ min: 1, max: 40 }),
      (items, lateness, batchSize) => {
        off = 0;
        const inputs = items.map((it) => {
          if (it.kind === 'garbage') return env(decodeFailure('garbage'), it.partition);
          if (it.kind === 'invalid') return env({ ...qe(it.ts, null), source: '' }, it.partition);
          const sql = it.kind === 'badsql' ? 'SELECT FROM WHERE' : `SELECT * FROM orders WHERE order_id = ${it.key}`;
          return env(qe(it.ts, sql, { tables: ['orders'] }), it.partition);
        });
        // fetched batches of one to 40 events (a batch of one takes the single-event path)
        const batches: IngestInput[][] = [];
        for (let i = 0; i < inputs.length; i += batchSize) batches.push(inputs.slice(i, i + batchSize));
        const stats = newIngestStats();
        const out: IngestOutput[] = [];
        from(batches)
          .pipe(
            ingestBatchProcessor({ featurize, cache, windowMs: 10_000, allowedLatenessMs: lateness, stats }),
            mergeMap((xs) => xs),
          )
          .subscribe((o) => out.push(o));
        const total = out.reduce((s, o) => s + (o.kind === 'out' && o.value.table === null ? o.value.queries : 0), 0);
        const dlq = out.filter((o) => o.kind === 'dlq').length;
        assert.equal(total + dlq, items.length);
        assert.equal(dlq, stats.decodeFailed + stats.invalid + stats.late);
        assert.equal(stats.unparsed, items.filter((i) => i.kind === 'badsql').length);
        // per-table series count every parsed query on orders too
        const tableQ = out.reduce((s, o) => s + (o.kind === 'out' && o.value.table === 'orders' ? o.value.queries : 0), 0);
        assert.equal(tableQ, total);
        const last = [...out].reverse().find((o) => o.kind === 'progress');
        const parts = new Set(inputs.map((i) => i.partition));
        for (const p of parts) {
          const maxOff = Math.max(...inputs.filter((i) => i.partition === p).map((i) => Number(i.offset)));
          if (maxOff >= 0)
            assert.equal(
              last && last.kind === 'progress' ? last.safeOffsets[`shardcast.telemetry.queries:${p}`] : undefined,
              String(maxOff),
            );
        }
      },
    ),
    { numRuns: 100 },
  );
});

test('validateQueryEventJson fills defaults and rejects with a one-line reason', () => {
  const ok = validateQueryEventJson({ eventId: 'a', ts: '2024-01-01T00:00:00Z', source: 's', keyValues: { order_id: 5 } });
  assert.ok(ok.ok);
  assert.equal(ok.value.ts, Date.parse('2024-01-01T00:00:00Z'));
  assert.deepEqual(ok.value.tables, []);
  assert.equal(ok.value.dialect, 'generic');
  assert.equal(ok.value.status, 'ok');
  assert.deepEqual(ok.value.keyValues, { order_id: '5' });
  // every field left out takes the record builder's default: the same record as built in code
  const bare = validateQueryEventJson({ eventId: 'b', ts: 7, source: 's' });
  assert.ok(bare.ok);
  assert.deepEqual(bare.value, buildQueryEvent({ eventId: 'b', ts: 7, source: 's' }));
  const cases: [unknown, RegExp][] = [
    [{ ts: 1, source: 's' }, /^eventId: is required/],
    [{ eventId: 'a', source: 's' }, /^ts: is required/],
    [{ eventId: 'a', ts: 'yesterday', source: 's' }, /^ts: must be ms since epoch/],
    [{ eventId: 'a', ts: 1 }, /^source: /],
    [{ eventId: 'a', ts: 1, source: 's', tables: 'orders' }, /^tables: /],
    [{ eventId: 'a', ts: 1, source: 's', durationMs: -1 }, /^durationMs: must be >= 0/],
    [[1, 2], /^value: expected an object/],
  ];
  for (const [obj, re] of cases) {
    const r = validateQueryEventJson(obj);
    assert.ok(!r.ok);
    assert.match(r.reason, re);
    assert.ok(!r.reason.includes('\n'));
  }
  const bad = parseQueryEventLine('{not json');
  assert.ok(!bad.ok && bad.reason.startsWith('json: '));
  assert.ok(validateMetricSample({ ts: 1, source: 's', node: 'n', metric: 'cpu', value: 0.5, labels: {} }).ok);
  assert.ok(!validateMetricSample({ ts: 1, source: 's', node: 'n', metric: 'cpu', value: Number.NaN, labels: {} }).ok);
});

test('events the consumer fetches again in the same process (back to its committed offset) are counted once', async () => {
  const at = (o: number, ts: number): IngestInput => ({ ...env(qe(ts, 'SELECT * FROM orders')), offset: String(o) });
  const stats = newIngestStats();
  const outs = await lastValueFrom(
    from([
      [at(0, 1000), at(1, 2000), at(2, 3000)],
      // a broker restart: the committed offset is still -1 (the window is open), so 0..2 come again
      [at(0, 1000), at(1, 2000), at(2, 3000), at(3, 4000)],
    ]).pipe(
      ingestBatchProcessor({ featurize, windowMs: 10_000, allowedLatenessMs: 0, stats }),
      mergeMap((xs) => xs),
      toArray(),
    ),
  );
  const total = outs.find((o) => o.kind === 'out' && o.value.seriesId === 'src|*|*');
  assert.ok(total && total.kind === 'out');
  assert.equal(total.value.queries, 4);
  assert.equal(stats.redelivered, 3);
  assert.equal(stats.received, 7);
});
