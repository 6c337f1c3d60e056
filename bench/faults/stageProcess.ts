/**
 * A pipeline stage as a child process (`node bin/shardcast.js run <stage>`) pointed at the
 * fault stack, so SIGKILL and SIGSTOP reach a real process. Its output goes to a log file in
 * the fault stack's logs/ directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../../lib/config.js';
import { childEnv } from './privateStack.js';

const BIN = path.resolve(import.meta.dirname, '../../bin/shardcast.js');

export class StageProcess {
  private child: ChildProcess;
  private exited: Promise<number | null>;
  readonly logFile: string;

  constructor(
    private readonly cfg: Config,
    readonly stage: string,
    readonly group: string,
    private readonly env: Record<string, string> = {},
  ) {
    const logs = path.join(cfg.stackDir, 'logs');
    mkdirSync(logs, { recursive: true });
    this.logFile = path.join(logs, `${stage}-${group}.log`);
    [this.child, this.exited] = this.spawn();
  }

  private spawn(): [ChildProcess, Promise<number | null>] {
    const out = openSync(this.logFile, 'a');
    const child = spawn(process.execPath, [BIN, 'run', this.stage, '--group', this.group, '--metrics-port', '0'], {
      env: childEnv(this.cfg, this.env),
      stdio: ['ignore', out, out],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return [child, exited];
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Null while it runs, else its exit code. */
  get exitCode(): number | null {
    return this.child.exitCode;
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  /** SIGKILL, wait for the exit, and start it again (same group). */
  async killAndRestart(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
    [this.child, this.exited] = this.spawn();
  }

  /** SIGTERM (the stage drains), SIGKILL after `graceMs`. */
  async stop(graceMs = 20_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGCONT');
    this.child.kill('SIGTERM');
    const done = await Promise.race([this.exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!done) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}
