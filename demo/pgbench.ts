/**
 * A real workload client for the demo: PostgreSQL's own `pgbench`, run against every shard node
 * with custom skewed scripts. Time is cut into short segments; for each segment the driver reads
 * the routing map (so traffic follows the shards after a move or split), writes one script per
 * shard hosted on a node, weights them so that a Zipfian hotspot gets most of the traffic, and
 * runs one rate-limited pgbench per node (`-R`, the rate following a compressed day).
 *
 * pgbench only reads (point SELECTs on the shard's physical table): writes come from a
 * router-aware client whose acknowledged rows are verified afterwards, since a dumb client that
 * kept writing to a shard's old location after a move would be writing into a table about to be
 * dropped. What pgbench runs reaches shardcast the way any client's queries would: through the
 * nodes' statement logs and the csvlog collector.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { pgBinDir } from '../infra/services/postgres.js';
import { physicalName } from '../stores/postgres/keys.js';
import type { ShardRoute } from '../stores/postgres/routing.js';
import { UnavailableError } from '../lib/errors.js';

const run = promisify(execFile);

export interface HotSpot {
  /** First key of the hot range and its width. */
  lo: number;
  width: number;
  /** Share of the traffic that goes to the hot range (0..1). */
  share: number;
}

export interface NodeScripts {
  node: string;
  /** Transactions per second for this node's pgbench. */
  rate: number;
  scripts: { name: string; text: string; weight: number }[];
}

/**
 * The scripts for one segment (pure): each shard gets background traffic proportional to its
 * key span, and the shard holding the hotspot gets `share` of the total on top, drawn from a
 * Zipfian over the hot range (pgbench's `random_zipfian`). A shard's replicas share its reads
 * with it. Nodes are rated by their share.
 */
export function segmentScripts(
  table: string,
  shards: readonly ShardRoute[],
  keyspace: [number, number],
  hot: HotSpot,
  totalRate: number,
  /** Time each statement holds its connection on the node (`pg_sleep`): the node's service time. */
  serviceMs = 0,
  /** The orders application's reports (below), as a share of `totalRate` on top of it; 0: none. */
  reportShare = 0,
): NodeScripts[] {
  const busy = serviceMs > 0 ? `, pg_sleep(${(serviceMs / 1000).toFixed(3)})` : '';
  const [kLo, kHi] = keyspace;
  const span = (s: ShardRoute) => {
    const lo = Math.max(kLo, s.lo === null ? kLo : Number(s.lo));
    const hi = Math.min(kHi, s.hi === null ? kHi : Number(s.hi));
    return { lo, hi, width: Math.max(0, hi - lo) };
  };
  const total = kHi - kLo;
  const byNode = new Map<string, NodeScripts>();
  for (const s of shards) {
    const { lo, hi, width } = span(s);
    if (width <= 0) continue;
    const phys = physicalName(table, s.shard);
    const scripts: NodeScripts['scripts'] = [
      {
        name: `${s.shard}-bg`,
        weight: totalRate * (1 - hot.share) * (width / total),
        text: `\\set k random(${lo}, ${hi - 1})\nSELECT id, amount${busy} FROM ${phys} WHERE id = :k;\n`,
      },
    ];
    // the part of the hot range this shard holds
    const hLo = Math.max(lo, hot.lo);
    const hHi = Math.min(hi, hot.lo + hot.width);
    if (hHi > hLo)
      scripts.push({
        name: `${s.shard}-hot`,
        weight: totalRate * hot.share * ((hHi - hLo) / hot.width),
        text: `\\set r random_zipfian(1, ${hHi - hLo}, 1.1)\n\\set k ${hLo} + :r - 1\nSELECT id, amount${busy} FROM ${phys} WHERE id = :k;\n`,
      });
    const reportRate = totalRate * reportShare * (width / total);
    if (reportRate > 0) scripts.push(...reportScripts(s.shard, phys, reportRate));
    // every statement only reads: the shard's replicas take an equal share, as the routing
    // client sends reads that allow staleness
    const holders = [s.node, ...s.replicas.filter((r) => r !== s.node)];
    for (const node of holders) {
      const n = byNode.get(node) ?? { node, rate: 0, scripts: [] };
      for (const sc of scripts) {
        n.scripts.push({ ...sc, name: node === s.node ? sc.name : `${sc.name}-on-${node}`, weight: sc.weight / holders.length });
        n.rate += sc.weight / holders.length;
      }
      byNode.set(node, n);
    }
  }
  return [...byNode.values()];
}

/**
 * The orders application's reports on one shard, half each: a customer's recent orders (filtered
 * on two columns no index leads with) and the amount per customer (an aggregate over the shard).
 * They scan the shard, which is their cost: no service time is added.
 */
