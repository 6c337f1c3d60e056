/**
 * Structured logging (pino). One root logger; modules take a child with their name.
 *
 * Logs go to stderr so command output on stdout (reports, --json) stays clean. On a terminal
 * they are human lines (pino-pretty), elsewhere one JSON object per line for machines;
 * `SHARDCAST_LOG_FORMAT=pretty|json` overrides the choice.
 */
import { isatty } from 'node:tty';
import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { ConfigError } from './config.js';

export type { Logger };

export const LOG_FORMAT_ENV = 'SHARDCAST_LOG_FORMAT';
export type LogFormat = 'pretty' | 'json';

const STDERR = 2;

/**
 * The format asked for in the environment, else pretty when stderr is a terminal. `isatty(2)`
 * rather than `process.stderr.isTTY`: a worker thread's `process.stderr` is a pipe to the main
 * thread, while fd 2 is the same terminal in every thread.
 */
export function logFormat(env: NodeJS.ProcessEnv = process.env, stderrIsTerminal = isatty(STDERR)): LogFormat {
  const asked = env[LOG_FORMAT_ENV]?.trim();
  if (!asked) return stderrIsTerminal ? 'pretty' : 'json';
  if (asked === 'pretty' || asked === 'json') return asked;
  throw new ConfigError(LOG_FORMAT_ENV, `expected pretty or json, got "${asked}"`);
}

/**
 * Human lines: time, level, module and message, extra fields on the same line. Synchronous
 * writes (no worker transport), so the last lines before an exit are not lost.
 */
export function prettyStream(destination: number | NodeJS.WritableStream = STDERR, colorize?: boolean): DestinationStream {
  return pretty({
    destination,
    sync: true,
    colorize: colorize ?? (destination === STDERR && isatty(STDERR)),
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,mod',
    messageFormat: '{if mod}{mod}: {end}{msg}',
    singleLine: true,
  });
}

let root: Logger | undefined;

export function rootLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  root ??= pino({ level, base: undefined }, logFormat() === 'pretty' ? prettyStream() : pino.destination(STDERR));
  return root;
}

export function logger(name: string): Logger {
  return rootLogger().child({ mod: name });
}

interface LibraryLogParams {
  module: string;
  message: string;
  args?: Record<string, unknown>;
  err?: Error;
}

/**
 * A logger class for libraries that log `{ module, message, args, err }` objects (the ClickHouse
 * client's `log.LoggerClass`), writing through ours so they print nothing raw.
 */
export function libraryLogClass(name: string) {
  // The library throws the same error to its caller, which reports it: the message is enough here.
  return class LibraryLog {
    private readonly log = logger(name);
    private write(level: 'trace' | 'debug' | 'info' | 'warn' | 'error', { module, message, args, err }: LibraryLogParams): void {
      this.log[level]({ ns: module, ...args, ...(err ? { reason: err.message.trim() } : {}) }, message);
    }
    trace(p: LibraryLogParams): void {
      this.write('trace', p);
    }
    debug(p: LibraryLogParams): void {
      this.write('debug', p);
    }
    info(p: LibraryLogParams): void {
      this.write('info', p);
    }
    warn(p: LibraryLogParams): void {
      this.write('warn', p);
    }
    error(p: LibraryLogParams): void {
      this.write('error', p);
    }
  };
}
