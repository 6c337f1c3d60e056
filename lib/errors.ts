/** Errors that the command line turns into exit codes with a one-line reason. */
import { ConfigError } from './config.js';

/** Bad usage or bad input: exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Exit code and one-line message for an error reaching the top of a command. */
export function exitCodeFor(err: unknown): { code: 1 | 2; message: string } {
  if (err instanceof UsageError || err instanceof ConfigError) return { code: 2, message: err.message };
  const e = err as { message?: string; code?: string };
  return { code: 1, message: e?.message ?? String(err) };
}
