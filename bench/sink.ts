/**
 * `shardcast bench sink`: rows/s from Kafka into ClickHouse through the sink pipeline (consume,
 * Avro decode, map, batched insert, commit), next to a bulk insert of the same rows from memory
 * in the same run. Target: the sink reaches at least 0.7 of the bulk rate. Both insert in chunks
 * of CHUNK rows (the sink's batch size), so the comparison is the pipeline's cost (consume,
 * decode, map, commit; two batches in flight), not the chunking.
 */
import { setTimeout as sleep } from 'node:timers/promises';

const CHUNK = 50_000;
import { aggregateRow } from '../analytics/rows.js';
import { createClickHouse, ensureAnalyticsSchema, insertRows, queryRows } from '../analytics/clickhouse.js';
import { openContext } from '../pipelines/context.js';
import { startSink } from '../pipelines/sink.js';
import type { WorkloadAggregate } from '../schemas/types.js';
import { provisionTopics } from '../topics/admin.js';
import { TOPICS } from '../schemas/topics.js';

export interface SinkBenchReport {
  rows: number;
  bulkRowsPerSec: number;
  sinkRowsPerSec: number;
  ratio: number;
  target: number;
  pass: boolean;
  rowsInClickHouse: number;
}

function syntheticAggregates(n: number, runId: string): WorkloadAggregate[] {
  return Array.from({ length: n }, (_, i) => ({
    seriesId: `bench|${runId}|t${i % 50}|k${i % 997}`,
    windowStart: 1_700_000_000_000 + Math.floor(i / 1000) * 10_000,
    windowEnd: 1_700_000_000_000 + Math.floor(i / 1000) * 10_000 + 10_000,
    source: 'bench',
    table: `t${i % 50}`,
    keyBucket: `k${i % 997}`,
    partition: null,
    node: `node${i % 3}`,
    queries: (i * 7) % 1000,
    reads: (i * 5) % 800,
    writes: (i * 3) % 200,
    rowsRead: i % 5000,
    rowsWritten: i % 300,
    errors: i % 17 === 0 ? 1 : 0,
    unparsed: 0,
    lateMerged: 0,
    latencySumMs: (i % 100) * 1.5,
    latencyP50Ms: 1.2,
    latencyP95Ms: 8.5,
    latencyP99Ms: 20.1,
    hotKeys: [{ key: String(i % 97), count: 5, error: 0 }],
    coAccess: [],
  }));
}

export async function runSinkBench(opts: { rows?: number; log?: (s: string) => void } = {}): Promise<SinkBenchReport> {
  const n = opts.rows ?? 200_000;
  const log = opts.log ?? (() => undefined);
  const runId = Date.now().toString(36);
  const ctx = await openContext('bench-sink');
  const ch = createClickHouse(ctx.cfg);
  const bulkDb = 'shardcast_bench_bulk';
  const sinkDb = 'shardcast_bench_sink';
  const topic = { ...TOPICS.aggregates, name: `shardcast.bench.sink.${runId}`, partitions: 3 };
  try {
    for (const db of [bulkDb, sinkDb]) {
      await ch.command({ query: `DROP DATABASE IF EXISTS ${db}` });
      await ensureAnalyticsSchema(ch, db);
    }
    const aggs = syntheticAggregates(n, runId);

    log(`bulk insert of ${n} rows from memory`);
    let t0 = performance.now();
    const rows = aggs.map(aggregateRow);
    for (let i = 0; i < rows.length; i += CHUNK) await insertRows(ch, bulkDb, 'aggregates', rows.slice(i, i + CHUNK));
    const bulkSec = (performance.now() - t0) / 1000;

    log(`producing ${n} aggregates to ${topic.name}`);
    await provisionTopics(ctx.kafka, [topic]);
    await ctx.serde.registerTopic(topic);
    for (let i = 0; i < n; i += 5000) {
      await ctx.producer.send(
        topic.name,
        aggs.slice(i, i + 5000).map((a) => ({ key: a.seriesId, value: a })),
      );
    }

    log('sink pipeline: Kafka → ClickHouse');
    const sink = await startSink(ctx, {
      groupId: `bench-sink-${runId}`,
      database: sinkDb,
      topics: [topic.name],
      aliases: { [topic.name]: TOPICS.aggregates.name },
      batchSize: CHUNK,
    });
    const deadline = Date.now() + 300_000;
    // The clock starts at the first fetched message: group join time is not insert throughput.
    while (sink.source.received === 0 && Date.now() < deadline) await sleep(5);
    t0 = performance.now();
    while (sink.rowsInserted() < n && Date.now() < deadline) await sleep(20);
    const sinkSec = (performance.now() - t0) / 1000;
    await sink.stop();
    const [count] = await queryRows<{ c: string }>(ch, `SELECT count() AS c FROM ${sinkDb}.aggregates`);
    const bulkRowsPerSec = n / bulkSec;
    const sinkRowsPerSec = sink.rowsInserted() / sinkSec;
    const ratio = sinkRowsPerSec / bulkRowsPerSec;
    return {
      rows: n,
      bulkRowsPerSec,
      sinkRowsPerSec,
      ratio,
      target: 0.7,
      pass: ratio >= 0.7,
      rowsInClickHouse: Number(count?.c ?? 0),
    };
  } finally {
    const admin = ctx.kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic.name] }).catch(() => undefined);
    await admin.disconnect();
    await ch.close();
    await ctx.close();
  }
}
