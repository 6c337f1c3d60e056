/**
 * `shardcast demo`: the main job end to end on the local stack. Starts the stack, creates a
 * range-sharded `orders` table on the PostgreSQL nodes (seeded) and a warehouse table in
 * ClickHouse, registers the federation in Neo4j, and runs ingest, forecast, decide, execute and
 * sink in this process. The workload is real: pgbench with skewed scripts (a Zipfian hotspot that
 * drifts across the key space, a rate shaped like a compressed day) plus a router-aware writer
 * whose acknowledged rows are verified at the end. Telemetry comes from what PostgreSQL itself
 * logs, through the csvlog collector. The report is built from ClickHouse with the same queries
 * `shardcast analytics` runs, scoped to this run with `--since`.
 *
 * The workload runs twice on freshly made tables: first a control run with execution off (the
 * decide stage plans, nothing carries its commands out), then the managed run; pgbench's
 * clients measure both, and the report sets their SLA-violation minutes and p99 side by side.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Config, loadConfig } from '../lib/config.js';
import { generateKeyPair } from '../lib/signingKeys.js';
import { stackUp } from '../infra/stack.js';
import { listNodes, loadRoutes } from '../stores/postgres/routing.js';
import { createOrdersTable } from './ordersTable.js';
import { PgPools } from '../stores/postgres/nodes.js';
import { AckedLoad, diffRows, readAll, seedRows } from './workload.js';
import { startCatalog } from '../pipelines/catalog.js';
import { commandOutcomes, placement, type CommandOutcome } from '../catalog/placement.js';
import { type ClickHouseClient, createClickHouse, queryRows } from '../analytics/clickhouse.js';
import { CANNED_QUERIES } from '../analytics/queries.js';
import type { AnyCommand } from '../schemas/types.js';
import { startGroupsAtEnd } from '../topics/admin.js';
import { COMMAND_TOPICS, TOPICS } from '../schemas/topics.js';
import { runSegment, segmentScripts } from './pgbench.js';
import { openContext } from '../pipelines/context.js';
import { startIngest } from '../pipelines/ingest.js';
import { startForecast } from '../pipelines/forecast.js';
import { startDecide } from '../pipelines/decide.js';
import { PG_STORE } from '../processors/decide/postgres/state.js';
import { startExecute } from '../pipelines/execute.js';
import { startSink } from '../pipelines/sink.js';
import { startCollector } from '../pipelines/collect.js';
import { startConsole } from '../console/http/console.js';
import { DEMO_RECORDS_PER_PARTITION, startOrderEvents } from './orderEvents.js';
import { runWarehouseQueries } from './warehouseQueries.js';
import { type RunFigures, runFigures, type SegmentLatencies } from './comparison.js';
import { type DemoReport, nodeLoadBeforeAfter, printReport } from './report.js';
import { approveAsOperator } from './approvals.js';

export type { DemoReport } from './report.js';
import { startClickHouseCollector } from '../pipelines/collectClickHouse.js';

export const DEMO_TABLE = 'orders';
export const DEMO_BOUNDS = [25_000, 50_000, 75_000];
const KEYSPACE = 100_000;
/** Queries per second a node takes before it counts as over capacity (sized to this workload). */
const NODE_CAPACITY = 60;
const BASE_RATE = 60;

/** Queries per second at time t: a compressed day (one period per `periodSec`). */
export function demoRate(tSec: number, periodSec: number, base: number): number {
  return Math.max(1, base * (1 + 0.8 * Math.sin((2 * Math.PI * tSec) / periodSec)));
}

/** First key of the hot range at time t: it drifts across the key space over the run. */
export function hotStart(tSec: number, durationSec: number, width: number): number {
  return Math.min(KEYSPACE - width, Math.floor((tSec / Math.max(1, durationSec)) * (KEYSPACE - width)));
}

const SEGMENT_SEC = 5;
const HOT_WIDTH = 4_000;
/**
 * Each pgbench statement holds its connection this long (`pg_sleep`, standing in for the I/O of
 * a larger table), and pgbench drives a node through two connections: a node then serves at
 * most NODE_CAPACITY queries a second, and load past that shows in its clients' latency.
 */
