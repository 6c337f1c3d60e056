/**
 * Where a key bucket's series sits along its table's keys, for the forecaster's key-drift model
 * (models/plugins/keyDrift.ts): ingest names a table's buckets `source|table|k<i>[|partition][|node]`,
 * bucket i covering the i-th key range in key order (processors/ingest/sql/keyrange.ts), so a
 * table's buckets of one partition and node form a group and i is the position in it.
 */

const BUCKET = /^k(\d+)$/;

/** The group (the id without its bucket) and position of a key bucket's series; null for any other series. */
export function bucketOrder(seriesId: string): { group: string; position: number } | null {
  const parts = seriesId.split('|');
  // template (`#template`) and metric series name no table there
  if (parts.length < 3 || parts[1]!.startsWith('#')) return null;
  const m = BUCKET.exec(parts[2]!);
  if (!m) return null;
  return { group: [parts[0], parts[1], ...parts.slice(3)].join('|'), position: Number(m[1]) };
}
