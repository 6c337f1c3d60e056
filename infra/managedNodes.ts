/**
 * PostgreSQL nodes a scale_out started (executors/resource/local.ts), in data directories under
 * <stackDir>/pg-nodes/<node>. They hold shards like the stack's own nodes, so they go down and
 * come back with the stack: `stack down` stops them (the routing map keeps them), and `stack up`
 * starts again every one the routing map still counts on (active or draining), so the shards on
 * them are served again. Before, they stayed down after `stack up` while the map listed them
 * active: their shards were unreachable until someone repeated the scale_out.
 * Nodes the map lists as stopped (scale_in) stay stopped.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { Config } from '../lib/config.js';
import { pgAnswers } from '../stores/postgres/nodes.js';
import { listNodes, type NodeInfo } from '../stores/postgres/routing.js';
import { isAlive, run, waitFor } from './process.js';
import type { Log } from './service.js';
import { pgBinDir, runAs } from './services/postgres.js';

export const managedNodesRoot = (cfg: Pick<Config, 'stackDir'>) => path.join(cfg.stackDir, 'pg-nodes');

/**
 * The scale_out nodes of this stack the routing map counts on: active or draining, with their
 * data directory under this stack's pg-nodes. None when the routing map does not exist yet.
 */
async function nodesToServe(cfg: Config): Promise<NodeInfo[]> {
  const coord = cfg.pgNodes[0];
  if (!coord) return [];
  const root = managedNodesRoot(cfg);
  const client = new pg.Client({ connectionString: coord, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const exists = await client.query(`SELECT to_regclass('shardcast_route.nodes') IS NOT NULL AS ok`);
    if (!exists.rows[0]?.ok) return [];
    const nodes = await listNodes(client);
    return nodes.filter(
      (n) =>
        n.managedDir !== null &&
        (n.state === 'active' || n.state === 'draining') &&
        path.dirname(path.resolve(n.managedDir)) === path.resolve(root) &&
        existsSync(path.join(n.managedDir, 'PG_VERSION')),
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Starts the scale_out nodes the routing map counts on that do not answer (after `stack down`
 * or a machine restart). Returns one failure line per node that would not start.
 */
export async function startManagedNodes(cfg: Config, log: Log): Promise<string[]> {
  const nodes = await nodesToServe(cfg);
  if (nodes.length === 0) return [];
  const bin = pgBinDir();
  if (!bin) return nodes.map((n) => `${n.node} (started by scale_out): PostgreSQL binaries not found`);
  const who = await runAs(log);
  const failures: string[] = [];
  for (const n of nodes) {
    if (await pgAnswers(n.url, 2_000)) continue;
    const dir = n.managedDir!;
    const t0 = Date.now();
    log(`${n.node} (started by scale_out): starting from ${dir}`);
    try {
      await run(path.join(bin, 'pg_ctl'), ['-D', dir, '-l', path.join(dir, 'server.log'), '-w', '-t', '60', 'start'], {
        uid: who.uid,
        gid: who.gid,
        cwd: '/tmp',
        env: { PATH: `${bin}:/usr/bin:/bin`, LANG: 'C', LC_ALL: 'C' },
        what: `${n.node} pg_ctl start`,
        timeoutMs: 90_000,
      });
      log(`${n.node} (started by scale_out): up in ${((Date.now() - t0) / 1000).toFixed(1)} s (${n.url})`);
    } catch (err) {
      failures.push(
        `${n.node} (started by scale_out): ${(err as Error).message.split('\n')[0]}; its shards are unreachable (log: ${path.join(dir, 'server.log')})`,
      );
    }
  }
  return failures;
}

/**
 * Stops every scale_out node of this stack, by the pid in its postmaster.pid (SIGINT: a fast
 * shutdown). The routing map keeps them; `stack up` starts them again.
 */
export async function stopManagedNodes(cfg: Pick<Config, 'stackDir'>, log: Log): Promise<string[]> {
  const root = managedNodesRoot(cfg);
  const dirs = await readdir(root).catch(() => [] as string[]);
  const failures: string[] = [];
  await Promise.all(
    dirs.map(async (d) => {
      const text = await readFile(path.join(root, d, 'postmaster.pid'), 'utf8').catch(() => null);
      const pid = text ? Number(text.split('\n')[0]) : Number.NaN;
      if (!(await isAlive(pid))) return;
      // A pid file can outlive its server and the pid be reused: only a postgres serving this
      // very directory is stopped.
      const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (!cmd.includes(path.join(root, d))) return;
      log(`${d} (started by scale_out): stopping pid ${pid}`);
      try {
        process.kill(pid, 'SIGINT');
        await waitFor(async () => !(await isAlive(pid)), 30_000, `${d} to stop`);
      } catch (err) {
        failures.push(`${d}: ${(err as Error).message}`);
      }
    }),
  );
  return failures;
}