const SERVICE_MS = (2 * 1000) / NODE_CAPACITY;
/** The SLA the comparison counts against: p99 latency per node per segment. */
const SLA_P99_MS = 250;
/** Share of the PostgreSQL traffic that is reports (a customer's recent orders, amounts per customer). */
const REPORT_SHARE = 0.06;
/** The physical-design planners' thresholds, sized to the demo's report rates as the node capacity is. */
const CLICKHOUSE_PLAN = { minCount: 2, minLatencyMs: 1 };
const TEMPLATE_PLAN = { minCount: 2, minLatencyMs: 1 };

export interface DemoOptions {
  duration: number;
  json?: boolean;
  /** Run the control run (execution off) before the managed one; default true. */
  control?: boolean;
}

type Say = (s: string) => void;

export async function runDemo(opts: DemoOptions): Promise<DemoReport> {
  const say: Say = (s) => process.stderr.write(`» ${s}\n`);
  const cfg0 = loadConfig();
  const partitionKeys = { [DEMO_TABLE]: { column: 'id', bounds: DEMO_BOUNDS } };
  // Decide signs and execute verifies commands. Without configured keys the local stack's own
  // pair is used; on a cluster given by KAFKA_BROKERS this run makes a pair of its own instead.
  const keys = cfg0.external.kafka && !cfg0.commandSigningKey && !cfg0.commandVerifyKeys ? generateKeyPair() : null;
  const cfg = {
    ...cfg0,
    windowMs: 2_000,
    allowedLatenessMs: 1_000,
    partitionKeys,
    ...(keys ? { commandSigningKey: keys.privatePem, commandVerifyKeys: keys.publicPem } : {}),
  };
  const runId = randomUUID().slice(0, 8);

  say('starting the local stack');
  await stackUp(cfg, { log: (l) => process.stderr.write(`  ${l}\n`) });
  let control: RunFigures | null = null;
  if (opts.control !== false) {
    say(
      `control run: the same workload for ${opts.duration} s with execution off (the decide stage plans and reports, and publishes no command)`,
    );
    control = (await runPhase(cfg, { runId, name: 'control', duration: opts.duration, execute: false, say })).figures;
    say(`control run done: ${control.slaViolationMinutes} SLA-violation minutes, p99 ${control.p99Ms} ms`);
    say('managed run: the same workload again on fresh tables, with execution on');
  }
  const managed = await runPhase(cfg, { runId, name: 'managed', duration: opts.duration, execute: true, say });
  const report: DemoReport = {
    ...managed.report,
    comparison: control ? { slaP99Ms: SLA_P99_MS, control, managed: managed.figures } : null,
  };
  if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else printReport(report);
  return report;
}

/** Creates the PostgreSQL table (seeded) and the ClickHouse warehouse table, as new. */
async function createTables(cfg: Config, ch: ClickHouseClient, say: Say): Promise<void> {
  say(`creating the sharded table ${DEMO_TABLE} on ${cfg.pgNodes.length} PostgreSQL nodes and seeding ${KEYSPACE} rows`);
  const edges = [null, ...DEMO_BOUNDS, null];
  const ranges = edges.slice(0, -1).map((lo, i) => ({ shard: `s${i}`, lo, hi: edges[i + 1]!, node: `node${i % cfg.pgNodes.length}` }));
  await createOrdersTable(cfg, DEMO_TABLE, ranges, { replace: true });
  await seedRows(cfg, DEMO_TABLE, 0, KEYSPACE);

  // Partitioned by key range, as the shards are; half of its reports filter by month (warehouseQueries.ts).
  say('creating the warehouse table demo_orders in ClickHouse, partitioned by key range');
  const db = cfg.clickhouseDatabase;
  await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
  for (const t of await queryRows<{ name: string }>(
    ch,
    `SELECT name FROM system.tables WHERE database = '${db}' AND substring(name, 1, 11) = 'demo_orders'`,
  ))
    await ch.command({ query: `DROP TABLE IF EXISTS ${db}.\`${t.name}\`` });
  await ch.command({
    query: `CREATE TABLE ${db}.demo_orders (id UInt64, customer_id UInt64, amount Float64, created Date) ENGINE = MergeTree() PARTITION BY intDiv(id, ${DEMO_BOUNDS[0]}) ORDER BY id`,
  });
  await ch.command({
    query: `INSERT INTO ${db}.demo_orders SELECT number, number % 97, (number % 1000) / 4, toDate('2024-01-01') + intDiv(number, 1000) FROM system.numbers LIMIT ${KEYSPACE}`,
  });
}