function reportScripts(shard: string, phys: string, rate: number): NodeScripts['scripts'] {
  return [
    {
      name: `${shard}-recent`,
      weight: rate / 2,
      text: `\\set c random(0, 96)\nSELECT id, amount FROM ${phys} WHERE customer_id = :c AND updated_at > timestamptz '2024-01-01 06:00:00+00';\n`,
    },
    { name: `${shard}-totals`, weight: rate / 2, text: `SELECT customer_id, sum(amount) FROM ${phys} GROUP BY customer_id;\n` },
  ];
}

export interface PgbenchResult {
  node: string;
  transactions: number;
  failed: boolean;
  detail: string;
  /** Each transaction's latency as its client saw it (ms, schedule lag included); empty unless asked for. */
  latenciesMs: number[];
}

/**
 * Latencies from a pgbench per-transaction log (`-l`): `client_id transaction_no time script_no
 * time_epoch time_us [schedule_lag]`, times in microseconds. Under `-R` a transaction's latency
 * for its client is its run time plus how late it started (the schedule lag); lines whose time is
 * not a number (failed or skipped transactions) are counted apart.
 */
export function parsePgbenchLog(text: string): { latenciesMs: number[]; failed: number } {
  const latenciesMs: number[] = [];
  let failed = 0;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6) continue;
    const time = Number(f[2]);
    const lag = f.length > 6 ? Number(f[6]) : 0;
    if (!Number.isFinite(time) || !Number.isFinite(lag)) failed++;
    else latenciesMs.push((time + lag) / 1000);
  }
  return { latenciesMs, failed };
}

/**
 * Runs one segment: a pgbench per node for `seconds`, concurrently; resolves with what each
 * processed. A failing pgbench (e.g. a shard table dropped under it after a move) is reported,
 * not thrown: the next segment follows the new routing.
 */
export async function runSegment(
  nodeUrls: ReadonlyMap<string, string>,
  plan: readonly NodeScripts[],
  seconds: number,
  appName = 'pgbench-demo',
  opts: { latencies?: boolean } = {},
): Promise<PgbenchResult[]> {
  const bin = pgBinDir();
  if (!bin)
    throw new UnavailableError('pgbench not found: install the PostgreSQL 15 server package (postgresql-15) or set SHARDCAST_PG_BIN');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'shardcast-pgbench-'));
  try {
    return await Promise.all(
      plan.map(async (p): Promise<PgbenchResult> => {
        const url = nodeUrls.get(p.node);
        const scripts = p.scripts.filter((s) => s.weight > 0);
        if (!url || scripts.length === 0 || p.rate < 1)
          return { node: p.node, transactions: 0, failed: false, detail: 'idle', latenciesMs: [] };
        const files: string[] = [];
        const sum = scripts.reduce((a, s) => a + s.weight, 0);
        for (const s of scripts) {
          const f = path.join(dir, `${p.node}-${s.name}.sql`);
          await writeFile(f, s.text);
          files.push('-f', `${f}@${Math.max(1, Math.round((1000 * s.weight) / sum))}`);
        }
        const u = new URL(url);
        const args = [
          '-h',
          u.hostname,
          '-p',
          u.port || '5432',
          '-U',
          decodeURIComponent(u.username || 'postgres'),
          '-n',
          '-c',
          '2',
          '-j',
          '1',
          '-T',
          String(seconds),
          '-R',
          String(Math.max(1, Math.round(p.rate))),
          ...(opts.latencies ? ['-l', `--log-prefix=${path.join(dir, `log-${p.node}`)}`] : []),
          ...files,
          u.pathname.slice(1) || 'postgres',
        ];
        try {
          const { stdout } = await run(path.join(bin, 'pgbench'), args, {
            env: { ...process.env, PGAPPNAME: appName },
            timeout: (seconds + 30) * 1000,
          });
          return {
            node: p.node,
            transactions: Number(stdout.match(/number of transactions actually processed: (\d+)/)?.[1] ?? 0),
            failed: false,
            detail: 'ok',
            latenciesMs: opts.latencies ? await readLatencies(dir, p.node) : [],
          };
        } catch (err) {
          const e = err as { stdout?: string; stderr?: string; message: string };
          const done = Number(e.stdout?.match(/number of transactions actually processed: (\d+)/)?.[1] ?? 0);
          return {
            node: p.node,
            transactions: done,
            failed: true,
            detail: (e.stderr ?? e.message).split('\n').find((l) => l.trim()) ?? e.message,
            latenciesMs: opts.latencies ? await readLatencies(dir, p.node) : [],
          };
        }
      }),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The latencies in a node's per-transaction logs (one file per pgbench thread: `log-<node>.<pid>[.<thread>]`). */
async function readLatencies(dir: string, node: string): Promise<number[]> {
  const out: number[] = [];
  for (const f of (await readdir(dir)).filter((f) => f.startsWith(`log-${node}.`)))
    out.push(...parsePgbenchLog(await readFile(path.join(dir, f), 'utf8')).latenciesMs);
  return out;
}
