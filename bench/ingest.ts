/**
 * `shardcast bench ingest`: events/s through Kafka for decode + featurize + aggregate (the
 * ingest pipeline, template-cached traffic), next to the raw ceiling (plain kafkajs consume +
 * Avro decode of the same topic) measured after it in the same run, with the RSS peak while
 * ingest runs and at its end (ingest goes first so that its memory is its own).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { openContext } from '../pipelines/context.js';
import { startIngest } from '../pipelines/ingest.js';
import type { QueryEvent } from '../schemas/types.js';
import { provisionTopics } from '../topics/admin.js';
import { TOPICS } from '../topics/catalog.js';
import { consumeTopics } from '../topics/consumer.js';

/** A full GC, so the figures show live memory rather than garbage V8 has not collected yet. */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

export async function runIngestBench(opts: { events?: number; log?: (s: string) => void } = {}) {
  const n = opts.events ?? 1_000_000;
  const log = opts.log ?? (() => undefined);
  const runId = Date.now().toString(36);
  const ctx = await openContext('bench-ingest');
  const topic = { ...TOPICS.queries, name: `shardcast.bench.ingest.${runId}`, partitions: 3 };
  try {
    await provisionTopics(ctx.kafka, [topic]);
    await ctx.serde.registerTopic(topic);
    log(`producing ${n} query events (8 templates, 1,000,000 key space)`);
    const t0 = 1_700_000_000_000;
    for (let i = 0; i < n; i += 10_000) {
      const batch: QueryEvent[] = [];
      for (let j = i; j < Math.min(n, i + 10_000); j++) {
        const key = (j * 7919) % 1_000_000;
        batch.push({
          eventId: `b${j}`, ts: t0 + Math.floor((j / n) * 600_000), source: `src${j % 4}`, dialect: 'postgres', database: 'bench',
          sql: j % 8 < 6 ? `SELECT * FROM t${j % 8} WHERE id = ${key}` : `UPDATE t${j % 8} SET v = ${j} WHERE id BETWEEN ${key} AND ${key + 10}`,
          fingerprint: null, tables: [], operation: null, durationMs: (j % 50) / 10, rowsRead: 1, rowsWritten: 0, node: `node${j % 3}`,
          partition: null, keyValues: {}, client: null, status: 'ok', txId: null,
        });
      }
      await ctx.producer.send(topic.name, batch.map((e) => ({ key: e.source, value: e })));
    }
    const partitionKeys = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`t${i}`, { column: 'id', bounds: [250_000, 500_000, 750_000] }]));

    const mem = () => {
      const m = process.memoryUsage();
      const before = m.heapUsed;
      collectGarbage();
      return `rss ${(m.rss / 2 ** 20).toFixed(0)} MiB, heap ${(before / 2 ** 20).toFixed(0)} MiB, live after GC ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB`;
    };
    log(`produced (${mem()})`);
    log('ingest: consume + decode + validate + featurize + windows + produce aggregates');
    const deadline = Date.now() + 300_000;
    const ingest = await startIngest(ctx, { groupId: `bench-ingest-${runId}`, topic: topic.name, partitionKeys });
    let failed: unknown = null;
    ingest.done.catch((err: unknown) => { failed = err; });
    while (ingest.source.received === 0 && Date.now() < deadline && !failed) await sleep(5);
    const start = performance.now();
    // Peak RSS while ingest runs (sampled with the progress check): the figure the memory target is about.
    let peakRss = process.memoryUsage.rss();
    while (ingest.ingest.received < n && Date.now() < deadline && !failed) {
      await sleep(10);
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
    }
    if (failed) throw new Error(`ingest pipeline failed during the benchmark: ${(failed as Error).message ?? String(failed)}`);
    const ingestSec = (performance.now() - start) / 1000;
    const rssAtEnd = process.memoryUsage.rss(); // before the forced GC in mem()
    log(`ingest done (${mem()})`);
    const liveHeap = process.memoryUsage().heapUsed; // right after the full GC in mem()
    await ingest.stop();
    log('raw ceiling: consume + Avro decode');
    const raw = await consumeTopics(ctx.kafka, { groupId: `bench-raw-${runId}`, topics: [topic.name] });
    let decoded = 0;
    let rawStart = 0;
    raw.batches$.subscribe((ms) => {
      if (decoded === 0) rawStart = performance.now();
      for (const m of ms) ctx.serde.decodeSync(topic.name, m.value);
      decoded += ms.length;
    });
    const rawDeadline = Date.now() + 300_000;
    while (decoded < n && Date.now() < rawDeadline) await sleep(10);
    const rawSec = (performance.now() - rawStart) / 1000;
    await raw.stop();
    if (decoded < n) throw new Error(`raw ceiling: only ${decoded} of ${n} events consumed within 300 s`);
    log(`raw ceiling done (${mem()})`);
    const result = {
      events: n,
      rawEventsPerSec: n / rawSec,
      ingestEventsPerSec: ingest.ingest.received / ingestSec,
      ratio: n / rawSec > 0 ? (ingest.ingest.received / ingestSec) / (n / rawSec) : 0,
      aggregatesSent: ingest.sent(),
      rssMiB: Math.max(peakRss, rssAtEnd) / 2 ** 20,
      rssAtEndMiB: rssAtEnd / 2 ** 20,
      liveHeapMiB: liveHeap / 2 ** 20,
      distinctKeys: Math.min(n, 1_000_000),
      targets: { eventsPerSec: 100_000, ratio: 0.5, rssMiB: 1024 },
    };
    const text = `ingest ${result.ingestEventsPerSec.toFixed(0)} events/s vs raw ceiling ${result.rawEventsPerSec.toFixed(0)} events/s (same ${n} events, same run): ratio ${result.ratio.toFixed(2)} (target ≥ 0.5), target ≥ 100000 events/s ${result.ingestEventsPerSec >= 100_000 ? 'PASS' : 'FAIL'}; peak RSS ${result.rssMiB.toFixed(0)} MiB, ${result.rssAtEndMiB.toFixed(0)} MiB at the end (target < 1024, ${result.distinctKeys} distinct keys seen, measured before the raw ceiling's run), live heap ${result.liveHeapMiB.toFixed(0)} MiB; aggregates ${result.aggregatesSent}`;
    return { ...result, text };
  } finally {
    const admin = ctx.kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic.name] }).catch(() => undefined);
    await admin.disconnect();
    await ctx.close();
  }
}
