/**
 * A world of its own for the console's tests on the real stack: a fresh sharded table on the
 * PostgreSQL nodes (two shards), the analytics rows the sink would have written for it (twenty
 * windows of reads and writes per key range and per node, the latest forecasts with intervals,
 * rising on two ranges), and cleanup of everything it made in PostgreSQL (the table, operators'
 * controls of its scope and store), ClickHouse and Neo4j.
 * Names are unique per run, so tests of others on the same stack are not touched.
 */
import pg from 'pg';
import { createClickHouse, ensureAnalyticsSchema, insertRows } from '../../analytics/clickhouse.js';
import { aggregateRow, commandRow, forecastRows } from '../../analytics/rows.js';
import { createCatalogDriver } from '../../catalog/neo4j.js';
import { createOrdersTable } from '../../demo/ordersTable.js';
import { seedRows } from '../../demo/workload.js';
import type { Config } from '../../lib/config.js';
import type { DecideOptions } from '../../pipelines/decide.js';
import { risingForecast as handMadeForecast } from '../../schemas/handMadeForecast.js';
import { COMMAND_TOPICS } from '../../schemas/topics.js';
import type { AnyCommand, Forecast, WorkloadAggregate } from '../../schemas/types.js';
import { dropShardedTable } from '../../stores/postgres/tables.js';
import { cfg as baseCfg, uniq } from './helpers.js';

export const STEP = 10_000;
export const CAPACITY = 100;
export const WINDOWS = 20;
export const BUCKETS = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'];

export interface ConsoleFixture {
  id: string;
  table: string;
  source: string;
  cfg: Config;
  now: number;
  /** Rows written: aggregates per key range and window, forecasts per series. */
  aggregates: WorkloadAggregate[];
  forecasts: Forecast[];
  /** The engine's settings that make this small table plannable (as in decide-catalog.test.ts). */
  decide: { stepMs: number; horizonSteps: number; decideEveryMs: number; split: { minSizeBytes: number }; actions: string[] };
  /** Writes a command row to ClickHouse, as the sink would: a decision drawn on the heatmap. */
  recordCommand(c: AnyCommand): Promise<void>;
  cleanup(): Promise<void>;
}

function aggregate(
  source: string,
  table: string | null,
  bucket: string | null,
  node: string,
  start: number,
  reads: number,
  writes: number,
) {
  return {
    seriesId: `${source}|${table ?? '*'}|${bucket ?? '*'}||${node}`,
    windowStart: start,
    windowEnd: start + STEP,
    source,
    table,
    keyBucket: bucket,
    partition: null,
    node,
    queries: reads + writes,
    reads,
    writes,
    rowsRead: reads,
    rowsWritten: writes,
    errors: 0,
    unparsed: 0,
    lateMerged: 0,
    latencySumMs: reads + writes,
    latencyP50Ms: 1,
    latencyP95Ms: 2,
    latencyP99Ms: 3,
    hotKeys: [],
    coAccess: [],
  } satisfies WorkloadAggregate;
}

/** A forecast from `origin` rising by `slope` per step from `base`, twelve steps, with a ±10 % interval. */
export function risingForecast(seriesId: string, origin: number, now: number, base: number, slope: number, step = STEP): Forecast {
  return handMadeForecast(seriesId, origin, now, base, slope, step);
}

