/**
 * `shardcast demo`: the main job end to end on the local stack. Starts the stack, creates a
 * range-sharded `orders` table on the PostgreSQL nodes and registers the federation in Neo4j,
 * runs ingest, forecast, decide, execute and sink in this process, drives a workload with a
 * daily-shaped rate and a hotspot that moves across key ranges, then prints a report built
 * from ClickHouse (the same queries `shardcast analytics` runs).
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../lib/config.js';
import { stackUp } from '../infra/stack.js';
import { createShardedTable } from '../executors/postgres/layout.js';
import { createCatalogDriver, ensureCatalogSchema } from '../catalog/neo4j.js';
import { upsertNode, upsertPartition, upsertSource, upsertTable } from '../catalog/graph.js';
import { createClickHouse, queryRows } from '../analytics/clickhouse.js';
import { CANNED_QUERIES } from '../analytics/queries.js';
import type { AnyCommand, QueryEvent } from '../schemas/types.js';
import { TOPICS } from '../topics/catalog.js';
import { TelemetryPublisher } from '../topics/sdk.js';
import { openContext } from './context.js';
import { startIngest } from './ingest.js';
import { startForecast } from './forecast.js';
import { startDecide, PG_STORE } from './decide.js';
import { startExecute } from './execute.js';
import { startSink } from './sink.js';

export const DEMO_TABLE = 'orders';
export const DEMO_BOUNDS = [25_000, 50_000, 75_000];
const KEYSPACE = 100_000;

export interface DemoReport {
  runId: string;
  durationSec: number;
  published: number;
  garbagePublished: number;
  stages: Record<string, number>;
  decisions: { commandId: string; action: string; explanation: string }[];
  analytics: Record<string, unknown[]>;
}

/** Queries per second at time t: a compressed day (one period per `periodSec`) plus noise. */
export function demoRate(tSec: number, periodSec: number, base: number): number {
  return Math.max(1, base * (1 + 0.8 * Math.sin((2 * Math.PI * tSec) / periodSec)));
}

/** The hot key range drifts across the keyspace over the run. */
export function hotKey(tSec: number, durationSec: number, rnd: () => number): number {
  const centre = Math.floor((tSec / durationSec) * KEYSPACE * 0.9) + 2_000;
  return rnd() < 0.7 ? Math.min(KEYSPACE - 1, centre + Math.floor(rnd() * 2_000)) : Math.floor(rnd() * KEYSPACE);
}

