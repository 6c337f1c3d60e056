/**
 * Stable identifiers. A command id is a hash of what the command does, to what, and in which
 * issuing window: re-deciding the same thing in the same window yields the same id, so the
 * executors' idempotency ledger drops the duplicate.
 */
import { createHash } from 'node:crypto';

export function stableHash(text: string, hexChars = 16): string {
  return createHash('sha1').update(text).digest('hex').slice(0, hexChars);
}

/** Index of the issuing window that `now` falls in. */
export function issuingWindow(now: number, windowMs: number): number {
  return Math.floor(now / Math.max(1, windowMs));
}

export function commandId(action: string, target: string, now: number, windowMs: number): string {
  return `cmd-${action}-${stableHash(`${action}|${target}|${issuingWindow(now, windowMs)}`)}`;
}

/** Id of a key-range partition made by a split or merge, when the command does not name one. */
export function rangePartitionId(table: string, lo: number | null, hi: number | null): string {
  return `${table}[${lo ?? '-inf'},${hi ?? 'inf'})`;
}
