/**
 * Process plumbing for the local stack: detached service processes with a log file and a pid
 * file, liveness, stopping by pid (never by name), bounded waits, and who holds a port.
 *
 * Pid files live in `<stackDir>/run/<name>.pid` and hold JSON `{pid, startTime, cmd}`;
 * `startTime` is the kernel's start time of the process (/proc/<pid>/stat field 22), so a pid
 * that the kernel has since given to another process is never mistaken for ours.
 */
import { spawn, execFile, type SpawnOptions } from 'node:child_process';
import { closeSync, openSync, existsSync, mkdirSync, writeSync } from 'node:fs';
import { readFile, readdir, readlink, rm, writeFile, rename, open } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { UnavailableError } from '../lib/errors.js';

export interface PidInfo {
  pid: number;
  /** Kernel start time (clock ticks since boot); null where /proc is not available. */
  startTime: number | null;
  cmd: string;
}

export const runDir = (stackDir: string) => path.join(stackDir, 'run');
export const logDir = (stackDir: string) => path.join(stackDir, 'logs');
export const pidFilePath = (stackDir: string, name: string) => path.join(runDir(stackDir), `${name}.pid`);
export const logFilePath = (stackDir: string, name: string) => path.join(logDir(stackDir), `${name}.log`);

/** Start time of `pid` from /proc/<pid>/stat, or null when unknown. */
export async function processStartTime(pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces and parens): state is field 3.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const v = Number(rest[19]); // field 22
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

async function processState(pid: number): Promise<string | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? null;
  } catch {
    return null;
  }
}

/** True when a process with this pid exists and is not a zombie. */
export async function isAlive(pid: number): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const state = await processState(pid);
  return state !== 'Z' && state !== 'X';
}

/** True when `info` still names the very process that was recorded (alive, same start time). */
export async function isSameProcess(info: PidInfo): Promise<boolean> {
  if (!(await isAlive(info.pid))) return false;
  if (info.startTime === null) return true;
  const now = await processStartTime(info.pid);
  return now === null || now === info.startTime;
}

export async function readPidFile(file: string): Promise<PidInfo | null> {
  let text: string;
  try {
    text = (await readFile(file, 'utf8')).trim();
  } catch {
    return null;
  }
  if (/^\d+$/.test(text)) return { pid: Number(text), startTime: null, cmd: '' };
  try {
    const v = JSON.parse(text) as Partial<PidInfo>;
    if (typeof v.pid !== 'number') return null;
    return { pid: v.pid, startTime: typeof v.startTime === 'number' ? v.startTime : null, cmd: String(v.cmd ?? '') };
  } catch {
    return null;
  }
}

