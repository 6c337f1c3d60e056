/**
 * The resume state in Kafka's offset metadata. Each partition's committed offset carries the
 * part of the ResumeState that concerns it (`{v: 1, closedThrough, seenThrough: {"topic:p": n}}`),
 * so a restarted ingest reads it back with the committed offsets and neither loses nor repeats
 * anything (see safeOffsets.ts).
 */
import type { SourcePosition } from '../../schemas/envelope.js';
import type { Progress, ResumeState } from './safeOffsets.js';

/** A position to commit, with its offset metadata. */
export type CommitPosition = SourcePosition & { metadata?: string };

/** The positions to commit for a progress item: each safe offset, with its partition's resume state when the item has one. */
export function commitPositions(progress: Progress): CommitPosition[] {
  const r = progress.resume;
  return (
    Object.entries(progress.safeOffsets)
      .map(([tp, offset]) => {
        const i = tp.lastIndexOf(':');
        const metadata = r ? JSON.stringify({ v: 1, closedThrough: r.closedThrough, seenThrough: { [tp]: r.seenThrough[tp] } }) : undefined;
        return { topic: tp.slice(0, i), partition: Number(tp.slice(i + 1)), offset, metadata };
      })
      // −1: nothing safe yet, but the resume state still has to go out (a commit of offset 0)
      .filter((p) => BigInt(p.offset) >= -1n)
  );
}

/**
 * The resume state committed by the previous run; undefined for a new group. Metadata that does
 * not parse is ignored with the safe consequence: events re-read from the committed offsets are
 * treated as new.
 */
export function resumeStateOf(
  committed: readonly { topic: string; partition: number; metadata: string | null }[],
): ResumeState | undefined {
  let closedThrough = -Infinity;
  const seenThrough: Record<string, number> = {};
  for (const c of committed) {
    if (!c.metadata) continue;
    try {
      const m = JSON.parse(c.metadata) as { v?: number; closedThrough?: unknown; seenThrough?: Record<string, unknown> };
      if (m.v !== 1) continue;
      if (typeof m.closedThrough === 'number' && m.closedThrough > closedThrough) closedThrough = m.closedThrough;
      const key = `${c.topic}:${c.partition}`;
      const seen = m.seenThrough?.[key];
      if (typeof seen === 'number') seenThrough[key] = seen;
    } catch {
      // not ours or damaged: nothing to resume from for this partition
    }
  }
  return Number.isFinite(closedThrough) || Object.keys(seenThrough).length > 0 ? { closedThrough, seenThrough } : undefined;
}
