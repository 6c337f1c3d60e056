/**
 * Ingest, counted exactly, through the real stack: 100,000 events with a known distribution
 * (1% garbage bytes, 1% invalid SQL, 1% late, 1% slightly out of order) go through the ingest
 * pipeline, which is stopped and restarted halfway. The aggregates in Kafka must equal what this
 * test computes on its own from the events it sent, window by window and series by series; the
 * dead letters must be exactly the garbage, the invalid SQL and the late events; nothing is
 * missing and nothing is counted twice. The pipeline's Prometheus endpoint reports the same.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { openContext } from '../../pipelines/context.js';
import { startIngest } from '../../pipelines/ingest.js';
import { startMetricsServer } from '../../pipelines/metrics.js';
import type { DeadLetter, QueryEvent, WorkloadAggregate } from '../../schemas/types.js';
import { provisionTopics } from '../../topics/admin.js';
import { TOPICS } from '../../schemas/topics.js';
import { consumeTopics } from '../../topics/consumer.js';
import { rng as seeded } from '../../lib/rng.js';
import { cfg, eventually, uniq } from './helpers.js';

const N = 100_000;
const PARTITIONS = 3;
const WINDOW = 10_000;
// event time a few hours back, on a window boundary (realistic: consumers of the shared aggregates topic see no future)
const T0 = Math.floor((Date.now() - 3 * 3_600_000) / 10_000) * 10_000;
const SPAN = 200_000; // event time covered by the normal events
const id = uniq('exact').replace(/[^a-z0-9]/g, '_');
const topicName = `shardcast.test.queries.${id}`;
const sources = Array.from({ length: 6 }, (_, i) => `exact_${id}_s${i}`);
const partitionKeys = { orders: { column: 'id', bounds: [250, 500, 750] }, users: { column: 'uid', bounds: [1000] } };

type Kind = 'normal' | 'garbage' | 'invalid' | 'late' | 'ooo';
interface Planned {
  kind: Kind;
  source: string;
  partition: number;
  ev?: QueryEvent;
  touches: string[];
  rw: 'read' | 'write';
}

const bucketOf = (bounds: number[], v: number) => `k${bounds.filter((b) => b <= v).length}`;

/** The workload, with the series each event must count in, derived here from what was generated. */
function plan(): Planned[] {
  const rng = seeded(42);
  const out: Planned[] = [];
  for (let i = 0; i < N; i++) {
    const s = i % sources.length;
    const source = sources[s]!;
    const partition = s % PARTITIONS;
    const r = rng();
    const kind: Kind = r < 0.01 ? 'garbage' : r < 0.02 ? 'invalid' : r < 0.03 && i >= N / 2 ? 'late' : r < 0.04 ? 'ooo' : 'normal';
    if (kind === 'garbage') {
      out.push({ kind, source, partition, touches: [], rw: 'read' });
      continue;
    }
    let ts = T0 + Math.floor((i * SPAN) / N);
    if (kind === 'late') ts = T0 - 3_600_000 + (i % 1000); // an hour behind: its window closed long ago
    if (kind === 'ooo') ts -= 2_000; // behind its neighbours but within the allowed lateness
    const key = Math.floor(rng() * 2000);
    const shape = Math.floor(rng() * 4);
    let sql: string;
    let touches: string[];
    let rw: 'read' | 'write';
    if (kind === 'invalid') {
      sql = `SELEC id FROM orders WHERE id = ${key}`;
      touches = ['orders|*']; // unparsed: counted on the tables the producer named
      rw = 'read'; // an unknown statement counts as a read
    } else if (shape === 0) {
      sql = `SELECT * FROM orders WHERE id = ${key % 1000}`;
      touches = [`orders|${bucketOf(partitionKeys.orders.bounds, key % 1000)}`];
      rw = 'read';
    } else if (shape === 1) {
      const lo = key % 1000;
      const hi = Math.min(999, lo + 30);
      sql = `UPDATE orders SET status = 'x' WHERE id BETWEEN ${lo} AND ${hi}`;
      touches = [...new Set([bucketOf(partitionKeys.orders.bounds, lo), bucketOf(partitionKeys.orders.bounds, hi)])].map(
        (b) => `orders|${b}`,
      );
      rw = 'write';
    } else if (shape === 2) {
      sql = `SELECT o.id, u.name FROM orders o JOIN users u ON o.uid = u.uid WHERE u.uid = ${key}`;
      touches = ['orders|*', `users|${bucketOf(partitionKeys.users.bounds, key)}`];
      rw = 'read';
    } else {
      sql = `INSERT INTO logs (msg) VALUES ('event ${i}')`;
      touches = ['logs|*'];
      rw = 'write';
    }
    const ev: QueryEvent = {
      eventId: `${id}-${i}`,
      ts,
      source,
      dialect: 'postgres',
      database: 'shop',
      sql,
      fingerprint: null,
      tables: kind === 'invalid' ? ['orders'] : [],
      operation: null,
      durationMs: (i % 20) + 0.5,
      rowsRead: shape === 3 ? 0 : 1 + (i % 3),
      rowsWritten: rw === 'write' ? 1 : 0,
      node: null,
      partition: null,
      keyValues: {},
      client: null,
      status: i % 50 === 0 ? 'error' : 'ok',
      txId: null,
    };
    out.push({ kind, source, partition, ev, touches, rw });
  }
  return out;
}