interface Phase {
  runId: string;
  name: 'control' | 'managed';
  duration: number;
  /** Whether the executor runs: off in the control run. */
  execute: boolean;
  say: Say;
}

/** One run of the workload on fresh tables with every stage live (the executor only when `execute`). */
async function runPhase(cfg: Config, phase: Phase): Promise<{ report: Omit<DemoReport, 'comparison'>; figures: RunFigures }> {
  const { say } = phase;
  const ch = createClickHouse(cfg);
  const db = cfg.clickhouseDatabase;
  await createTables(cfg, ch, say);

  say(`starting catalog, ingest, forecast, decide${phase.execute ? ', execute' : ''}, sink and the PostgreSQL log collector`);
  const ctx = await openContext('demo', cfg);
  const group = `demo-${phase.runId}-${phase.name}`;
  // This run's groups start at the end of every topic: earlier runs' telemetry, forecasts and
  // commands are history, not work for this run.
  await startGroupsAtEnd(ctx.kafka, [
    [`${group}-ingest`, [TOPICS.queries.name]],
    [`${group}-forecast`, [TOPICS.aggregates.name, TOPICS.metrics.name]],
    [`${group}-decide`, [TOPICS.forecasts.name, TOPICS.aggregates.name, TOPICS.results.name]],
    [`${group}-execute`, Object.values(COMMAND_TOPICS)],
    [`${group}-catalog`, [TOPICS.results.name, TOPICS.aggregates.name, ...Object.values(COMMAND_TOPICS)]],
    [
      `${group}-sink`,
      [
        TOPICS.queries.name,
        TOPICS.aggregates.name,
        TOPICS.forecasts.name,
        ...Object.values(COMMAND_TOPICS),
        TOPICS.results.name,
        TOPICS.dlq.name,
      ],
    ],
  ]);
  const startedAtMs = Date.now();
  const decisions: DemoReport['decisions'] = [];
  say('creating the Kafka topic of order events, produced to at the same rate, and its metrics collector');
  const events = await startOrderEvents(cfg, ctx.kafka, `${phase.runId}-${phase.name}`);
  const warehouse = await startClickHouseCollector(cfg, { pollMs: 1_000 });
  // The federation catalog: discovery of every source (the PostgreSQL nodes and their shards,
  // ClickHouse, Kafka), then commands, results and load as they happen.
  say('discovering the federation into the Neo4j catalog');
  const catalog = await startCatalog(ctx, { groupId: `${group}-catalog`, nodeCapacity: NODE_CAPACITY, discoverEveryMs: 30_000 });
  const ingest = await startIngest(ctx, { groupId: `${group}-ingest`, idleFlushMs: 1_000, partitionIdleMs: 3_000 });
  const forecast = await startForecast(ctx, { groupId: `${group}-forecast`, stepMs: cfg.windowMs, horizon: 6, checkpointFile: null });
  const decide = await startDecide(ctx, {
    groupId: `${group}-decide`,
    nodeCapacity: NODE_CAPACITY,
    historySince: startedAtMs,
    // the control run plans without publishing: no executor runs, and none may pick its commands up later
    dryRun: !phase.execute,
    kafka: { recordsPerPartitionPerSec: DEMO_RECORDS_PER_PARTITION },
    clickhouse: CLICKHOUSE_PLAN,
    decide: { template: TEMPLATE_PLAN },
    onDecision: (cmds: AnyCommand[], lines) =>
      cmds.forEach((c, i) => {
        // a decision re-issued with the same id is the same decision (the executor's ledger agrees)
        if (decisions.some((d) => d.commandId === c.commandId)) return;
        decisions.push({ commandId: c.commandId, action: c.action, store: c.store, explanation: lines[i] ?? c.explanation });
        say(`decision: ${lines[i] ?? c.explanation}`);
      }),
  });
  // pgbench follows the routing map at each segment's start: a moved shard's source stays for
  // a segment longer, so its reads keep working until the next segment reads the new routing.
  const execute = phase.execute ? await startExecute(ctx, { groupId: `${group}-execute`, pgGraceMs: (SEGMENT_SEC + 1) * 1000 }) : null;
  const sink = await startSink(ctx, { groupId: `${group}-sink` });
  const consoleUi = await startConsole(cfg, ctx.log, {}, { proposals: { nodeCapacity: NODE_CAPACITY } });
  say(`console (web UI and API) at ${consoleUi.url}/ (sign in with a token from SHARDCAST_API_TOKENS)`);
  // Commands that need an operator's approval (a ClickHouse repartition) are approved here, through
  // the same operations layer as `shardcast approve`, and said so.
  const approvals = phase.execute ? approveAsOperator(consoleUi.operations, decisions, say) : null;
  const collector = await startCollector(cfg, {
    source: PG_STORE,
    fromNow: true,
    ignoreApplications: ['shardcast-executor', 'shardcast-catalog', 'shardcast-decide'],
  });
  say(`forecasting on the ${forecast.backend} backend`);

  say(
    `running the workload for ${phase.duration} s: pgbench (skewed scripts, daily-shaped rate, moving hotspot), a verified writer, order events on Kafka and reports on ClickHouse`,
  );
  const before = (await readAll(cfg, DEMO_TABLE)).rows;
  const writer = new AckedLoad(cfg, DEMO_TABLE, {
    lo: 0,
    hi: KEYSPACE,
    newKeysFrom: KEYSPACE,
    newKeysTo: KEYSPACE * 2,
    writers: 1,
    pauseMs: 40,
  });
  writer.start();
  const pools = new PgPools({ executor: false, max: 1 });
  const coord = pools.get(cfg.pgNodes[0]!);
  let pgbenchTransactions = 0;
  const pgbenchFailures: string[] = [];
  const segments: SegmentLatencies[] = [];
  try {
    const period = Math.max(30, phase.duration / 2);
    for (let t = 0; t < phase.duration; t += SEGMENT_SEC) {
      const seconds = Math.min(SEGMENT_SEC, phase.duration - t);
      const routes = await loadRoutes(coord, DEMO_TABLE);
      const urls = new Map((await listNodes(coord)).map((n) => [n.node, n.url]));
      const rate = demoRate(t + seconds / 2, period, BASE_RATE);
      const hot = { lo: hotStart(t, phase.duration, HOT_WIDTH), width: HOT_WIDTH, share: 0.7 };
      const plan = segmentScripts(DEMO_TABLE, routes?.shards ?? [], [0, KEYSPACE], hot, rate, SERVICE_MS, REPORT_SHARE);
      const [results] = await Promise.all([
        runSegment(urls, plan, seconds, 'pgbench-demo', { latencies: true }),
        events.produce(rate, seconds),
        runWarehouseQueries(cfg, `${db}.demo_orders`, rate / 10, seconds),
      ]);
      segments.push({ seconds, nodes: results.map((r) => ({ node: r.node, latenciesMs: r.latenciesMs })) });
      for (const r of results) {
        pgbenchTransactions += r.transactions;
        if (r.failed && pgbenchFailures.length < 10) pgbenchFailures.push(`${r.node} at t=${t}s: ${r.detail}`);
      }
      say(
        `${phase.name} t=${t + seconds}s rate≈${rate.toFixed(0)}/s hot=[${hot.lo},${hot.lo + hot.width}) pgbench=${pgbenchTransactions} collected=${collector.stats.published} aggregates=${ingest.sent()} forecasts=${forecast.forecasts()} commands=${decide.commands()} executed=${execute?.stats.handled ?? 'off'}`,
      );
    }
  } finally {
    await pools.end();
  }
  const writes = await writer.stop();
  // One undecodable message, to show the dead-letter path.
  await ctx.producer.sendRaw(TOPICS.queries.name, [{ key: 'demo', value: Buffer.from('this is not Avro') }]);

  say('draining: the collector publishes the last log lines, windows close, commands finish');
  await sleep(2_000);
  await collector.stop();
  await warehouse.stop();
  await sleep(3 * cfg.windowMs + 3_000);
  for (const s of [ingest, forecast, decide]) await s.stop();
  // let the executor take every command decided (bounded); stopping waits for the one running
  const deadline = Date.now() + 90_000;
  while (execute && Date.now() < deadline && execute.stats.consumed < decide.commands()) await sleep(500);
  await sleep(4_000); // the sink and the catalog take the last results
  await approvals?.stop();
  // What the catalog says now: each decision's outcome, and where the table's partitions live.
  const outcomes = await commandOutcomes(
    catalog.driver,
    decisions.map((d) => d.commandId),
  ).catch(() => new Map<string, CommandOutcome>());
  for (const d of decisions) d.outcome = outcomes.get(d.commandId) ?? null;
  const placed = await placement(catalog.driver, PG_STORE, [DEMO_TABLE]).catch(() => null);
  for (const s of [execute, sink, catalog]) await s?.stop();
  await consoleUi.close();
  await events.stop();
  await ctx.close();

  say(`verifying every acknowledged row of the ${phase.name} run's writer against the table`);
  const after = await readAll(cfg, DEMO_TABLE);
  const expected = writer.expected(before);
  const diffs = diffRows(expected, after.rows, 1_000_000);
  const missing = [...expected.keys()].filter((k) => !after.rows.has(k)).length;
  const rowsVerified = {
    expected: expected.size,
    found: after.rows.size,
    missing,
    unexpected: [...after.rows.keys()].filter((k) => !expected.has(k)).length,
    duplicates: after.duplicates.length,
    ok: diffs.length === 0 && after.duplicates.length === 0 && after.misplaced === 0,
  };
  if (!rowsVerified.ok) say(`${phase.name} run: rows MISMATCH (missing ${missing}, duplicates ${after.duplicates.length})`);

  // The report's queries cover this run only: from its start to now (the last aggregates and results are in).
  const endedAtMs = Date.now();
  const analytics: DemoReport['analytics'] = {};
  for (const q of CANNED_QUERIES) {
    const limit = q.name === 'node-load' ? 1000 : 10;
    const rows = await queryRows(ch, q.sql(db, limit, { since: startedAtMs, until: endedAtMs })).catch((e) => [
      { error: (e as Error).message },
    ]);
    analytics[q.name] = { command: `shardcast analytics ${q.name} --since ${startedAtMs} --until ${endedAtMs} --limit ${limit}`, rows };
  }
  await ch.close();

  const figures = runFigures(segments, SLA_P99_MS, {
    planned: decisions.length,
    succeeded: decisions.filter((d) => d.outcome?.status === 'SUCCEEDED').length,
  });
  return {
    figures,
    report: {
      runId: phase.runId,
      startedAtMs,
      durationSec: phase.duration,
      workload: {
        pgbenchTransactions,
        pgbenchFailures,
        writesAcknowledged: writes.writes,
        writeErrors: writes.writeErrors,
        collectedEvents: collector.stats.published,
      },
      stages: {
        aggregates: ingest.sent(),
        ingestDeadLetters: ingest.stats.deadLettered,
        forecasts: forecast.forecasts(),
        commands: decide.commands(),
        commandMisfits: decide.misfits(),
        kafkaMetricSamples: events.metrics.published(),
        clickhouseQueries: warehouse.stats.published,
        executed: execute?.stats.handled ?? 0,
        sinkRows: sink.rowsInserted(),
      },
      nodeLoad: nodeLoadBeforeAfter(
        analytics['node-load']!.rows as { node: string; bucket_ms: string | number; total_queries: string | number }[],
      ),
      decisions,
      placement: (placed?.partitions ?? []).map((p) => ({
        partition: p.partition,
        lo: p.lo,
        hi: p.hi,
        node: p.node,
        replicas: p.replicas,
        rows: p.rows,
      })),
      rowsVerified,
      analytics,
    },
  };
}
