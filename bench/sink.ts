/**
 * `shardcast bench sink`: rows/s from Kafka into ClickHouse through the sink pipeline (consume,
 * Avro decode, map, batched insert, commit) next to what a user would otherwise run: a bulk
 * insert of the same rows from memory, once one chunk at a time and once with as many chunks in
 * flight as the sink keeps (two). All three run in the same process on the same rows, in chunks
 * of the sink's batch size, each into a freshly created database with its own client that has
 * created its schema first (as the sink does), after one untimed insert of the rows has warmed
 * the server and this process. They run in alternating rounds (sink, bulk sequential, bulk
 * concurrent, sink, …; each sink round a fresh consumer group over the same topic) and are
 * compared by their medians, because single runs vary too much on a shared machine for one
 * run's ratio to say anything (docs/decisions/0040). Target: the sink reaches at least 0.7 of
 * the faster baseline.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { lastValueFrom, mergeMap, range } from 'rxjs';
import { aggregateRow } from '../analytics/rows.js';
import { type ClickHouseClient, createClickHouse, ensureAnalyticsSchema, insertRows, queryRows } from '../analytics/clickhouse.js';
import type { Config } from '../lib/config.js';
import { isRetriable, ShardcastError, UnavailableError } from '../lib/errors.js';
import { formatTable } from '../lib/table.js';
import { openContext, type PipelineContext } from '../pipelines/context.js';
import { startSink } from '../pipelines/sink.js';
import type { WorkloadAggregate } from '../schemas/types.js';
import { provisionTopics } from '../topics/admin.js';
import { TOPICS } from '../schemas/topics.js';

/** Rows per insert: the sink's batch size in this benchmark, and the baselines' chunk. */
const CHUNK = 50_000;
/** Inserts the sink keeps in flight (pipelines/sink.ts). */
const SINK_CONCURRENCY = 2;
const TARGET = 0.7;

export interface SinkBenchRun {
  name: string;
  inFlight: number;
  /** Median over the rounds. */
  rowsPerSec: number;
}

export interface SinkBenchRound {
  sinkRowsPerSec: number;
  sequentialBulkRowsPerSec: number;
  concurrentBulkRowsPerSec: number;
}

export interface SinkBenchReport {
  rows: number;
  chunkRows: number;
  rounds: number;
  /** Medians over the rounds. */
  sinkRowsPerSec: number;
  /** One chunk at a time. */
  sequentialBulkRowsPerSec: number;
  /** As many chunks in flight as the sink keeps. */
  concurrentBulkRowsPerSec: number;
  /** The faster of the two baseline medians, the one the ratio is taken against. */
  baselineRowsPerSec: number;
  ratio: number;
  target: number;
  pass: boolean;
  /** Rows the last sink round left in ClickHouse. */
  rowsInClickHouse: number;
  runs: SinkBenchRun[];
  perRound: SinkBenchRound[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
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

/** Inserts `aggs` as rows in chunks, `inFlight` chunks at a time; returns the seconds taken. */
async function timedBulkInsert(ch: ClickHouseClient, db: string, aggs: WorkloadAggregate[], inFlight: number): Promise<number> {
  const t0 = performance.now();
  const rows = aggs.map(aggregateRow);
  const chunks = Math.ceil(rows.length / CHUNK);
  await lastValueFrom(
    range(0, chunks).pipe(mergeMap((i) => insertRows(ch, db, 'aggregates', rows.slice(i * CHUNK, (i + 1) * CHUNK)), inFlight)),
    { defaultValue: undefined },
  );
  return (performance.now() - t0) / 1000;
}

/**
 * A fresh database with its schema created (untimed, as the sink does before consuming), then
 * the timed insert through a fresh client. The client opens its sockets for the insert: one left
 * idle across the schema statements and the row mapping can meet a server that has just closed
 * it (EPIPE on a loaded machine). A run that fails retriably is run again once, from scratch: a
 * figure comes only from a run that inserted every row.
 */
async function bulkRun(
  cfg: Config,
  ch: ClickHouseClient,
  db: string,
  aggs: WorkloadAggregate[],
  inFlight: number,
  log: (s: string) => void,
): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    await ch.command({ query: `DROP DATABASE IF EXISTS ${db}` });
    await ensureAnalyticsSchema(ch, db);
    const insertClient = createClickHouse(cfg);
    try {
      return aggs.length / (await timedBulkInsert(insertClient, db, aggs, inFlight));
    } catch (err) {
      if (attempt > 1 || !isRetriable(err)) throw err;
      log(`  the run failed (${(err as Error).message}); running it again`);
    } finally {
      await insertClient.close();
    }
  }
}

