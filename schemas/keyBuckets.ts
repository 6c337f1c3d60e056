/**
 * Key-range buckets: how a table's key range is cut into the buckets ingest counts queries on
 * and the decide stage plans ranges by. Bucket i covers [bounds[i-1], bounds[i]) (the first and
 * last unbounded) and is named `k<i>`. A key other than the configured one, set by a rekey with
 * the bounds it recorded in the routing map, names its buckets `<column>.k<i>`: its series start
 * afresh instead of continuing the history of the old key's ranges under the same names. A
 * hashed key (a rekey with keyHash) cuts ranges of the key's hash (schemas/keyHash.ts),
 * the same ranges its shards cut, and names its buckets `hash_<column>.k<i>`.
 */

/** A table's key column and the bounds of its buckets. */
export interface TableKey {
  column: string;
  /** Sorted bucket boundaries: bucket i = [bounds[i-1], bounds[i]). */
  bounds: number[];
  /** Set for a key a rekey recorded: bucket names `<bucketPrefix>.k<i>`. */
  bucketPrefix?: string;
  /** The bounds cut the key's hash (hashint8), not its values. */
  hashed?: boolean;
}

/** A table's key as the routing map records it: `bounds` null unless a rekey set them. */
export interface RecordedKey {
  table: string;
  column: string;
  bounds: number[] | null;
  /** The table's ranges cut the key's hash. */
  hashed: boolean;
}

/** The name of bucket `index` of a key with `prefix` (none: the configured key). */
export function bucketName(index: number, prefix?: string): string {
  return prefix ? `${prefix}.k${index}` : `k${index}`;
}

const BUCKET = /^(?:([a-z_][a-z0-9_$]*)\.)?k(\d+)$/i;

/** The prefix (null: the configured key's) and index of a bucket name; null for `*`, `none` and anything else. */
export function parseBucket(name: string | null | undefined): { prefix: string | null; index: number } | null {
  const m = name ? BUCKET.exec(name) : null;
  return m ? { prefix: m[1] ?? null, index: Number(m[2]) } : null;
}

/** The key range [lo, hi) of bucket `bucket` of `key` (null = unbounded; both null when the name is not one of its buckets). */
export function bucketBounds(key: TableKey | undefined, bucket: string | null): { lo: number | null; hi: number | null } {
  const b = parseBucket(bucket);
  if (!key || !b || b.prefix !== (key.bucketPrefix ?? null) || b.index > key.bounds.length) return { lo: null, hi: null };
  const i = b.index;
  return { lo: i === 0 ? null : key.bounds[i - 1]!, hi: i < key.bounds.length ? key.bounds[i]! : null };
}

/**
 * The keys the configured tables are cut by now: each configured key, except where the routing
 * map records bounds a rekey set (that column, those bounds, prefixed names). A table re-keyed
 * without recorded bounds keeps its configured key here (its planning leaves it out).
 */
export function currentKeys(configured: Readonly<Record<string, TableKey>>, recorded: readonly RecordedKey[]): Record<string, TableKey> {
  const out: Record<string, TableKey> = { ...configured };
  for (const r of recorded) {
    if (!configured[r.table] || r.bounds === null) continue;
    out[r.table] = r.hashed
      ? { column: r.column, bounds: [...r.bounds], bucketPrefix: `hash_${r.column}`, hashed: true }
      : { column: r.column, bounds: [...r.bounds], bucketPrefix: r.column };
  }
  return out;
}

/** Whether two key sets cut every table the same way. */
export function sameKeys(a: Readonly<Record<string, TableKey>>, b: Readonly<Record<string, TableKey>>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((t) => {
    const x = a[t]!,
      y = b[t];
    return (
      y !== undefined &&
      x.column === y.column &&
      (x.bucketPrefix ?? null) === (y.bucketPrefix ?? null) &&
      (x.hashed ?? false) === (y.hashed ?? false) &&
      x.bounds.length === y.bounds.length &&
      x.bounds.every((v, i) => v === y.bounds[i])
    );
  });
}

/** A table's key as reported to planning and the catalog: the column, or `hash(<column>)`. */
export function reportedKey(column: string, hashed: boolean): string {
  return hashed ? `hash(${column})` : column;
}

/** The column and whether it is hashed, from a reported key. */
export function parseReportedKey(key: string): { column: string; hashed: boolean } {
  const m = /^hash\(([^()]+)\)$/.exec(key);
  return m ? { column: m[1]!, hashed: true } : { column: key, hashed: false };
}
