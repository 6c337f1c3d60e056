/**
 * Hashed shard keys: a table whose key is hashed (a rekey with `keyHash`) is cut into ranges of
 * PostgreSQL's `hashint8(key)`, an int4, so a key that grows with every insert spreads over all
 * shards. The router and ingest's key buckets compute the same hash in TypeScript; the shards
 * compute it in SQL (guard, migrations: stores/postgres/keySql.ts). `hashint8` is PostgreSQL's own hash of a bigint (the support function of its
 * hash index operator class, whose values on-disk hash indexes rely on across upgrades); a
 * hand-written twin because no library exposes it, checked against the server value by value
 * in test/integration/exec-pg-hash-rekey.test.ts.
 */
/** The int4 range of the hash: shards cut [HASH_MIN, HASH_MAX] into ranges. */
export const HASH_MIN = -(2 ** 31);
export const HASH_MAX = 2 ** 31 - 1;

const rot = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;

/**
 * PostgreSQL's `hashint8(v)`: the bigint folded to 32 bits (the high half xor-ed into the low,
 * inverted for negative values, so an int4 hashes as `hashint4` does), then Bob Jenkins'
 * lookup3 `final` mix of it (hash_bytes_uint32 in src/common/hashfn.c); signed, as SQL shows it.
 */
export function hashInt8(v: bigint): number {
  const lo = Number(BigInt.asUintN(32, v));
  const hi = Number(BigInt.asUintN(32, v >> 32n));
  const k = (v >= 0n ? lo ^ hi : lo ^ ~hi) >>> 0;
  let a = (0x9e3779b9 + 4 + 3923095) >>> 0;
  let b = a;
  let c = a;
  a = (a + k) >>> 0;
  c = ((c ^ b) - rot(b, 14)) >>> 0;
  a = ((a ^ c) - rot(c, 11)) >>> 0;
  b = ((b ^ a) - rot(a, 25)) >>> 0;
  c = ((c ^ b) - rot(b, 16)) >>> 0;
  a = ((a ^ c) - rot(c, 4)) >>> 0;
  b = ((b ^ a) - rot(a, 14)) >>> 0;
  c = ((c ^ b) - rot(b, 24)) >>> 0;
  return c | 0;
}

/** The value a table's ranges cut for key text `k`: the key itself, or its hash. */
export function routedValue(k: string, hashed: boolean): string {
  return hashed ? String(hashInt8(BigInt(k))) : k;
}

/** Bounds cutting the hash range into `n` ranges of equal width: n − 1 ascending cuts. */
export function hashCuts(n: number): number[] {
  const width = (HASH_MAX - HASH_MIN + 1) / n;
  return Array.from({ length: n - 1 }, (_, i) => Math.floor(HASH_MIN + width * (i + 1)));
}
