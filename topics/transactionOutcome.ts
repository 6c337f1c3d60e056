/**
 * What became of a transaction whose commit failed, told by the partition's committed offset once
 * the broker has ended the transaction (re-opening its transactional producer does that: the
 * coordinator finishes a commit under way, or aborts, before it answers). Pure: the caller
 * reads the committed offset.
 */
import { UnavailableError } from '../lib/errors.js';

/** A committed position as the group coordinator reports it; null: nothing committed. */
export type CommittedAt = { offset: string; metadata: string | null } | null;

/**
 * - `committed`: the failed try went through (its answer was lost); redoing it would repeat it.
 * - `not-committed`: nothing moved since the pending output's base; redo it.
 * - `overtaken`: another owner committed since the base; this instance's pending output is
 *   stale and must be dropped (redone, its records would be on the topic twice).
 */
export type TransactionOutcome = 'committed' | 'not-committed' | 'overtaken';

const normal = (c: CommittedAt): CommittedAt =>
  c === null || BigInt(c.offset) < 0n ? null : { offset: BigInt(c.offset).toString(), metadata: c.metadata || null };

const same = (a: CommittedAt, b: CommittedAt): boolean => {
  const x = normal(a);
  const y = normal(b);
  return x === null || y === null ? x === y : x.offset === y.offset && x.metadata === y.metadata;
};

/**
 * `base`: the committed position the pending output was built on (what the partition was taken
 * over at, or the last commit of this owner); `tried`: the position the failed try would commit;
 * `now`: what is committed after the transaction ended.
 */
export function transactionOutcome(base: CommittedAt, tried: CommittedAt, now: CommittedAt): TransactionOutcome {
  if (same(now, tried)) return 'committed';
  if (same(now, base)) return 'not-committed';
  return 'overtaken';
}

/** Whether an error says a newer producer with the same transactional id took over. */
export function isFenced(err: unknown): boolean {
  for (let e = err as { type?: unknown; name?: unknown; cause?: unknown; originalError?: unknown } | null; e; ) {
    if (e.type === 'INVALID_PRODUCER_EPOCH' || e.type === 'PRODUCER_FENCED' || e.name === 'KafkaJSProducerFencedError') return true;
    const next = (e.cause ?? e.originalError) as typeof e | undefined;
    if (next === e) break;
    e = next ?? null;
  }
  return false;
}

/**
 * A transaction's commit failed without telling whether it took effect: its answer was lost, or
 * the broker failed while ending it (UNKNOWN_SERVER_ERROR). Retriable: the producer is opened
 * afresh before its next transaction, which makes the coordinator finish this one, and the
 * caller reads the committed offsets (`transactionOutcome`) before redoing it.
 */
export class CommitOutcomeUnknown extends UnavailableError {}
