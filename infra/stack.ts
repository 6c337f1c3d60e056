/**
 * The local stack as a whole: `stackUp` (idempotent), `stackDown` (only what we started, by
 * pid file) and `stackStatus` (one row per service), used by `shardcast stack up|down|status`
 * and by the integration tests.
 *
 * Layout under config.stackDir (default .stack/): lib/ (jars, cached), run/<service>.pid,
 * logs/<service>.log, one data directory per service (kafka/, registry/, clickhouse/,
 * neo4j/, pg/node<i>/), and pg-nodes/<node>/ for the nodes a scale_out added, which go down
 * and come back with the stack (managedNodes.ts).
 *
 * `stackUp` brings every service whose endpoint is not given by the environment up in
 * parallel (installs of one kind one at a time: apt holds a global lock, Maven runs are heavy); a service that
 * already answers is left alone, so a second `up` only runs the health checks. Each start is
 * followed by a bounded wait for its health check; a failure names the service, its log file
 * and the log's last lines.
 */
import { mkdirSync } from 'node:fs';
import { open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../lib/config.js';
import { describePortConflict, isAlive, portTaken, readPidFile, removePidFile, runDir, tailFile, waitFor } from './process.js';
import { startManagedNodes, stopManagedNodes } from './managedNodes.js';
import { ourProcess, pidFileOf, type Log, type Service } from './service.js';
import { clickhouse } from './services/clickhouse.js';
import { kafka } from './services/kafka.js';
import { neo4j } from './services/neo4j.js';
import { postgresNodes } from './services/postgres.js';
import { registry } from './services/registry.js';
import { StateError, UnavailableError } from '../lib/errors.js';

export type ServiceState = 'up' | 'down' | 'external' | 'stale';

export interface StatusRow {
  name: string;
  state: ServiceState;
  endpoint: string;
  /** Pid of the process we started, when it is running. */
  pid?: number;
  /** Extra detail: why stale, or that the server answering is not ours. */
  note?: string;
}

export interface StackOptions {
  log?: Log;
  /** Only these services (by name) are brought up; default all. */
  only?: readonly string[];
}

/** Every service of the stack for this config, in start order. */
export function stackServices(cfg: Config): Service[] {
  return [...postgresNodes(cfg), clickhouse, kafka, registry, neo4j];
}

/** A service that failed to come up: names it, its log file, and the log's last lines. */
export class StackError extends UnavailableError {
  constructor(
    readonly service: string,
    readonly logFile: string,
    reason: string,
    tail: string,
  ) {
    super(`${service}: ${reason}\n  log: ${logFile}${tail ? `\n  last lines of the log:\n${indent(tail)}` : ''}`);
  }
}

const indent = (s: string) =>
  s
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');

async function serviceFailure(cfg: Config, s: Service, reason: string): Promise<StackError> {
  const file = s.logFile(cfg);
  return new StackError(s.name, file, reason, await tailFile(file, 25));
}

/** Serialises installs (apt holds a global lock; Maven runs are network- and CPU-heavy). */
function serial(): <T>(fn: () => Promise<T>) => Promise<T> {
  let chain: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>) => {
    const next = chain.then(fn, fn);
    chain = next.catch(() => undefined);
    return next;
  };
}

/** Serialises up/down calls within this process (the file lock below covers other processes). */
const inProcess = serial();

/**
 * Holds <stackDir>/run/stack.lock while `fn` runs so two `stack up` (or up and down) never race,
 * in this process or another; a lock left by a process that is gone is taken over.
 */
function withStackLock<T>(cfg: Config, log: Log, fn: () => Promise<T>): Promise<T> {
  return inProcess(() => withFileLock(cfg, log, fn));
}

