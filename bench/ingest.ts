/**
 * `shardcast bench ingest`: events/s through Kafka for decode + featurize + aggregate (the
 * ingest pipeline, template-cached traffic), next to the raw ceiling (plain kafkajs consume +
 * Avro decode of the same topic, through the same consumer wrapper) in the same run, with the
 * peak RSS while ingest runs.
 *
 * Raw consumption is measured three ways per round: at the consumer's default fetch sizes, at
 * ingest's own (smaller, to bound memory), and at ingest's with the consumer on its own thread
 * as ingest runs it (topics/threadedConsumer.ts; the Avro decode stays on the main thread). The
 * ceiling is the fastest of the three medians, so neither the fetch size nor the thread flatters
 * the ratio.
 *
 * Every run is timed from its first fetch request (TopicSource.firstFetchAt), not from the first
 * message handed over: kafkajs decodes a whole fetch before handing any of it over, so timing
 * from the first message leaves most of a large first fetch out.
 *
 * All are measured in alternating rounds (ingest, raw, raw at ingest's fetch sizes, raw on a
 * thread, ingest, …, each a fresh consumer group over the same topic, a full GC before each) and
 * compared by their medians, because single runs vary too much for one pair's ratio to say
 * anything about the code (docs/decisions/0020-ingest-measurements.md has the figures).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { isRetriable, ShardcastError, UnavailableError } from '../lib/errors.js';
import { openContext } from '../pipelines/context.js';
import { fetchBytesOf, startIngest } from '../pipelines/ingest.js';
import { startScaledIngest } from '../pipelines/ingestScaleOut.js';
import { queryEvent } from '../schemas/queryEvent.js';
import type { QueryEvent } from '../schemas/types.js';
import { provisionTopics } from '../topics/admin.js';
import { TOPICS } from '../schemas/topics.js';
import { consumeTopics, DEFAULT_FETCH_BYTES, type FetchBytes } from '../topics/consumer.js';
import { consumeTopicsOnThread } from '../topics/threadedConsumer.js';
import { formatTable } from '../lib/table.js';

/** A full GC, so the figures show live memory rather than garbage V8 has not collected yet. */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

