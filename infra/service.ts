/**
 * One local-stack service (Kafka, schema registry, ClickHouse, Neo4j, a PostgreSQL node) behind
 * one interface, so `infra/stack.ts` can install, start, check and stop them all alike.
 */
import type { Config } from '../lib/config.js';
import { isSameProcess, logFilePath, pidFilePath, readPidFile, removePidFile, stopPid, type PidInfo, type StopOptions } from './process.js';
import { StateError, UnavailableError } from '../lib/errors.js';

export type Log = (line: string) => void;

export interface Service {
  /** Short name: names the pid file (run/<name>.pid) and log file (logs/<name>.log). */
  readonly name: string;
  /** What clients connect to, as they would write it. */
  endpoint(cfg: Config): string;
  /** Endpoint given by the environment: the stack neither starts nor stops this service. */
  isExternal(cfg: Config): boolean;
  /** TCP ports on 127.0.0.1 this service listens on (checked for conflicts before starting). */
  ports(cfg: Config): number[];
  /** Brings binaries/jars here (apt, mvn); cached, so a second run needs no network. */
  install(cfg: Config, log: Log): Promise<void>;
  /** Starts the process (detached) and returns once it is spawned; `stack.ts` waits for health. */
  start(cfg: Config, log: Log): Promise<void>;
  /** Quick (bounded, ~2 s) check that the service answers its protocol. */
  health(cfg: Config): Promise<boolean>;
  /** Stops the process we started (by pid file); no-op when none. */
  stop(cfg: Config): Promise<void>;
  /** The log to read when it fails. */
  logFile(cfg: Config): string;
  /** How long to wait for health after start. */
  readonly startTimeoutMs: number;
  /** What install uses: OS packages (apt) or Maven. Installs of one kind run one at a time. */
  readonly installKind: 'os' | 'maven';
}

export const pidFileOf = (cfg: Config, name: string) => pidFilePath(cfg.stackDir, name);
export const logFileOf = (cfg: Config, name: string) => logFilePath(cfg.stackDir, name);

/** Rejects when `p` takes longer than `ms` (for health checks that must stay quick). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new UnavailableError(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** The live process recorded in our pid file for `name`, or null (no file, or not running). */
export async function ourProcess(cfg: Config, name: string): Promise<PidInfo | null> {
  const info = await readPidFile(pidFileOf(cfg, name));
  if (!info) return null;
  return (await isSameProcess(info)) ? info : null;
}

/** Stops the process in our pid file for `name` (if it is still ours) and removes the file. */
export async function stopOurs(cfg: Config, name: string, o: StopOptions = {}): Promise<void> {
  const file = pidFileOf(cfg, name);
  const info = await readPidFile(file);
  if (info && (await isSameProcess(info))) {
    const gone = await stopPid(info.pid, o);
    if (!gone) throw new StateError(`${name}: process ${info.pid} did not exit`);
  }
  await removePidFile(file);
}