export async function writePidFile(file: string, pid: number, cmd: string): Promise<PidInfo> {
  const info: PidInfo = { pid, startTime: await processStartTime(pid), cmd };
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(info)}\n`);
  await rename(tmp, file);
  return info;
}

export async function removePidFile(file: string): Promise<void> {
  await rm(file, { force: true });
}

export interface SpawnServiceOptions {
  /** Service name: names the pid file. */
  name: string;
  command: string;
  args: string[];
  stackDir: string;
  logFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
}

/**
 * Starts a service process detached from us (own process group, stdio to the log file, not
 * waited for), writes its pid file and returns it. The process outlives the caller.
 */
export async function spawnService(o: SpawnServiceOptions): Promise<PidInfo> {
  mkdirSync(path.dirname(o.logFile), { recursive: true });
  mkdirSync(runDir(o.stackDir), { recursive: true });
  const fd = openSync(o.logFile, 'a');
  const cmdline = [o.command, ...o.args].join(' ');
  writeSync(fd, `\n===== shardcast: starting ${o.name} at ${new Date().toISOString()}: ${cmdline}\n`);
  try {
    const opts: SpawnOptions = {
      cwd: o.cwd,
      env: o.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    };
    if (o.uid !== undefined) opts.uid = o.uid;
    if (o.gid !== undefined) opts.gid = o.gid;
    const child = spawn(o.command, o.args, opts);
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', (err) => reject(new UnavailableError(`${o.name}: cannot start ${o.command}: ${err.message}`, { cause: err })));
      child.once('spawn', () => resolve(child.pid!));
    });
    child.unref();
    return await writePidFile(pidFilePath(o.stackDir, o.name), pid, cmdline);
  } finally {
    closeSync(fd);
  }
}

export interface StopOptions {
  /** Signals to send in turn, each followed by a bounded wait. Default SIGTERM then SIGKILL. */
  signals?: NodeJS.Signals[];
  /** How long to wait after each signal but the last. */
  timeoutMs?: number;
}

/**
 * Stops the process `pid`: each signal in turn, waiting up to `timeoutMs` for it to exit after
 * each; the last signal (SIGKILL by default) gets a short wait. Signals only that pid.
 * Returns true when it is gone.
 */
export async function stopPid(pid: number, o: StopOptions = {}): Promise<boolean> {
  const signals = o.signals ?? ['SIGTERM', 'SIGKILL'];
  const timeoutMs = o.timeoutMs ?? 30_000;
  for (let i = 0; i < signals.length; i++) {
    if (!(await isAlive(pid))) return true;
    try {
      process.kill(pid, signals[i]);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return true;
      throw err;
    }
    const last = i === signals.length - 1;
    const gone = await waitUntil(async () => !(await isAlive(pid)), last ? 5_000 : timeoutMs, 100);
    if (gone) return true;
  }
  return !(await isAlive(pid));
}

/** Polls `check` until it returns true or `timeoutMs` passes; returns the last answer. */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 250): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return true;
    } catch {
      // a failing check is a "not yet"
    }
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}

/**
 * Bounded wait: resolves when `check` returns true; rejects after `timeoutMs` with an Error
 * naming `what`. `abort` is polled too: when it returns a string the wait fails at once with
 * that reason (e.g. "the process exited").
 */
export async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
  abort?: () => Promise<string | null>,
  intervalMs = 250,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (abort) {
      const reason = await abort();
      if (reason) throw new UnavailableError(`${what}: ${reason}`);
    }
    if (Date.now() >= deadline) throw new UnavailableError(`${what}: timed out after ${Math.round(timeoutMs / 1000)} s`);
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}

/** True when something accepts TCP connections on host:port. */
export function portOpen(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (v: boolean) => {
      sock.destroy();
      resolve(v);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** True when binding host:port fails because it is in use (covers wildcard listeners too). */
export function portTaken(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'EADDRINUSE' || err.code === 'EACCES'));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(false)));
  });
}

/** Pid and command line of the process listening on TCP `port` (Linux /proc), if it can be found. */
export async function portOwner(port: number): Promise<{ pid: number; cmd: string } | null> {
  const inodes = new Set<string>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = await readFile(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== '0A') continue; // LISTEN
      const localPort = parseInt(cols[1]!.split(':')[1] ?? '', 16);
      if (localPort === port) inodes.add(cols[9]!);
    }
  }
  if (inodes.size === 0) return null;
  let pids: string[];
  try {
    pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  for (const p of pids) {
    let fds: string[];
    try {
      fds = await readdir(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const link = await readlink(`/proc/${p}/fd/${fd}`);
        const m = /^socket:\[(\d+)\]$/.exec(link);
        if (m && inodes.has(m[1]!)) {
          const cmd = (await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ').trim();
          return { pid: Number(p), cmd };
        }
      } catch {
        // fd went away
      }
    }
  }
  return null;
}

/** Error text for a port that is taken by a process that is not ours. */
export async function describePortConflict(service: string, port: number): Promise<string> {
  const owner = await portOwner(port);
  const who = owner ? `process ${owner.pid} (${owner.cmd.slice(0, 160) || 'unknown command'})` : 'another process';
  return `${service}: port ${port} on 127.0.0.1 is taken by ${who}; stop it, or point shardcast at that server through the environment (see lib/config.ts)`;
}

/** Last `n` lines of a text file ('' when it cannot be read). Reads at most the last 64 KiB. */
export async function tailFile(file: string, n = 30): Promise<string> {
  try {
    const fh = await open(file, 'r');
    try {
      const { size } = await fh.stat();
      const len = Math.min(size, 64 * 1024);
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, size - len);
      const lines = buf.toString('utf8').split('\n');
      if (lines.at(-1) === '') lines.pop();
      return lines.slice(-n).join('\n');
    } finally {
      await fh.close();
    }
  } catch {
    return '';
  }
}

export interface ExecResult {
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (bounded); rejects with its output in the message on failure. */
export function run(
  command: string,
  args: string[],
  o: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; uid?: number; gid?: number; what?: string } = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { cwd: o.cwd, env: o.env ?? process.env, timeout: o.timeoutMs ?? 600_000, maxBuffer: 32 * 1024 * 1024, uid: o.uid, gid: o.gid },
      (err, stdout, stderr) => {
        if (err) {
          const out = `${stderr}\n${stdout}`.trim().split('\n').slice(-25).join('\n');
          const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'command not found' : err.message.split('\n')[0];
          reject(
            new UnavailableError(`${o.what ?? command}: ${command} ${args.join(' ')} failed: ${why}${out ? `\n${out}` : ''}`, {
              cause: err,
            }),
          );
        } else resolve({ stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** First existing path among `candidates`, else null. */
export function firstExisting(candidates: string[]): string | null {
  return candidates.find((c) => existsSync(c)) ?? null;
}

/** Absolute path of `name` on PATH (plus sbin directories), else null. */
export function which(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  return firstExisting(dirs.filter(Boolean).map((d) => path.join(d, name)));
}

/**
 * GET `url` on a fresh connection that is closed afterwards (no keep-alive socket left open to
 * hold a server's shutdown), bounded by `timeoutMs`. Resolves status and body.
 */
export function httpGet(url: string | URL, timeoutMs = 2500): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { connection: 'close' }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new UnavailableError(`GET ${String(url)}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}