interface Counts {
  queries: number;
  reads: number;
  writes: number;
  rowsRead: number;
  rowsWritten: number;
  errors: number;
  unparsed: number;
}
const zero = (): Counts => ({ queries: 0, reads: 0, writes: 0, rowsRead: 0, rowsWritten: 0, errors: 0, unparsed: 0 });

function expected(events: Planned[]): Map<string, Counts> {
  const m = new Map<string, Counts>();
  const bump = (k: string, p: Planned) => {
    const c = m.get(k) ?? zero();
    const ev = p.ev!;
    c.queries++;
    if (p.rw === 'read') c.reads++;
    else c.writes++;
    c.rowsRead += ev.rowsRead;
    c.rowsWritten += ev.rowsWritten;
    if (ev.status !== 'ok') c.errors++;
    if (p.kind === 'invalid') c.unparsed++;
    m.set(k, c);
  };
  for (const p of events) {
    if (p.kind === 'garbage' || p.kind === 'late') continue;
    const w = Math.floor(p.ev!.ts / WINDOW) * WINDOW;
    bump(`${p.source}|*|*@${w}`, p);
    for (const t of p.touches) bump(`${p.source}|${t}@${w}`, p);
  }
  return m;
}

test('100,000 events: aggregates equal independent exact counts, DLQ = garbage + invalid + late, across a restart', {
  timeout: 600_000,
}, async () => {
  const events = plan();
  const ctx = await openContext('ingest-exact-test', { ...cfg, partitionKeys });
  const topic = { ...TOPICS.queries, name: topicName, partitions: PARTITIONS };
  await provisionTopics(ctx.kafka, [topic]);
  await ctx.serde.registerTopic(topic);
  const group = `ingest-exact-${id}`;
  const ingestOpts = { groupId: group, topic: topicName, windowMs: WINDOW, allowedLatenessMs: 5_000, partitionIdleMs: 600_000 };

  // Readers of the outputs, subscribed before anything is produced; filtered to this run.
  const aggs: WorkloadAggregate[] = [];
  const letters: DeadLetter[] = [];
  const aggReader = await consumeTopics(ctx.kafka, {
    groupId: `${group}-aggs`,
    topics: [TOPICS.aggregates.name, TOPICS.dlq.name],
    fromBeginning: true,
  });
  aggReader.batches$.subscribe(async (ms) => {
    for (const m of ms) {
      if (m.topic === TOPICS.aggregates.name) {
        if (!m.key?.toString().startsWith(`exact_${id}_`)) continue;
        aggs.push(await ctx.serde.decode<WorkloadAggregate>(m.topic, m.value));
      } else {
        const l = await ctx.serde.decode<DeadLetter>(m.topic, m.value);
        if (l.sourceTopic === topicName) letters.push(l);
      }
    }
  });

  const sendFast = async (from: number, to: number) => {
    // consecutive runs of the same kind go in one request, order kept
    let run: Planned[] = [];
    const flush = async () => {
      if (run.length === 0) return;
      if (run[0]!.kind === 'garbage')
        await ctx.producer.sendRaw(
          topicName,
          run.map((p) => ({ key: p.source, value: Buffer.from(`garbage ${p.source} not avro`), partition: p.partition })),
        );
      else
        await ctx.producer.send(
          topicName,
          run.map((p) => ({ key: p.source, value: p.ev!, partition: p.partition })),
        );
      run = [];
    };
    for (let i = from; i < to; i++) {
      const p = events[i]!;
      if (run.length > 0 && (run[0]!.kind === 'garbage') !== (p.kind === 'garbage')) await flush();
      run.push(p);
      if (run.length >= 5000) await flush();
    }
    await flush();
  };

  const metricsStages: { pipeline: string; stage: Awaited<ReturnType<typeof startIngest>> }[] = [];
  const metrics = await startMetricsServer(ctx.kafka, () => metricsStages, { port: 0, lagCacheMs: 0 });
  let ingest: Awaited<ReturnType<typeof startIngest>> | undefined;
  try {
    // Phase 1: the first half, then a graceful stop with windows still open. The consumer runs
    // on its own thread here and on the main thread after the restart: both paths are counted
    // exactly, and either resumes from what the other committed.
    ingest = await startIngest(ctx, { ...ingestOpts, consumerThread: true });
    metricsStages.push({ pipeline: 'ingest', stage: ingest });
    await sendFast(0, N / 2);
    const first = ingest;
    await eventually(async () => (first.ingest.received >= N / 2 ? true : undefined), 240_000, 'phase 1 consumed');
    const firstRun = { ...ingest.ingest };
    await ingest.stop();
    const firstLetters = ingest.stats.deadLettered;
    assert.equal(firstRun.received, N / 2, 'the first run saw exactly the first half');

    // Phase 2: a new instance of the same group resumes from the committed offsets.
    ingest = await startIngest(ctx, { ...ingestOpts, consumerThread: false });
    metricsStages[0] = { pipeline: 'ingest', stage: ingest };
    await sendFast(N / 2, N);
    // One closing event per partition, far ahead, closes every window of the workload.
    const closers = Array.from({ length: PARTITIONS }, (_, p) => ({
      key: `closer-${p}`,
      partition: p,
      value: { ...events.find((x) => x.ev)!.ev!, eventId: `${id}-closer-${p}`, source: `closer_${id}`, ts: T0 + SPAN + 60_000 },
    }));
    await ctx.producer.send(topicName, closers);

    const want = expected(events);
    const late = events.filter((p) => p.kind === 'late').length;
    const garbage = events.filter((p) => p.kind === 'garbage').length;
    const invalid = events.filter((p) => p.kind === 'invalid').length;
    assert.ok(late > 100 && garbage > 100 && invalid > 100, 'the distribution has every kind');
    await eventually(
      async () => {
        const got = new Set(aggs.map((a) => `${a.seriesId}@${a.windowStart}`));
        return [...want.keys()].every((k) => got.has(k)) && letters.length >= garbage + invalid + late ? true : undefined;
      },
      300_000,
      'every expected aggregate and dead letter',
    );
    await sleep(2000); // anything extra (a duplicate) would have arrived by now

    // Aggregates: exactly one per (series, window), equal to the independent counts.
    const byKey = new Map<string, WorkloadAggregate[]>();
    for (const a of aggs) {
      const k = `${a.seriesId}@${a.windowStart}`;
      byKey.set(k, [...(byKey.get(k) ?? []), a]);
    }
    const dups = [...byKey.entries()].filter(([, v]) => v.length > 1).map(([k]) => k);
    assert.deepEqual(dups, [], 'no (series, window) emitted twice across the restart');
    assert.deepEqual([...byKey.keys()].sort(), [...want.keys()].sort(), 'the same set of series × windows');
    for (const [k, c] of want) {
      const a = byKey.get(k)![0]!;
      assert.deepEqual(
        {
          queries: a.queries,
          reads: a.reads,
          writes: a.writes,
          rowsRead: a.rowsRead,
          rowsWritten: a.rowsWritten,
          errors: a.errors,
          unparsed: a.unparsed,
        },
        c,
        `counts of ${k}`,
      );
    }
    const totalQueries = [...byKey.values()].filter((v) => v[0]!.table === null).reduce((n, v) => n + v[0]!.queries, 0);
    assert.equal(totalQueries, N - garbage - late, 'every event that is not garbage or late is counted once');

    // Dead letters: exactly the bad events, each once, by stage, with the original bytes.
    const byStage = (st: string) => letters.filter((l) => l.stage === st);
    assert.equal(byStage('decode').length, garbage);
    assert.equal(byStage('featurize').length, invalid);
    assert.equal(byStage('window').length, late);
    assert.equal(letters.length, garbage + invalid + late);
    assert.equal(new Set(letters.map((l) => `${l.sourcePartition}:${l.sourceOffset}`)).size, letters.length, 'no dead letter twice');
    assert.ok(byStage('decode').every((l) => l.value?.toString().startsWith('garbage ')));

    // The metrics endpoint of the second run tells the same story.
    const text = await (await fetch(metrics.url)).text();
    const metric = (re: RegExp) => Number(text.match(re)?.[1] ?? NaN);
    const received = metric(/^shardcast_ingest_events_total\{outcome="received"\} (\d+)/m);
    const replayed = metric(/^shardcast_ingest_events_total\{outcome="replayed"\} (\d+)/m);
    assert.ok(received > N / 2 + PARTITIONS, `the second run re-read the open windows' events: received ${received}`);
    assert.ok(replayed > 0, 'and skipped or did not re-report what the first run had accounted for');
    assert.equal(
      metric(/^shardcast_pipeline_dead_lettered_total\{pipeline="ingest"\} (\d+)/m) + firstLetters,
      letters.length,
      'dead letters sent, by the two runs together',
    );
    assert.match(text, /^shardcast_consumer_lag\{pipeline="ingest",topic="shardcast\.test\.queries\.[^"]+",partition="0"\} \d+/m);
    assert.match(text, /^shardcast_pipeline_dead_lettered_total\{pipeline="ingest"\} \d+/m);
  } finally {
    // also on failure: a consumer left in its group would keep the test process alive
    await ingest?.stop().catch(() => undefined);
    await metrics.close();
    await aggReader.stop();
    const admin = ctx.kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topicName] }).catch(() => undefined);
    await admin.disconnect();
    await ctx.close();
  }
});