/** One sink run over the whole topic from a fresh consumer group into a fresh database; rows/s and the rows it left. */
async function sinkRun(ctx: PipelineContext, ch: ClickHouseClient, topic: string, db: string, n: number, id: string) {
  await ch.command({ query: `DROP DATABASE IF EXISTS ${db}` });
  const sink = await startSink(ctx, {
    groupId: `bench-sink-${id}`,
    database: db,
    topics: [topic],
    aliases: { [topic]: TOPICS.aggregates.name },
    batchSize: CHUNK,
  });
  let failure: unknown;
  sink.done.catch((err: unknown) => {
    failure = err;
  });
  const deadline = Date.now() + 300_000;
  const running = () => failure === undefined && Date.now() < deadline;
  // The clock starts at the first fetched message: group join time is not insert throughput.
  while (sink.source.received === 0 && running()) await sleep(5);
  const t0 = performance.now();
  while (sink.rowsInserted() < n && running()) await sleep(20);
  const sec = (performance.now() - t0) / 1000;
  await sink.stop().catch(() => undefined);
  if (failure !== undefined)
    throw new ShardcastError(`the sink pipeline failed: ${(failure as Error).message}`, {
      cause: failure,
      retriable: isRetriable(failure),
    });
  if (sink.rowsInserted() < n) throw new UnavailableError(`the sink inserted ${sink.rowsInserted()} of ${n} rows in 300 s`);
  const [count] = await queryRows<{ c: string }>(ch, `SELECT count() AS c FROM ${db}.aggregates`);
  return { rowsPerSec: sink.rowsInserted() / sec, rowsInClickHouse: Number(count?.c ?? 0) };
}

/** The report of the rounds: medians per kind of run, the ratio to the faster baseline median. */
export function sinkReportOf(perRound: SinkBenchRound[], rows: number, rowsInClickHouse: number): SinkBenchReport {
  const sinkRowsPerSec = median(perRound.map((r) => r.sinkRowsPerSec));
  const sequential = median(perRound.map((r) => r.sequentialBulkRowsPerSec));
  const concurrent = median(perRound.map((r) => r.concurrentBulkRowsPerSec));
  const baseline = Math.max(sequential, concurrent);
  const ratio = sinkRowsPerSec / baseline;
  return {
    rows,
    chunkRows: CHUNK,
    rounds: perRound.length,
    sinkRowsPerSec,
    sequentialBulkRowsPerSec: sequential,
    concurrentBulkRowsPerSec: concurrent,
    baselineRowsPerSec: baseline,
    ratio,
    target: TARGET,
    pass: ratio >= TARGET,
    rowsInClickHouse,
    runs: [
      { name: 'bulk insert from memory, sequential', inFlight: 1, rowsPerSec: sequential },
      { name: 'bulk insert from memory, concurrent', inFlight: SINK_CONCURRENCY, rowsPerSec: concurrent },
      { name: 'sink pipeline, Kafka → ClickHouse', inFlight: SINK_CONCURRENCY, rowsPerSec: sinkRowsPerSec },
    ],
    perRound,
  };
}