export async function openConsoleFixture(prefix: string): Promise<ConsoleFixture> {
  const id = uniq(prefix).replace(/[^a-z0-9]/g, '_');
  const table = `t_${id}`.slice(0, 40);
  const source = `src_${id}`;
  const cfg: Config = { ...baseCfg, partitionKeys: { [table]: { column: 'id', bounds: [250, 500, 750, 1000, 1500] } } };
  await createOrdersTable(cfg, table, [
    { shard: 's0', lo: null, hi: 1000, node: 'node0' },
    { shard: 's1', lo: 1000, hi: null, node: 'node1' },
  ]);
  await seedRows(cfg, table, 0, 1200);

  const now = Math.floor(Date.now() / STEP) * STEP;
  const origin = now - STEP;
  const aggregates: WorkloadAggregate[] = [];
  for (let w = 0; w < WINDOWS; w++) {
    const start = origin - (WINDOWS - 1 - w) * STEP;
    let perNode = [0, 0];
    BUCKETS.forEach((b, i) => {
      // k1 and k2 warm up over the windows; the others stay low; writes a third of reads on k3
      const reads = i === 1 || i === 2 ? 2 + w : 1 + i;
      const writes = i === 3 ? Math.ceil(reads / 3) : i % 2;
      const node = i < 4 ? 0 : 1;
      aggregates.push(aggregate(source, table, b, `node${node}`, start, reads, writes));
      perNode = perNode.map((v, n) => (n === node ? v + reads + writes : v));
    });
    perNode.forEach((q, n) => {
      aggregates.push(aggregate(source, null, null, `node${n}`, start, q, 0));
    });
  }
  const forecasts = [
    ...BUCKETS.map((b, i) =>
      risingForecast(`${source}|${table}|${b}||node${i < 4 ? 0 : 1}`, origin, now, 5, i === 1 || i === 2 ? 6.5 : 0.1),
    ),
    risingForecast(`${source}|*|*||node0`, origin, now, 40, 13),
    risingForecast(`${source}|*|*||node1`, origin, now, 15, 0.2),
  ];
  const ch = createClickHouse(cfg);
  await ensureAnalyticsSchema(ch, cfg.clickhouseDatabase);
  await insertRows(ch, cfg.clickhouseDatabase, 'aggregates', aggregates.map(aggregateRow));
  await insertRows(ch, cfg.clickhouseDatabase, 'forecasts', forecasts.flatMap(forecastRows));

  return {
    id,
    table,
    source,
    cfg,
    now,
    aggregates,
    forecasts,
    decide: { stepMs: STEP, horizonSteps: 12, decideEveryMs: STEP, split: { minSizeBytes: 0 }, actions: ['split', 'move'] },
    async recordCommand(c) {
      await insertRows(ch, cfg.clickhouseDatabase, 'commands', [commandRow(c, COMMAND_TOPICS[c.kind])]);
    },
    async cleanup() {
      const db = cfg.clickhouseDatabase;
      for (const t of ['aggregates', 'forecasts', 'commands'])
        await ch
          .command({ query: `ALTER TABLE ${db}.${t} DELETE WHERE ${t === 'commands' ? 'table_name' : 'series_id'} LIKE '%${id}%'` })
          .catch(() => undefined);
      await ch.close();
      await dropShardedTable(cfg, table).catch(() => undefined);
      // operators' controls a test set for its own scope and store
      const pool = new pg.Pool({ connectionString: cfg.pgNodes[0]!, max: 1 });
      await pool.query(`DELETE FROM shardcast_exec.controls WHERE strpos(key, $1) > 0`, [id]).catch(() => undefined);
      await pool.end();
      const driver = createCatalogDriver(cfg);
      await driver
        .executeQuery('MATCH (x) WHERE (x:Table OR x:Partition OR x:Series) AND x.id CONTAINS $id DETACH DELETE x', { id })
        .catch(() => undefined);
      await driver.executeQuery('MATCH (c:Command {table: $table}) DETACH DELETE c', { table }).catch(() => undefined);
      await driver.close();
    },
  };
}

/** The decide stage's options for the fixture's table: its source, capacity and plan, one window of warm-up, its own control scope. */
export function fixtureDecideOptions(fx: ConsoleFixture, group: string): DecideOptions {
  return {
    groupId: `${group}-decide`,
    source: fx.source,
    nodeCapacity: CAPACITY,
    warmupWindows: 1,
    decide: fx.decide,
    controlScope: fx.id,
  };
}