async function withFileLock<T>(cfg: Config, log: Log, fn: () => Promise<T>): Promise<T> {
  const dir = runDir(cfg.stackDir);
  mkdirSync(dir, { recursive: true });
  const lock = path.join(dir, 'stack.lock');
  const deadline = Date.now() + 15 * 60_000;
  let told = false;
  for (;;) {
    try {
      const fh = await open(lock, 'wx');
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
      if (!holder || holder === process.pid || !(await isAlive(holder))) {
        await rm(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new UnavailableError(`stack: ${lock} is held by process ${holder} for too long`);
      if (!told) log(`stack: waiting for process ${holder} (another stack up/down) to finish`);
      told = true;
      await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

async function waitHealthy(cfg: Config, s: Service): Promise<void> {
  try {
    await waitFor(
      () => s.health(cfg),
      s.startTimeoutMs,
      'did not become healthy',
      async () => ((await ourProcess(cfg, s.name)) ? null : 'its process exited'),
      500,
    );
  } catch (err) {
    throw await serviceFailure(cfg, s, (err as Error).message);
  }
}

type Installers = Record<Service['installKind'], ReturnType<typeof serial>>;

async function bringUp(cfg: Config, s: Service, log: Log, installing: Installers): Promise<void> {
  if (await s.health(cfg)) {
    const ours = await ourProcess(cfg, s.name);
    log(`${s.name}: already up (${s.endpoint(cfg)}${ours ? `, pid ${ours.pid}` : ', not started by shardcast'})`);
    return;
  }
  const ours = await ourProcess(cfg, s.name);
  if (ours) {
    log(`${s.name}: pid ${ours.pid} is running but not answering yet; waiting`);
    await waitHealthy(cfg, s);
    log(`${s.name}: up (${s.endpoint(cfg)})`);
    return;
  }
  await removePidFile(pidFileOf(cfg, s.name));
  for (const port of s.ports(cfg)) {
    if (await portTaken(port))
      throw new StackError(s.name, s.logFile(cfg), (await describePortConflict(s.name, port)).replace(`${s.name}: `, ''), '');
  }
  try {
    await installing[s.installKind](() => s.install(cfg, log));
  } catch (err) {
    throw new StackError(s.name, s.logFile(cfg), `install failed: ${(err as Error).message}`, '');
  }
  const t0 = Date.now();
  log(`${s.name}: starting`);
  try {
    await s.start(cfg, log);
  } catch (err) {
    throw await serviceFailure(cfg, s, `start failed: ${(err as Error).message}`);
  }
  await waitHealthy(cfg, s);
  const pid = (await ourProcess(cfg, s.name))?.pid;
  log(`${s.name}: up in ${((Date.now() - t0) / 1000).toFixed(1)} s (${s.endpoint(cfg)}${pid ? `, pid ${pid}` : ''})`);
}

/**
 * Starts every local service that is not already up (and not external). Idempotent. Throws a
 * `StackError` (or an Error listing several) when a service cannot be brought up; services
 * that did come up are left running.
 */
export async function stackUp(cfg: Config, opts: StackOptions = {}): Promise<StatusRow[]> {
  const log = opts.log ?? (() => undefined);
  mkdirSync(cfg.stackDir, { recursive: true });
  return withStackLock(cfg, log, async () => {
    const installing: Installers = { os: serial(), maven: serial() };
    const services = stackServices(cfg).filter((s) => !opts.only || opts.only.includes(s.name));
    for (const s of services.filter((x) => x.isExternal(cfg))) log(`${s.name}: external (${s.endpoint(cfg)}), not started`);
    const results = await Promise.allSettled(services.filter((s) => !s.isExternal(cfg)).map((s) => bringUp(cfg, s, log, installing)));
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    // the nodes a scale_out added hold shards too: back with the stack's own (a PostgreSQL we run)
    const pgUp = services.some((s) => s.name === 'pg-node0' && !s.isExternal(cfg)) && !failures.length;
    if (pgUp) failures.push(...(await startManagedNodes(cfg, log)).map((f) => new UnavailableError(f)));
    if (failures.length === 1) throw failures[0]!;
    if (failures.length > 1) {
      throw new UnavailableError(`stack up: ${failures.length} services failed\n${failures.map((f) => f.message).join('\n')}`);
    }
    return stackStatus(cfg);
  });
}

/** Stops the services we started (by pid file), leaving external and foreign servers alone. */
export async function stackDown(cfg: Config, opts: StackOptions = {}): Promise<void> {
  const log = opts.log ?? (() => undefined);
  if (!cfg.stackDir) return;
  await withStackLock(cfg, log, async () => {
    const services = stackServices(cfg).filter((s) => !s.isExternal(cfg));
    const results = await Promise.allSettled(
      services.map(async (s) => {
        const ours = await ourProcess(cfg, s.name);
        if (!ours) {
          await removePidFile(pidFileOf(cfg, s.name));
          return;
        }
        log(`${s.name}: stopping pid ${ours.pid}`);
        const t0 = Date.now();
        await s.stop(cfg);
        log(`${s.name}: stopped in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      }),
    );
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
    failures.push(...(await stopManagedNodes(cfg, log)));
    if (failures.length) throw new StateError(`stack down: ${failures.join('; ')}`);
  });
}

/** One row per service: up, down, stale (pid file but not answering) or external. */
export async function stackStatus(cfg: Config): Promise<StatusRow[]> {
  return Promise.all(
    stackServices(cfg).map(async (s): Promise<StatusRow> => {
      const endpoint = s.endpoint(cfg);
      if (s.isExternal(cfg)) return { name: s.name, state: 'external', endpoint };
      const [healthy, ours, recorded] = await Promise.all([s.health(cfg), ourProcess(cfg, s.name), readPidFile(pidFileOf(cfg, s.name))]);
      if (healthy)
        return ours
          ? { name: s.name, state: 'up', endpoint, pid: ours.pid }
          : { name: s.name, state: 'up', endpoint, note: 'not started by shardcast' };
      if (ours) return { name: s.name, state: 'stale', endpoint, pid: ours.pid, note: 'process running but not answering' };
      if (recorded) return { name: s.name, state: 'stale', endpoint, note: `pid ${recorded.pid} from the pid file has exited` };
      return { name: s.name, state: 'down', endpoint };
    }),
  );
}

/** One line per service: name, state, endpoint, pid or note. */
export function formatStatus(rows: StatusRow[]): string {
  const w = (k: 'name' | 'state' | 'endpoint') => Math.max(...rows.map((r) => r[k].length), k.length);
  const [wn, ws, we] = [w('name'), w('state'), w('endpoint')];
  return rows
    .map((r) => {
      const extra = [r.pid ? `pid ${r.pid}` : '', r.note ?? ''].filter(Boolean).join(', ');
      return `${r.name.padEnd(wn)}  ${r.state.padEnd(ws)}  ${r.endpoint.padEnd(we)}  ${extra}`.trimEnd();
    })
    .join('\n');
}
