/**
 * The one error base class. Every error the project throws says whether trying again can help
 * (`retriable`) and which exit status it means at the top of a command (`exitCode`), so the
 * edges decide retry, dead letter or exit status from the error itself, not from its message.
 */

export interface ErrorOptions {
  retriable?: boolean;
  exitCode?: 1 | 2;
  cause?: unknown;
}

export class ShardcastError extends Error {
  /** Trying the same thing again later may succeed (a server down, a timeout, a lock held). */
  readonly retriable: boolean;
  /** 2: bad usage or bad input; 1: any other failure. */
  readonly exitCode: 1 | 2;

  constructor(message: string, opts: ErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.retriable = opts.retriable ?? false;
    this.exitCode = opts.exitCode ?? 1;
  }
}

/** Bad usage of a command or API (unknown flag, missing argument): exit code 2. */
export class UsageError extends ShardcastError {
  constructor(message: string, opts: Omit<ErrorOptions, 'exitCode'> = {}) {
    super(message, { ...opts, exitCode: 2 });
  }
}

/** Input data that does not fit (a record, a file, a command's parameters): exit code 2, dead letter in a pipeline. */
export class InputError extends ShardcastError {
  constructor(message: string, opts: Omit<ErrorOptions, 'exitCode'> = {}) {
    super(message, { ...opts, exitCode: 2 });
  }
}

/** A server or resource that did not answer in time or refused: worth trying again. */
export class UnavailableError extends ShardcastError {
  constructor(message: string, opts: Omit<ErrorOptions, 'retriable'> = {}) {
    super(message, { ...opts, retriable: true });
  }
}

/** A state the code does not allow (a broken invariant, an illegal transition): a bug or a conflict to look at. */
export class StateError extends ShardcastError {}

/** Node's network error codes that mean the peer may answer later. */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  '57P01',
  '57P03',
  '53300',
]);

/**
 * Whether an error is worth retrying: our own errors say so; libraries' errors are judged by
 * kafkajs's `retriable` flag and by transient network and PostgreSQL codes.
 */
export function isRetriable(err: unknown): boolean {
  if (err instanceof ShardcastError) return err.retriable;
  const e = err as { retriable?: unknown; code?: unknown; cause?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (e.retriable === true) return true;
  if (typeof e.code === 'string' && TRANSIENT_CODES.has(e.code)) return true;
  return e.cause !== undefined && e.cause !== err && isRetriable(e.cause);
}

/** Exit code and one-line message for an error reaching the top of a command. */
export function exitCodeFor(err: unknown): { code: 1 | 2; message: string } {
  if (err instanceof ShardcastError) return { code: err.exitCode, message: err.message };
  const e = err as { message?: string } | null;
  return { code: 1, message: e?.message ?? String(err) };
}

/** The first line of an error's message, at most 300 characters: for a record's or a row's error field. */
export function errorLine(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.split('\n')[0]!.slice(0, 300);
}
