/** Structured logging (pino). One root logger; modules take a child with their name. */
import { pino, type Logger } from 'pino';

export type { Logger };

let root: Logger | undefined;

export function rootLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  // Logs go to stderr so command output on stdout (reports, --json) stays clean.
  root ??= pino({ level, base: undefined }, pino.destination(2));
  return root;
}

export function logger(name: string): Logger {
  return rootLogger().child({ mod: name });
}
