/**
 * ResourceCommand adapter for the local stack (storeKind 'postgres'): scale_out starts one more
 * PostgreSQL 15 shard node (initdb under `<stackDir>/pg-nodes/<node>`, pg_ctl start as the
 * `postgres` OS user when running as root, since postgres refuses to run as root) and registers
 * it in the routing map's node table; scale_in stops a node this adapter started once it holds
 * no shards and no replicas. Nodes named by the config (the stack's own) are never stopped here.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, chown, mkdir, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { STATEMENT_LOG_CONF } from '../../stores/postgres/statementLog.js';
import type { AnyCommand } from '../../schemas/types.js';
import { localPgUrl } from '../../lib/config.js';
import { ensureNodeSupport, ensureRoutingSchema } from '../../stores/postgres/setup.js';
import { listNodes, type NodeInfo } from '../../stores/postgres/routing.js';
import { nodeIndex, nodeName, pgAnswers, PgPools, q } from '../../stores/postgres/nodes.js';
import type { ExecutionContext, Outcome, StoreAdapter } from '../types.js';

const run = promisify(execFile);

export interface LocalResourceOptions {
  /** PostgreSQL binaries (default /usr/lib/postgresql/15/bin). */
  binDir?: string;
  /** First port tried for a new node (default: the config's base port + 50). */
  firstPort?: number;
}