export async function runDemo(opts: { duration: number; json?: boolean }): Promise<DemoReport> {
  const say = (s: string) => process.stderr.write(`» ${s}\n`);
  const cfg0 = loadConfig();
  const partitionKeys = { [DEMO_TABLE]: { column: 'id', bounds: DEMO_BOUNDS } };
  const cfg = { ...cfg0, windowMs: 2_000, allowedLatenessMs: 1_000, partitionKeys };
  const runId = randomUUID().slice(0, 8);

  say('starting the local stack');
  await stackUp(cfg, { log: (l) => process.stderr.write(`  ${l}\n`) });

  say(`creating the sharded table ${DEMO_TABLE} on ${cfg.pgNodes.length} PostgreSQL nodes`);
  const edges = [null, ...DEMO_BOUNDS, null];
  const ranges = edges.slice(0, -1).map((lo, i) => ({ shard: `s${i}`, lo, hi: edges[i + 1]!, node: `node${i % cfg.pgNodes.length}` }));
  await createShardedTable(cfg, DEMO_TABLE, ranges, { replace: true });

  say('registering the federation in the Neo4j catalog');
  const neo = createCatalogDriver(cfg);
  await ensureCatalogSchema(neo);
  await upsertSource(neo, { id: PG_STORE, kind: 'oltp', engine: 'postgresql', endpoint: cfg.pgNodes[0]! });
  await upsertSource(neo, { id: 'clickhouse', kind: 'warehouse', engine: 'clickhouse', endpoint: cfg.clickhouseUrl });
  await upsertSource(neo, { id: 'kafka', kind: 'streaming', engine: 'kafka', endpoint: cfg.kafkaBrokers.join(',') });
  for (let i = 0; i < cfg.pgNodes.length; i++) await upsertNode(neo, PG_STORE, `node${i}`, { endpoint: cfg.pgNodes[i]!, capacity: 1000 });
  await upsertTable(neo, { source: PG_STORE, database: 'shardcast', name: DEMO_TABLE, partitionKey: 'id' });
  for (const r of ranges) {
    await upsertPartition(neo, { source: PG_STORE, database: 'shardcast', table: DEMO_TABLE, name: r.shard, lo: r.lo, hi: r.hi, node: r.node });
  }

  say('starting ingest, forecast, decide, execute and sink');
  const ctx = await openContext('demo', cfg);
  const group = `demo-${runId}`;
  const decisions: DemoReport['decisions'] = [];
  const ingest = await startIngest(ctx, { groupId: `${group}-ingest`, idleFlushMs: 1_000 });
  const forecast = await startForecast(ctx, { groupId: `${group}-forecast`, stepMs: cfg.windowMs, horizon: 6, checkpointFile: null });
  const decide = await startDecide(ctx, {
    groupId: `${group}-decide`, nodeCapacity: 400,
    onDecision: (cmds: AnyCommand[], lines) => cmds.forEach((c, i) => decisions.push({ commandId: c.commandId, action: c.action, explanation: lines[i] ?? c.explanation })),
  });
  const execute = await startExecute(ctx, { groupId: `${group}-execute` });
  const sink = await startSink(ctx, { groupId: `${group}-sink` });
  say(`forecasting on the ${forecast.backend} backend`);

  say(`running the workload for ${opts.duration} s (daily-shaped rate, moving hotspot)`);
  const pub = await TelemetryPublisher.connect(cfg, { clientId: 'shardcast-demo-workload' });
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const start = Date.now();
  let published = 0;
  for (let t = 0; t < opts.duration; t++) {
    const n = Math.round(demoRate(t, Math.max(20, opts.duration / 2), 150));
    for (let i = 0; i < n; i++) {
      const key = hotKey(t, opts.duration, rnd);
      const write = rnd() < 0.2;
      const e: QueryEvent = {
        eventId: `${runId}-${published}`, ts: Date.now(), source: PG_STORE, dialect: 'postgres', database: 'shardcast',
        sql: write ? `UPDATE ${DEMO_TABLE} SET amount = amount + 1 WHERE id = ${key}` : `SELECT * FROM ${DEMO_TABLE} WHERE id = ${key}`,
        fingerprint: null, tables: [DEMO_TABLE], operation: write ? 'update' : 'select', durationMs: 0.5 + rnd() * 3,
        rowsRead: 1, rowsWritten: write ? 1 : 0, node: null, partition: null, keyValues: {}, client: 'demo', status: 'ok', txId: null,
      };
      await pub.publishQuery(e);
      published++;
    }
    await pub.flush();
    if (t % 10 === 0) say(`t=${t}s published=${published} aggregates=${ingest.sent()} forecasts=${forecast.forecasts()} commands=${decide.commands()} sink rows=${sink.rowsInserted()}`);
    const next = start + (t + 1) * 1000;
    if (next > Date.now()) await sleep(next - Date.now());
  }
  await pub.close();
  // One undecodable message, to show the dead-letter path.
  await ctx.producer.sendRaw(TOPICS.queries.name, [{ key: 'demo', value: Buffer.from('this is not Avro') }]);

  say('draining');
  await sleep(3 * cfg.windowMs + 2_000);
  for (const s of [ingest, forecast, decide, execute, sink]) await s.stop();
  await ctx.close();
  await neo.close();

  const ch = createClickHouse(cfg);
  const analytics: Record<string, unknown[]> = {};
  for (const q of CANNED_QUERIES) analytics[q.name] = await queryRows(ch, q.sql(cfg.clickhouseDatabase, 10)).catch((e) => [{ error: (e as Error).message }]);
  await ch.close();

  const report: DemoReport = {
    runId, durationSec: opts.duration, published, garbagePublished: 1,
    stages: {
      aggregates: ingest.sent(), ingestDeadLetters: ingest.stats.deadLettered, forecasts: forecast.forecasts(),
      commands: decide.commands(), executed: execute.stats.handled, sinkRows: sink.rowsInserted(),
    },
    decisions,
    analytics,
  };
  if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    const out = (s: string) => process.stdout.write(`${s}\n`);
    out(`\nshardcast demo ${runId}: ${published} queries published over ${opts.duration} s`);
    for (const [k, v] of Object.entries(report.stages)) out(`  ${k.padEnd(18)} ${v}`);
    out('\ndecisions:');
    for (const d of decisions) out(`  ${d.action.padEnd(10)} ${d.explanation}`);
    if (decisions.length === 0) out('  (none: the forecast load stayed within capacity)');
    for (const [name, rows] of Object.entries(analytics)) {
      out(`\n${name} (shardcast analytics ${name}):`);
      for (const r of rows.slice(0, 5)) out(`  ${JSON.stringify(r)}`);
    }
  }
  return report;
}