export async function runSinkBench(opts: { rows?: number; rounds?: number; log?: (s: string) => void } = {}): Promise<SinkBenchReport> {
  const n = opts.rows ?? 200_000;
  const rounds = opts.rounds ?? 5;
  const log = opts.log ?? (() => undefined);
  const runId = Date.now().toString(36);
  const ctx = await openContext('bench-sink');
  const ch = createClickHouse(ctx.cfg);
  const dbs = {
    warm: 'shardcast_bench_warm',
    sequential: 'shardcast_bench_bulk',
    concurrent: 'shardcast_bench_bulk_concurrent',
    sink: 'shardcast_bench_sink',
  };
  const topic = { ...TOPICS.aggregates, name: `shardcast.bench.sink.${runId}`, partitions: 3 };
  try {
    for (const db of Object.values(dbs)) await ch.command({ query: `DROP DATABASE IF EXISTS ${db}` });
    const aggs = syntheticAggregates(n, runId);

    log(`producing ${n} aggregates to ${topic.name}`);
    await provisionTopics(ctx.kafka, [topic]);
    await ctx.serde.registerTopic(topic);
    for (let i = 0; i < n; i += 5000) {
      await ctx.producer.send(
        topic.name,
        aggs.slice(i, i + 5000).map((a) => ({ key: a.seriesId, value: a })),
      );
    }

    log(`warm-up: one untimed insert of the ${n} rows`);
    await ensureAnalyticsSchema(ch, dbs.warm);
    await timedBulkInsert(ch, dbs.warm, aggs, SINK_CONCURRENCY);

    const perRound: SinkBenchRound[] = [];
    let rowsInClickHouse = 0;
    const fmt = (x: number) => `  ${Math.round(x)} rows/s`;
    for (let round = 1; round <= rounds; round++) {
      log(`round ${round}/${rounds}: sink pipeline, Kafka → ClickHouse`);
      const sink = await sinkRun(ctx, ch, topic.name, dbs.sink, n, `${runId}-${round}`);
      rowsInClickHouse = sink.rowsInClickHouse;
      log(fmt(sink.rowsPerSec));
      log(`round ${round}/${rounds}: bulk insert of ${n} rows from memory, one chunk of ${CHUNK} at a time`);
      const sequential = await bulkRun(ctx.cfg, ch, dbs.sequential, aggs, 1, log);
      log(fmt(sequential));
      log(`round ${round}/${rounds}: bulk insert of ${n} rows from memory, ${SINK_CONCURRENCY} chunks in flight`);
      const concurrent = await bulkRun(ctx.cfg, ch, dbs.concurrent, aggs, SINK_CONCURRENCY, log);
      log(fmt(concurrent));
      perRound.push({ sinkRowsPerSec: sink.rowsPerSec, sequentialBulkRowsPerSec: sequential, concurrentBulkRowsPerSec: concurrent });
    }
    return sinkReportOf(perRound, n, rowsInClickHouse);
  } finally {
    const admin = ctx.kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic.name] }).catch(() => undefined);
    await admin.disconnect();
    await ch.command({ query: `DROP DATABASE IF EXISTS ${dbs.warm}` }).catch(() => undefined);
    await ch.close();
    await ctx.close();
  }
}

/** Each round, then the three medians side by side, then the ratio and the verdict. */
export function formatSinkReport(r: SinkBenchReport): string {
  return [
    `${r.rows} rows in inserts of ${r.chunkRows}, the same rows and warm-up for every run, ${r.rounds} alternating rounds, all in this run:`,
    formatTable(
      r.perRound.map((x, i) => ({
        round: i + 1,
        'sink rows/s': Math.round(x.sinkRowsPerSec),
        'bulk sequential rows/s': Math.round(x.sequentialBulkRowsPerSec),
        'bulk concurrent rows/s': Math.round(x.concurrentBulkRowsPerSec),
      })),
      { indent: '  ' },
    ),
    'medians:',
    formatTable(
      r.runs.map((x) => ({
        run: x.name,
        'inserts in flight': x.inFlight,
        'median rows/s': Math.round(x.rowsPerSec),
        'sink ÷ this': (r.sinkRowsPerSec / x.rowsPerSec).toFixed(2),
      })),
      { indent: '  ' },
    ),
    `sink / faster baseline (medians): ${r.ratio.toFixed(2)}, target ≥ ${r.target} ${r.pass ? 'PASS' : 'FAIL'}; rows in ClickHouse after the last sink round ${r.rowsInClickHouse}`,
  ].join('\n');
}
