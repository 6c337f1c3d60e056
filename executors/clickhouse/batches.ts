/**
 * Copy batches shared by the ClickHouse executors (repartition, precomputation): source parts
 * grouped under a byte bound, and the slice in which a batch's bytes pass the throttle.
 */
import type { Part } from './store.js';

/** Bytes per throttle call: the engine's bucket is per second, so a big batch pays in slices. */
export const THROTTLE_SLICE = 4 * 1024 * 1024;

/**
 * Copy batches: whole source partitions, joined while they fit in `maxBytes`, and a partition
 * bigger than that split by parts (a batch always has at least one part).
 */
export function batchesOf(parts: Part[], maxBytes: number): Part[][] {
  const byPartition = new Map<string, Part[]>();
  for (const x of parts) {
    const list = byPartition.get(x.partitionId) ?? [];
    list.push(x);
    byPartition.set(x.partitionId, list);
  }
  const out: Part[][] = [];
  let cur: Part[] = [];
  let bytes = 0;
  const flush = () => {
    if (cur.length > 0) out.push(cur);
    cur = [];
    bytes = 0;
  };
  for (const list of byPartition.values()) {
    const size = list.reduce((s, x) => s + x.bytes, 0);
    if (bytes + size <= maxBytes) {
      cur.push(...list);
      bytes += size;
      continue;
    }
    flush();
    for (const x of list) {
      if (cur.length > 0 && bytes + x.bytes > maxBytes) flush();
      cur.push(x);
      bytes += x.bytes;
    }
    if (size > maxBytes) flush(); // a split partition is not joined with the next one
  }
  flush();
  return out;
}
