/**
 * PostgreSQL 15 shard nodes: config pgNodeCount instances on 127.0.0.1:pgBasePort+i, each its
 * own cluster in <stackDir>/pg/node<i>, started with pg_ctl. Debian packages postgresql-15 /
 * postgresql-contrib (apt-get when missing and root).
 *
 * PostgreSQL refuses to run as root: when we are root the clusters belong to the `postgres`
 * system user (<stackDir>/pg is chowned to it; the rest of the path must be reachable).
 * Each node: trust auth on loopback only (no Unix socket), a `shardcast` superuser (LOGIN,
 * REPLICATION) and a `shardcast` database with pg_stat_statements, wal_level=logical,
 * max_wal_senders / max_replication_slots 16, and a csvlog of every statement with its
 * duration (log_min_duration_statement=0) in <stackDir>/pg/node<i>/log/*.csv, timestamps in UTC,
 * for the telemetry collector (collectors/pglog.ts). Our settings live in
 * shardcast.conf, included from postgresql.conf, so ALTER SYSTEM can still override them.
 */
import { chownSync, existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../../lib/config.js';
import { firstExisting, run, writePidFile } from '../process.js';
import { logFileOf, ourProcess, pidFileOf, stopOurs, withTimeout, type Log, type Service } from '../service.js';
import { aptInstall } from '../toolchain.js';
import { STATEMENT_LOG_CONF } from '../../stores/postgres/statementLog.js';
import { UnavailableError, UsageError } from '../../lib/errors.js';

export const PG_MAJOR = 15;

/** Directory with initdb / pg_ctl / postgres (SHARDCAST_PG_BIN overrides). */
export function pgBinDir(): string | null {
  const candidates = [process.env.SHARDCAST_PG_BIN, `/usr/lib/postgresql/${PG_MAJOR}/bin`, '/usr/local/pgsql/bin'].filter(
    (d): d is string => !!d,
  );
  return candidates.find((d) => existsSync(path.join(d, 'pg_ctl')) && existsSync(path.join(d, 'initdb'))) ?? null;
}

function hasPgStatStatements(bin: string): boolean {
  return !!firstExisting([
    `/usr/lib/postgresql/${PG_MAJOR}/lib/pg_stat_statements.so`,
    path.join(bin, '..', 'lib', 'pg_stat_statements.so'),
    path.join(bin, '..', 'lib', 'postgresql', 'pg_stat_statements.so'),
  ]);
}

export const pgRoot = (cfg: Config) => path.join(cfg.stackDir, 'pg');
export const pgDataDir = (cfg: Config, i: number) => path.join(pgRoot(cfg), `node${i}`);
export const pgNodeName = (i: number) => `pg-node${i}`;
const nodePort = (cfg: Config, i: number) => cfg.pgBasePort + i;

interface RunAs {
  uid?: number;
  gid?: number;
  user: string;
}

let runAsCache: RunAs | null = null;

/** Who owns and runs the clusters: ourselves, or `postgres` when we are root. */
export async function runAs(log: Log): Promise<RunAs> {
  if (runAsCache) return runAsCache;
  if (process.getuid?.() !== 0) {
    runAsCache = { user: process.env.USER ?? 'current user' };
    return runAsCache;
  }
  const id = async (flag: string) => Number((await run('id', [flag, 'postgres'], { what: 'postgres user' })).stdout.trim());
  try {
    runAsCache = { uid: await id('-u'), gid: await id('-g'), user: 'postgres' };
  } catch {
    log('postgres: creating system user postgres');
    await run('useradd', ['--system', '--user-group', '--home-dir', '/var/lib/postgresql', '--shell', '/bin/bash', 'postgres'], {
      what: 'postgres user',
    });
    runAsCache = { uid: await id('-u'), gid: await id('-g'), user: 'postgres' };
  }
  return runAsCache;
}

function chownTo(who: RunAs, file: string): void {
  if (who.uid !== undefined && who.gid !== undefined) chownSync(file, who.uid, who.gid);
}

export function pgHbaConf(): string {
  return [
    '# Written by shardcast (infra/services/postgres.ts): loopback only, trust.',
    '# TYPE  DATABASE     USER  ADDRESS        METHOD',
    'local   all          all                  trust',
    'host    all          all   127.0.0.1/32   trust',
    'host    all          all   ::1/128        trust',
    'local   replication  all                  trust',
    'host    replication  all   127.0.0.1/32   trust',
    'host    replication  all   ::1/128        trust',
    '',
  ].join('\n');
}

export function shardcastConf(port: number): string {
  return [
    '# Written by shardcast (infra/services/postgres.ts) on every start; edit that file instead.',
    '# Included from postgresql.conf; ALTER SYSTEM (postgresql.auto.conf) still overrides these.',
    "listen_addresses = '127.0.0.1'",
    `port = ${port}`,
    "unix_socket_directories = ''",
    'max_connections = 100',
    "shared_buffers = '64MB'",
    'wal_level = logical',
    'max_wal_senders = 16',
    'max_replication_slots = 16',
    'max_worker_processes = 16',
    'max_logical_replication_workers = 8',
    "shared_preload_libraries = 'pg_stat_statements'",
    'pg_stat_statements.track = all',
    'track_io_timing = on',
    ...STATEMENT_LOG_CONF,
    "timezone = 'UTC'",
    "lc_messages = 'C'",
    '',
  ].join('\n');
}

const INCLUDE_LINE = "include_if_exists = 'shardcast.conf'";

/** Runs `fn` with a connected pg client on `url`, then closes it. */
async function withClient<T>(url: string, fn: (c: import('pg').Client) => Promise<T>): Promise<T> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function installPostgres(log: Log): Promise<string> {
  let bin = pgBinDir();
  if (bin && hasPgStatStatements(bin)) return bin;
  await aptInstall([`postgresql-${PG_MAJOR}`, 'postgresql-contrib'], 'postgres', log);
  bin = pgBinDir();
  if (!bin)
    throw new UnavailableError(`postgres: PostgreSQL ${PG_MAJOR} binaries still not found after apt-get install postgresql-${PG_MAJOR}`);
  return bin;
}

/** One PostgreSQL shard node as a stack service. */
export function postgresNode(i: number): Service {
  const name = pgNodeName(i);
  return {
    name,
    startTimeoutMs: 90_000,
    installKind: 'os',
    endpoint: (cfg) => cfg.pgNodes[i] ?? '',
    isExternal: (cfg) => cfg.external.postgres,
    ports: (cfg) => [nodePort(cfg, i)],
    logFile: (cfg) => logFileOf(cfg, name),

    async install(_cfg, log: Log) {
      await installPostgres(log);
    },

    async start(cfg, log: Log) {
      const bin = pgBinDir();
      if (!bin) throw new UnavailableError(`postgres: PostgreSQL ${PG_MAJOR} not found; install postgresql-${PG_MAJOR} (infra/install.sh)`);
      const who = await runAs(log);
      const root = pgRoot(cfg);
      const data = pgDataDir(cfg, i);
      const port = nodePort(cfg, i);
      const asUser = { uid: who.uid, gid: who.gid };
      const env = { PATH: `${bin}:/usr/bin:/bin`, LANG: 'C', LC_ALL: 'C', HOME: root };

      mkdirSync(root, { recursive: true });
      chownTo(who, root);
      try {
        await run('test', ['-w', root, '-a', '-x', root], { ...asUser, what: name });
      } catch {
        throw new UsageError(
          `${name}: PostgreSQL runs as user ${who.user}, which cannot write ${root}; every directory above it must be searchable by ${who.user} ` +
            `(or set SHARDCAST_STACK_DIR to a path it can reach)`,
        );
      }

      if (!existsSync(path.join(data, 'PG_VERSION'))) {
        await rm(data, { recursive: true, force: true }); // a half-made cluster from an interrupted initdb
        mkdirSync(data, { mode: 0o700 });
        chownTo(who, data);
        log(`${name}: initdb ${data}`);
        await run(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C'], {
          ...asUser,
          env,
          what: `${name} initdb`,
          timeoutMs: 180_000,
        });
      }

      const hba = path.join(data, 'pg_hba.conf');
      writeFileSync(hba, pgHbaConf());
      chownTo(who, hba);
      const ours = path.join(data, 'shardcast.conf');
      writeFileSync(ours, shardcastConf(port));
      chownTo(who, ours);
      const main = path.join(data, 'postgresql.conf');
      const mainText = readFileSync(main, 'utf8');
      if (!mainText.includes(INCLUDE_LINE)) writeFileSync(main, `${mainText.trimEnd()}\n\n# shardcast local stack\n${INCLUDE_LINE}\n`);

      const logFile = this.logFile(cfg);
      mkdirSync(path.dirname(logFile), { recursive: true });
      closeSync(openSync(logFile, 'a'));
      chownTo(who, logFile);

      await run(path.join(bin, 'pg_ctl'), ['-D', data, '-l', logFile, '-w', '-t', '90', 'start'], {
        ...asUser,
        env,
        what: `${name} pg_ctl start`,
        timeoutMs: 120_000,
      });
      const pid = Number(readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      await writePidFile(pidFileOf(cfg, name), pid, `${path.join(bin, 'postgres')} -D ${data}`);

      // The `shardcast` role and database (idempotent, so every start repairs a half-made node).
      const base = `postgres://postgres@127.0.0.1:${port}`;
      await withClient(`${base}/postgres`, async (c) => {
        const role = await c.query("SELECT 1 FROM pg_roles WHERE rolname = 'shardcast'");
        if (role.rowCount === 0) await c.query('CREATE ROLE shardcast SUPERUSER LOGIN REPLICATION');
        const db = await c.query("SELECT 1 FROM pg_database WHERE datname = 'shardcast'");
        if (db.rowCount === 0) await c.query('CREATE DATABASE shardcast OWNER shardcast');
      });
      await withClient(`${base}/shardcast`, (c) => c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements'));
    },

    async health(cfg) {
      const url = cfg.pgNodes[i];
      if (!url) return false;
      const { default: pg } = await import('pg');
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000, query_timeout: 2000 });
      try {
        await withTimeout(client.connect(), 2500, `${name} health`);
        const r = await client.query('SELECT 1 AS ok');
        return r.rows[0]?.ok === 1;
      } catch {
        return false;
      } finally {
        await withTimeout(client.end(), 1000, `${name} close`).catch(() => undefined);
      }
    },

    async stop(cfg) {
      // SIGINT = PostgreSQL's "fast" shutdown (disconnect clients, checkpoint); SIGQUIT = immediate.
      await stopOurs(cfg, name, { signals: ['SIGINT', 'SIGQUIT', 'SIGKILL'], timeoutMs: 30_000 });
    },
  };
}

/** The shard nodes the config names (local ones: pgNodeCount from pgBasePort). */
export function postgresNodes(cfg: Config): Service[] {
  return cfg.pgNodes.map((_, i) => postgresNode(i));
}

/** Live postmaster pid of node `i` if we started it (for status and tests). */
export async function pgNodePid(cfg: Config, i: number): Promise<number | null> {
  return (await ourProcess(cfg, pgNodeName(i)))?.pid ?? null;
}

/** True when the data directory of node `i` exists and looks initialised. */
export function pgNodeInitialised(cfg: Config, i: number): boolean {
  try {
    return statSync(path.join(pgDataDir(cfg, i), 'PG_VERSION')).isFile();
  } catch {
    return false;
  }
}
