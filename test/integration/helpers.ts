/** Shared helpers for integration tests: config, unique names, bounded waits. */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import type { Admin, Kafka } from '../../lib/kafkajs.js';
import { TOPICS } from '../../schemas/topics.js';
import { loadConfig, type Config } from '../../lib/config.js';
import type { WorkloadAggregate, Forecast } from '../../schemas/types.js';
import { createOrdersTable } from '../../demo/ordersTable.js';
import { readAll, seedRows } from '../../demo/workload.js';
import { readPrecomputed } from '../../executors/postgres/design.js';
import { listNodes } from '../../stores/postgres/routing.js';
import type { PgPools } from '../../stores/postgres/nodes.js';
import type pg from 'pg';

export const cfg: Config = loadConfig();

export const uniq = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;

/** Polls `check` until it returns a value that is not undefined, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** Null when PostgreSQL node 0 (where the executor ledger lives) answers, else why not. */
export async function ledgerUnreachable(): Promise<string | null> {
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: cfg.pgNodes[0]!, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.end();
    return null;
  } catch (err) {
    return `PostgreSQL node ${cfg.pgNodes[0]} (the ledger) unreachable: ${(err as Error).message}`;
  }
}

/** Null when the three PostgreSQL shard nodes of the config answer, else why not. */
export async function shardNodesUnreachable(): Promise<string | null> {
  if (cfg.pgNodes.length < 3) return `needs 3 PostgreSQL nodes, config has ${cfg.pgNodes.length}`;
  const { default: pg } = await import('pg');
  for (const url of cfg.pgNodes) {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
    try {
      await c.connect();
      await c.end();
    } catch (err) {
      return `PostgreSQL node ${url} unreachable (${(err as Error).message}); start the stack (shardcast stack up) or set PG_NODES`;
    }
  }
  return null;
}

/** A workload aggregate with plausible defaults for what a test does not care about. */
export function aggregateOf(
  a: Pick<WorkloadAggregate, 'seriesId' | 'source' | 'windowStart' | 'windowEnd' | 'queries'> & Partial<WorkloadAggregate>,
): WorkloadAggregate {
  return {
    table: null,
    keyBucket: null,
    partition: null,
    node: null,
    reads: a.queries,
    writes: 0,
    rowsRead: a.queries,
    rowsWritten: 0,
    errors: 0,
    unparsed: 0,
    lateMerged: 0,
    latencySumMs: a.queries,
    latencyP50Ms: 1,
    latencyP95Ms: 2,
    latencyP99Ms: 3,
    hotKeys: [],
    coAccess: [],
    ...a,
  };
}

/** Commits the end of each topic for a new group, so it starts with what arrives from now on. */
export async function startAtLatest(admin: Admin, groupId: string, topics: string[]): Promise<void> {
  for (const topic of topics) {
    const ends = await admin.fetchTopicOffsets(topic);
    await admin.setOffsets({ groupId, topic, partitions: ends.map((e) => ({ partition: e.partition, offset: e.high })) });
  }
}

/** A decide stage's group started at the ends of its input topics: it plans on what the test publishes. */
export async function decideFromLatest(kafka: Kafka, groupId: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await startAtLatest(admin, groupId, [TOPICS.forecasts.name, TOPICS.aggregates.name, TOPICS.results.name]);
  } finally {
    await admin.disconnect();
  }
}

export { queryEvent } from '../fixtures/records.js';

/** An `orders`-shaped table (replaced if present) of two shards, s0 [.., splitAt) on node0 and s1 [splitAt, ..) on node1, seeded with keys [0, rows). */
export async function seededTwoShardOrders(table: string, splitAt: number, rows: number): Promise<void> {
  await createOrdersTable(
    cfg,
    table,
    [
      { shard: 's0', lo: null, hi: splitAt, node: 'node0' },
      { shard: 's1', lo: splitAt, hi: null, node: 'node1' },
    ],
    { replace: true },
  );
  await seedRows(cfg, table, 0, rows);
}

/** Asserts that precomputation `name` of `table` holds one group per customer with the count and sum of amount of its rows. */
export async function assertPrecomputedSums(pools: PgPools, coord: pg.Pool, table: string, name: string): Promise<void> {
  const want = new Map<string, { n: number; total: number }>();
  for (const r of (await readAll(cfg, table)).rows.values()) {
    const g = want.get(r.customer_id!) ?? { n: 0, total: 0 };
    g.n++;
    g.total += Number(r.amount);
    want.set(r.customer_id!, g);
  }
  const got = await readPrecomputed(
    { pools, coord, urlOf: async (node) => (await listNodes(coord)).find((x) => x.node === node)!.url },
    table,
    name,
  );
  assert.ok(want.size > 1);
  assert.equal(got.size, want.size, 'one precomputed group per customer');
  for (const [g, w] of want) {
    assert.equal(got.get(g)?.n, w.n, `count of group ${g}`);
    assert.ok(Math.abs((got.get(g)!.total ?? 0) - w.total) < 1e-6, `sum of group ${g}`);
  }
}

/** A test file run again as a child process (a stage instance), and the lines it printed. */
export interface ChildInstance {
  child: ChildProcess;
  lines: string[];
}

/** Runs `file` (a test's own path) as a child with `vars` set, collecting its stdout lines; its stderr is inherited. */
export function launchChild(file: string, vars: Record<string, string>): ChildInstance {
  const child = spawn(process.execPath, ['--import', 'tsx', file], {
    env: { ...process.env, ...vars, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const inst: ChildInstance = { child, lines: [] };
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    inst.lines.push(...parts);
  });
  return inst;
}

/** Whether a child's line is one of its counter reports (left out of failure messages). */
export const isStatLine = (l: string) => l.startsWith('STATS');

/**
 * Field `field` (1-based after the tag) of the last `STATS a b c` line a child printed: the
 * counters a scale-out child reports every half second. 0 before its first report.
 */
export function lastStat(i: ChildInstance, field: number): number {
  return Number(i.lines.filter(isStatLine).at(-1)?.split(' ')[field] ?? 0);
}

/** How far two forecasts of one (series, origin) are apart: the largest relative gap of a point, lower or upper bound. */
export function forecastDifference(a: Forecast, b: Forecast): number {
  let d = 0;
  for (const [h, p] of a.points.entries()) {
    const q = b.points[h];
    if (!q) return Number.POSITIVE_INFINITY;
    for (const [x, y] of [
      [p.predicted, q.predicted],
      [p.lower, q.lower],
      [p.upper, q.upper],
    ] as const)
      d = Math.max(d, Math.abs(x - y) / Math.max(1, Math.abs(x)));
  }
  return d;
}