/** Is `port` free on 127.0.0.1? */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export class LocalPgResourceAdapter implements StoreAdapter {
  readonly name = 'local-postgres-resources';
  private readonly pools = new PgPools({ executor: true, max: 2 });
  private readonly binDir: string;
  private readonly asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

  private constructor(
    private readonly cfg: { pgNodes: string[]; stackDir: string; pgBasePort?: number },
    private readonly opts: LocalResourceOptions,
  ) {
    this.binDir = opts.binDir ?? '/usr/lib/postgresql/15/bin';
  }

  static async open(
    cfg: { pgNodes: string[]; stackDir: string; pgBasePort?: number },
    opts: LocalResourceOptions = {},
  ): Promise<LocalPgResourceAdapter> {
    const a = new LocalPgResourceAdapter(cfg, opts);
    await ensureRoutingSchema(a.coord, cfg.pgNodes);
    return a;
  }

  private get coord() {
    return this.pools.get(this.cfg.pgNodes[0]!);
  }

  handles(cmd: AnyCommand): boolean {
    return cmd.kind === 'resource' && cmd.storeKind === 'postgres' && (cmd.action === 'scale_out' || cmd.action === 'scale_in');
  }

  async validate(cmd: AnyCommand): Promise<string | null> {
    if (cmd.kind !== 'resource') return 'not a resource command';
    const nodes = await listNodes(this.coord);
    const byName = new Map(nodes.map((n) => [n.node, n]));
    if (cmd.action === 'scale_out') {
      if (cmd.node !== null) {
        if (nodeIndex(cmd.node) === null) return `node ${JSON.stringify(cmd.node)} is not a node<k> name`;
        const n = byName.get(cmd.node);
        // 'active' in the routing map but not answering (its process died, the machine
        // restarted): scale_out starts it again from its data directory.
        if (n && n.state === 'active' && (await pgAnswers(n.url))) return `node ${cmd.node} is already running`;
        if (n && !n.managedDir) return `node ${cmd.node} belongs to the stack, not to this adapter`;
      }
      if (cmd.params.port !== undefined) {
        const p = Number(cmd.params.port);
        if (!/^[0-9]{4,5}$/.test(cmd.params.port) || p < 1024 || p > 65000)
          return `port ${JSON.stringify(cmd.params.port)} is not in 1024..65000`;
        if (!(await portFree(p))) return `port ${p} is in use`;
      }
      return null;
    }
    if (cmd.node === null) return 'scale_in names no node';
    const n = byName.get(cmd.node);
    if (!n) return `unknown node ${JSON.stringify(cmd.node)}`;
    if (!n.managedDir) return `node ${cmd.node} belongs to the stack (config), not to this adapter; it is not stopped`;
    if (n.state !== 'active') return `node ${cmd.node} is ${n.state}`;
    const held = await this.holdings(cmd.node);
    if (held > 0) return `node ${cmd.node} still holds ${held} shard(s) or replica(s); move them first`;
    return null;
  }

  private async holdings(node: string): Promise<number> {
    const rows = await q<{ n: string }>(
      this.coord,
      `SELECT (SELECT count(*) FROM shardcast_route.ranges WHERE node = $1) + (SELECT count(*) FROM shardcast_route.replicas WHERE node = $1) AS n`,
      [node],
    );
    return Number(rows[0]!.n);
  }

  private async pgBin(tool: string, args: string[]): Promise<string> {
    const bin = path.join(this.binDir, tool);
    const { stdout } = this.asRoot
      ? await run('runuser', ['-u', 'postgres', '--', bin, ...args], { cwd: '/tmp' })
      : await run(bin, args, { cwd: '/tmp' });
    return stdout;
  }

  async execute(cmd: AnyCommand, ctx: ExecutionContext): Promise<Outcome> {
    if (cmd.kind !== 'resource') return { status: 'FAILED', reason: 'not a resource command' };
    return cmd.action === 'scale_out' ? this.scaleOut(cmd.node, cmd.params, ctx) : this.scaleIn(cmd.node!, cmd.params);
  }

  private async scaleOut(requested: string | null, params: Record<string, string>, ctx: ExecutionContext): Promise<Outcome> {
    const t0 = Date.now();
    const nodes = await listNodes(this.coord);
    const known = new Map(nodes.map((n) => [n.node, n]));
    let name = requested;
    if (name === null) {
      for (let k = nodes.length; ; k++)
        if (!known.has(nodeName(k))) {
          name = nodeName(k);
          break;
        }
    }
    const prior: NodeInfo | undefined = known.get(name);
    const dir = prior?.managedDir ?? path.join(this.cfg.stackDir, 'pg-nodes', name);
    let port = prior?.port ?? (params.port ? Number(params.port) : 0);
    if (!port) {
      const used = new Set(nodes.map((n) => n.port));
      port = this.opts.firstPort ?? (this.cfg.pgBasePort ?? 5433) + 50;
      while (used.has(port) || !(await portFree(port))) port++;
    }
    const url = localPgUrl(port);
    const created = !existsSync(path.join(dir, 'PG_VERSION'));
    try {
      if (created) {
        await mkdir(path.dirname(dir), { recursive: true, mode: 0o755 });
        await mkdir(dir, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'EEXIST') throw e;
        });
        if (this.asRoot) {
          const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
          const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
          await chown(dir, uid, gid);
        }
        await this.pgBin('initdb', ['-D', dir, '-U', 'shardcast', '--auth=trust', '-E', 'UTF8', '--no-sync']);
        await appendFile(
          path.join(dir, 'postgresql.conf'),
          [
            `port = ${port}`,
            `listen_addresses = '127.0.0.1'`,
            `unix_socket_directories = '${dir}'`,
            'wal_level = logical',
            '',
            '# shardcast scale_out node',
            'max_wal_senders = 20',
            'max_replication_slots = 20',
            'max_logical_replication_workers = 8',
            'shared_buffers = 32MB',
            // logged like the stack's nodes, so the collector sees this node's statements too
            ...STATEMENT_LOG_CONF,
            '',
          ].join('\n'),
        );
      }
      await ctx.report({ status: 'RUNNING', progress: 0.4, details: { node: name, phase: 'starting', dir } });
      await this.pgBin('pg_ctl', ['-D', dir, '-l', path.join(dir, 'server.log'), '-w', '-t', '60', 'start']);
      const admin = new pg.Client({ connectionString: `postgres://shardcast@127.0.0.1:${port}/postgres` });
      await admin.connect();
      try {
        const has = await admin.query(`SELECT 1 FROM pg_database WHERE datname = 'shardcast'`);
        if (has.rowCount === 0) await admin.query('CREATE DATABASE shardcast');
      } finally {
        await admin.end();
      }
      await ensureNodeSupport(this.pools.get(url));
      await q(
        this.coord,
        `INSERT INTO shardcast_route.nodes (node, url, state, managed_dir, port) VALUES ($1, $2, 'active', $3, $4)
         ON CONFLICT (node) DO UPDATE SET url = EXCLUDED.url, state = 'active', managed_dir = EXCLUDED.managed_dir, port = EXCLUDED.port`,
        [name, url, dir, port],
      );
      return {
        status: 'SUCCEEDED',
        verified: true,
        details: { node: name, url, dir, port: String(port), startMs: String(Date.now() - t0), initdb: String(created) },
      };
    } catch (err) {
      const reason = (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
      await this.pgBin('pg_ctl', ['-D', dir, '-m', 'fast', '-w', 'stop']).catch(() => {});
      if (created) await rm(dir, { recursive: true, force: true }).catch(() => {});
      return { status: 'ROLLED_BACK', reason: `scale_out failed: ${reason} (log: ${path.join(dir, 'server.log')})` };
    }
  }

  private async scaleIn(node: string, params: Record<string, string>): Promise<Outcome> {
    // Take the node out of placement first, then re-check it holds nothing (a move may have raced).
    await q(this.coord, `UPDATE shardcast_route.nodes SET state = 'draining' WHERE node = $1 AND state = 'active'`, [node]);
    const held = await this.holdings(node);
    if (held > 0) {
      await q(this.coord, `UPDATE shardcast_route.nodes SET state = 'active' WHERE node = $1 AND state = 'draining'`, [node]);
      return { status: 'ROLLED_BACK', reason: `node ${node} received ${held} shard(s) meanwhile; not stopped` };
    }
    const info = (await listNodes(this.coord)).find((n) => n.node === node)!;
    const url = info.url;
    try {
      await this.pgBin('pg_ctl', ['-D', info.managedDir!, '-m', 'fast', '-w', 'stop']);
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr ?? '';
      // "No such process": a stale postmaster.pid of a server that is already gone (e.g. the
      // machine restarted): it is stopped, which is what scale_in wants.
      if (!/not running|No such file|does not exist|Is server running|No such process/i.test(stderr)) {
        await q(this.coord, `UPDATE shardcast_route.nodes SET state = 'active' WHERE node = $1`, [node]);
        return { status: 'ROLLED_BACK', reason: `pg_ctl stop failed: ${stderr.trim() || (err as Error).message}` };
      }
    }
    await q(this.coord, `UPDATE shardcast_route.nodes SET state = 'stopped' WHERE node = $1`, [node]);
    if (params.purge === 'true') await rm(info.managedDir!, { recursive: true, force: true });
    return { status: 'SUCCEEDED', verified: true, details: { node, url, stopped: 'true', purged: String(params.purge === 'true') } };
  }

  /** Stops every node this adapter (or an earlier run) started; for tests and `stack down`. */
  async stopAllManaged(): Promise<void> {
    for (const n of await listNodes(this.coord)) {
      if (!n.managedDir) continue;
      await this.pgBin('pg_ctl', ['-D', n.managedDir, '-m', 'fast', '-w', 'stop']).catch(() => {});
      await q(this.coord, `UPDATE shardcast_route.nodes SET state = 'stopped' WHERE node = $1`, [n.node]);
    }
  }

  async close(): Promise<void> {
    await this.pools.end();
  }
}
