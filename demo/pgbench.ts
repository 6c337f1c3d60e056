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
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
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
 * Zipfian over the hot range (pgbench's `random_zipfian`). Nodes are rated by their share.
 */
export function segmentScripts(
  table: string,
  shards: readonly ShardRoute[],
  keyspace: [number, number],
  hot: HotSpot,
  totalRate: number,
): NodeScripts[] {
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
    const n = byNode.get(s.node) ?? { node: s.node, rate: 0, scripts: [] };
    const phys = physicalName(table, s.shard);
    const bgRate = totalRate * (1 - hot.share) * (width / total);
    n.scripts.push({
      name: `${s.shard}-bg`,
      weight: bgRate,
      text: `\\set k random(${lo}, ${hi - 1})\nSELECT id, amount FROM ${phys} WHERE id = :k;\n`,
    });
    // the part of the hot range this shard holds
    const hLo = Math.max(lo, hot.lo);
    const hHi = Math.min(hi, hot.lo + hot.width);
    if (hHi > hLo) {
      const hotRate = totalRate * hot.share * ((hHi - hLo) / hot.width);
      n.scripts.push({
        name: `${s.shard}-hot`,
        weight: hotRate,
        text: `\\set r random_zipfian(1, ${hHi - hLo}, 1.1)\n\\set k ${hLo} + :r - 1\nSELECT id, amount FROM ${phys} WHERE id = :k;\n`,
      });
    }
    n.rate += bgRate + (hHi > hLo ? totalRate * hot.share * ((hHi - hLo) / hot.width) : 0);
    byNode.set(s.node, n);
  }
  return [...byNode.values()];
}

export interface PgbenchResult {
  node: string;
  transactions: number;
  failed: boolean;
  detail: string;
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
        if (!url || scripts.length === 0 || p.rate < 1) return { node: p.node, transactions: 0, failed: false, detail: 'idle' };
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
          };
        } catch (err) {
          const e = err as { stdout?: string; stderr?: string; message: string };
          const done = Number(e.stdout?.match(/number of transactions actually processed: (\d+)/)?.[1] ?? 0);
          return {
            node: p.node,
            transactions: done,
            failed: true,
            detail: (e.stderr ?? e.message).split('\n').find((l) => l.trim()) ?? e.message,
          };
        }
      }),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
