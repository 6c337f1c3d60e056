/**
 * Where a key bucket's series sits along its table's keys, for the forecaster's key-drift model
 * (models/plugins/keyDrift.ts): ingest names a table's buckets `source|table|k<i>[|partition][|node]`
 * (`<column>.k<i>` after a rekey, schemas/keyBuckets.ts),
 * bucket i covering the i-th key range in key order (processors/ingest/sql/keyrange.ts), so a
 * table's buckets of one partition and node form a group and i is the position in it.
 */
import { parseBucket } from '../../schemas/keyBuckets.js';

/** The group (the id without its bucket) and position of a key bucket's series; null for any other series. */
export function bucketOrder(seriesId: string): { group: string; position: number } | null {
  const parts = seriesId.split('|');
  // template (`#template`) and metric series name no table there
  if (parts.length < 3 || parts[1]!.startsWith('#')) return null;
  const b = parseBucket(parts[2]);
  if (!b) return null;
  // a re-keyed table's buckets (`<column>.k<i>`) are another order than its old key's
  const table = b.prefix === null ? parts[1] : `${parts[1]}.${b.prefix}`;
  return { group: [parts[0], table, ...parts.slice(3)].join('|'), position: b.index };
}