interface IngestRun {
  eventsPerSec: number;
  /** Highest RSS sampled while it ran, and the RSS at its end (before any forced GC). */
  peakRss: number;
  rssAtEnd: number;
  /** Heap in use after a full GC at its end (what it keeps, not what it has not collected yet). */
  liveHeap: number;
  aggregatesSent: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** One run of the ingest pipeline over the whole topic, from a fresh consumer group. */
async function ingestOnce(
  ctx: Awaited<ReturnType<typeof openContext>>,
  topic: string,
  n: number,
  partitionKeys: Record<string, { column: string; bounds: number[] }>,
  id: string,
): Promise<IngestRun> {
  collectGarbage();
  const deadline = Date.now() + 300_000;
  const ingest = await startIngest(ctx, { groupId: `bench-ingest-${id}`, topic, partitionKeys });
  let failed: unknown = null;
  ingest.done.catch((err: unknown) => {
    failed = err;
  });
  while (ingest.source.received === 0 && Date.now() < deadline && !failed) await sleep(5);
  // from the first fetch request: the first fetch's work counts (see TopicSource.firstFetchAt)
  const start = ingest.source.firstFetchAt ?? performance.now();
  let peakRss = process.memoryUsage.rss();
  while (ingest.ingest.received < n && Date.now() < deadline && !failed) {
    await sleep(10);
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }
  if (failed)
    throw new ShardcastError(`ingest pipeline failed during the benchmark: ${(failed as Error).message ?? String(failed)}`, {
      cause: failed,
      retriable: isRetriable(failed),
    });
  if (ingest.ingest.received < n) throw new UnavailableError(`ingest: only ${ingest.ingest.received} of ${n} events within 300 s`);
  const sec = (performance.now() - start) / 1000;
  const rssAtEnd = process.memoryUsage.rss();
  collectGarbage();
  const liveHeap = process.memoryUsage().heapUsed;
  await ingest.stop();
  return { eventsPerSec: ingest.ingest.received / sec, peakRss, rssAtEnd, liveHeap, aggregatesSent: ingest.sent() };
}

/**
 * One instance of the scaled-out layout (SHARDCAST_INGEST_SCALE_OUT=on: route, internal topic,
 * windows, transactions) alone over the whole topic: what one instance costs against the plain
 * path, timed from its first fetch until its windows took every event.
 */
async function scaledOnce(
  ctx: Awaited<ReturnType<typeof openContext>>,
  topic: string,
  n: number,
  partitionKeys: Record<string, { column: string; bounds: number[] }>,
  id: string,
  internalTopic: string,
): Promise<number> {
  collectGarbage();
  const deadline = Date.now() + 300_000;
  const ingest = await startScaledIngest(ctx, { groupId: `bench-scaled-${id}`, topic, partitionKeys, internalTopic });
  let failed: unknown = null;
  ingest.done.catch((err: unknown) => {
    failed = err;
  });
  while (ingest.source.received === 0 && Date.now() < deadline && !failed) await sleep(5);
  const start = ingest.source.firstFetchAt ?? performance.now();
  while (ingest.ingest.received < n && Date.now() < deadline && !failed) await sleep(10);
  const sec = (performance.now() - start) / 1000;
  await ingest.stop();
  if (failed) throw new ShardcastError(`scaled-out ingest failed during the benchmark: ${(failed as Error).message ?? String(failed)}`);
  if (ingest.ingest.received < n)
    throw new UnavailableError(`scaled-out ingest: only ${ingest.ingest.received} of ${n} events within 300 s`);
  return n / sec;
}

/**
 * One raw run: the same consumer wrapper, Avro decode only; default fetch sizes unless given;
 * with `thread`, the consumer on its own thread as ingest runs it (the decode stays here).
 */
async function rawOnce(
  ctx: Awaited<ReturnType<typeof openContext>>,
  topic: string,
  n: number,
  id: string,
  fetchBytes?: FetchBytes,
  thread = false,
): Promise<number> {
  collectGarbage();
  const consumeOpts = { groupId: `bench-raw-${id}`, topics: [topic], ...(fetchBytes ? { fetchBytes } : {}) };
  const raw = thread
    ? await consumeTopicsOnThread(ctx.cfg, { ...consumeOpts, clientId: 'shardcast-bench-raw' })
    : await consumeTopics(ctx.kafka, consumeOpts);
  let decoded = 0;
  let rawStart = 0;
  raw.batches$.subscribe((ms) => {
    if (decoded === 0) rawStart = raw.firstFetchAt ?? performance.now();
    for (const m of ms) ctx.serde.decodeSync(topic, m.value);
    decoded += ms.length;
  });
  const deadline = Date.now() + 300_000;
  while (decoded < n && Date.now() < deadline) await sleep(10);
  const sec = (performance.now() - rawStart) / 1000;
  await raw.stop();
  if (decoded < n) throw new UnavailableError(`raw ceiling: only ${decoded} of ${n} events consumed within 300 s`);
  return n / sec;
}

export async function runIngestBench(opts: { events?: number; rounds?: number; log?: (s: string) => void } = {}) {
  const n = opts.events ?? 1_000_000;
  // five rounds: with three, the median ratio still spread too widely between whole runs (0020)
  const rounds = opts.rounds ?? 5;
  const log = opts.log ?? (() => undefined);
  const runId = Date.now().toString(36);
  const ctx = await openContext('bench-ingest');
  const topic = { ...TOPICS.queries, name: `shardcast.bench.ingest.${runId}`, partitions: 3 };
  const internalTopics: string[] = [];
  try {
    await provisionTopics(ctx.kafka, [topic]);
    await ctx.serde.registerTopic(topic);
    log(`producing ${n} query events (8 templates, 1,000,000 key space)`);
    const t0 = 1_700_000_000_000;
    for (let i = 0; i < n; i += 10_000) {
      const batch: QueryEvent[] = [];
      for (let j = i; j < Math.min(n, i + 10_000); j++) {
        const key = (j * 7919) % 1_000_000;
        batch.push(
          queryEvent({
            eventId: `b${j}`,
            ts: t0 + Math.floor((j / n) * 600_000),
            source: `src${j % 4}`,
            dialect: 'postgres',
            database: 'bench',
            sql:
              j % 8 < 6
                ? `SELECT * FROM t${j % 8} WHERE id = ${key}`
                : `UPDATE t${j % 8} SET v = ${j} WHERE id BETWEEN ${key} AND ${key + 10}`,
            durationMs: (j % 50) / 10,
            rowsRead: 1,
            node: `node${j % 3}`,
          }),
        );
      }
      await ctx.producer.send(
        topic.name,
        batch.map((e) => ({ key: e.source, value: e })),
      );
    }
    const partitionKeys = Object.fromEntries(
      Array.from({ length: 8 }, (_, i) => [`t${i}`, { column: 'id', bounds: [250_000, 500_000, 750_000] }]),
    );

    const mem = () => {
      const m = process.memoryUsage();
      const before = m.heapUsed;
      collectGarbage();
      return `rss ${(m.rss / 2 ** 20).toFixed(0)} MiB, heap ${(before / 2 ** 20).toFixed(0)} MiB, live after GC ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB`;
    };
    log(`produced (${mem()})`);
    const ingestRuns: IngestRun[] = [];
    const rawRuns: number[] = [];
    const rawAtFetchRuns: number[] = [];
    const rawThreadRuns: number[] = [];
    const scaledRuns: number[] = [];
    const fetchKiB = ctx.cfg.ingestFetchKiB;
    const kibLabel = (f: FetchBytes) => `${f.perPartition}/${f.total} KiB`;
    const fetchLabel = kibLabel(fetchKiB);
    for (let round = 1; round <= rounds; round++) {
      log(`round ${round}/${rounds}: ingest (consume + decode + validate + featurize + windows + produce aggregates)`);
      const run = await ingestOnce(ctx, topic.name, n, partitionKeys, `${runId}-${round}`);
      ingestRuns.push(run);
      log(
        `  ${run.eventsPerSec.toFixed(0)} events/s, peak RSS ${(run.peakRss / 2 ** 20).toFixed(0)} MiB, live heap after GC ${(run.liveHeap / 2 ** 20).toFixed(0)} MiB`,
      );
      log(`round ${round}/${rounds}: raw ceiling (consume + Avro decode)`);
      const raw = await rawOnce(ctx, topic.name, n, `${runId}-${round}`);
      rawRuns.push(raw);
      log(`  ${raw.toFixed(0)} events/s`);
      log(`round ${round}/${rounds}: raw at ingest's fetch sizes (${fetchLabel})`);
      const rawAtFetch = await rawOnce(ctx, topic.name, n, `${runId}-${round}-f`, fetchBytesOf(fetchKiB));
      rawAtFetchRuns.push(rawAtFetch);
      log(`  ${rawAtFetch.toFixed(0)} events/s`);
      log(`round ${round}/${rounds}: raw with the consumer on its own thread, as ingest runs it (${fetchLabel})`);
      const rawThread = await rawOnce(ctx, topic.name, n, `${runId}-${round}-t`, fetchBytesOf(fetchKiB), true);
      rawThreadRuns.push(rawThread);
      log(`  ${rawThread.toFixed(0)} events/s`);
      log(`round ${round}/${rounds}: one instance of the scaled-out layout (route → internal topic → windows, in transactions)`);
      internalTopics.push(`shardcast.bench.internal.${runId}-${round}`);
      const scaled = await scaledOnce(ctx, topic.name, n, partitionKeys, `${runId}-${round}`, internalTopics.at(-1)!);
      scaledRuns.push(scaled);
      log(`  ${scaled.toFixed(0)} events/s`);
    }
    const scaledEps = median(scaledRuns);
    const ingestEps = median(ingestRuns.map((r) => r.eventsPerSec));
    const rawDefaultEps = median(rawRuns);
    const rawAtFetchEps = median(rawAtFetchRuns);
    const rawThreadEps = median(rawThreadRuns);
    // the ceiling is the fastest raw configuration, so no choice of fetch size or of thread flatters the ratio
    const rawEps = Math.max(rawDefaultEps, rawAtFetchEps, rawThreadEps);
    const peakRss = Math.max(...ingestRuns.map((r) => Math.max(r.peakRss, r.rssAtEnd)));
    const result = {
      events: n,
      rounds,
      rawEventsPerSec: rawEps,
      ingestEventsPerSec: ingestEps,
      ratio: rawEps > 0 ? ingestEps / rawEps : 0,
      ingestFetchKiB: fetchKiB,
      rawDefaultFetchEventsPerSec: rawDefaultEps,
      rawAtIngestFetchEventsPerSec: rawAtFetchEps,
      rawOnConsumerThreadEventsPerSec: rawThreadEps,
      ingestConsumerThread: ctx.cfg.ingestConsumerThread,
      scaledInstanceEventsPerSec: scaledEps,
      perRound: ingestRuns.map((r, i) => ({
        ingestEventsPerSec: r.eventsPerSec,
        rawEventsPerSec: rawRuns[i]!,
        rawAtIngestFetchEventsPerSec: rawAtFetchRuns[i]!,
        rawOnConsumerThreadEventsPerSec: rawThreadRuns[i]!,
        scaledInstanceEventsPerSec: scaledRuns[i]!,
        peakRssMiB: r.peakRss / 2 ** 20,
      })),
      aggregatesSent: ingestRuns[0]!.aggregatesSent,
      rssMiB: peakRss / 2 ** 20,
      rssAtEndMiB: Math.max(...ingestRuns.map((r) => r.rssAtEnd)) / 2 ** 20,
      liveHeapMiB: Math.max(...ingestRuns.map((r) => r.liveHeap)) / 2 ** 20,
      distinctKeys: Math.min(n, 1_000_000),
      targets: { eventsPerSec: 100_000, ratio: 0.5, rssMiB: 1024 },
    };
    const roundsTable = formatTable(
      result.perRound.map((r, i) => ({
        round: i + 1,
        'ingest ev/s': r.ingestEventsPerSec.toFixed(0),
        'raw default ev/s': r.rawEventsPerSec.toFixed(0),
        "raw at ingest's fetch ev/s": r.rawAtIngestFetchEventsPerSec.toFixed(0),
        'raw on a thread ev/s': r.rawOnConsumerThreadEventsPerSec.toFixed(0),
        'one scaled-out instance ev/s': r.scaledInstanceEventsPerSec.toFixed(0),
        'ingest peak RSS MiB': r.peakRssMiB.toFixed(0),
      })),
      { indent: '  ' },
    );
    const verdict = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
    const text = [
      `ingest ${ingestEps.toFixed(0)} events/s (consumer thread ${ctx.cfg.ingestConsumerThread}); raw consume + Avro decode of the same topic ${rawDefaultEps.toFixed(0)} events/s at the consumer's default fetch sizes (${kibLabel({ perPartition: DEFAULT_FETCH_BYTES.perPartition / 1024, total: DEFAULT_FETCH_BYTES.total / 1024 })}), ${rawAtFetchEps.toFixed(0)} at ingest's (${fetchLabel}, SHARDCAST_INGEST_FETCH_KIB) and ${rawThreadEps.toFixed(0)} at ingest's with the consumer on its own thread; medians of ${rounds} alternating rounds over the same ${n} events, each timed from its first fetch request:`,
      roundsTable,
      `ratio to the raw ceiling (the fastest raw median, ${rawEps.toFixed(0)}): ${result.ratio.toFixed(2)} (target ≥ 0.5, ${verdict(result.ratio >= 0.5)}); ≥ 100000 events/s ${verdict(ingestEps >= 100_000)}`,
      `one instance of the scaled-out layout (SHARDCAST_INGEST_SCALE_OUT=on) ${scaledEps.toFixed(0)} events/s, ${(ingestEps > 0 ? scaledEps / ingestEps : 0).toFixed(2)} of the plain path's; instances add up to the source's partitions (docs/decisions/0120-ingest-scale-out.md)`,
      `peak RSS ${result.rssMiB.toFixed(0)} MiB over the ingest runs (target < 1024, ${verdict(result.rssMiB < 1024)}; ${result.distinctKeys} distinct keys seen), live heap after GC at most ${result.liveHeapMiB.toFixed(0)} MiB; aggregates ${result.aggregatesSent}`,
    ].join('\n');
    return { ...result, text };
  } finally {
    const admin = ctx.kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic.name, ...internalTopics] }).catch(() => undefined);
    await admin.disconnect();
    await ctx.close();
  }
}
