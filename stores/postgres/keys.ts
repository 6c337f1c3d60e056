/**
 * Keys and names of the sharded PostgreSQL tables: shard keys are int64 (bigint) values, kept
 * as canonical decimal strings; a shard of table `t` is the physical table `t__<shard>`.
 */
import { InputError } from '../../lib/errors.js';
import { isPlainIdentifier } from '../identifiers.js';

export type KeyLike = string | number | bigint | null;

/** Name of an object of `physical` (index, view): `<physical>__<suffix>`, shortened with a hash past 63 bytes. */
export function shardObjectName(physical: string, suffix: string): string {
  const full = `${physical}__${suffix}`;
  if (full.length <= 63) return full;
  let h = 0;
  for (const ch of full) h = (Math.imul(h, 31) + ch.charCodeAt(0)) >>> 0;
  return `${full.slice(0, 54)}_${h.toString(16).padStart(8, '0')}`;
}

/** `<table>__<shard>`, checked to be a plain identifier (≤ 63 characters). */
export function physicalName(table: string, shard: string): string {
  const name = `${table}__${shard}`;
  if (!isPlainIdentifier(table) || !isPlainIdentifier(shard) || !isPlainIdentifier(name)) {
    throw new InputError(`not a valid shard name: ${JSON.stringify(name)}`);
  }
  return name;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A key as a canonical decimal string, or null; throws on anything that is not an int64. */
export function keyText(k: KeyLike): string | null {
  if (k === null) return null;
  const s = typeof k === 'string' ? k.trim() : String(k);
  if (!/^-?[0-9]{1,19}$/.test(s)) throw new InputError(`not an integer key: ${JSON.stringify(String(k))}`);
  const b = BigInt(s);
  if (b < INT64_MIN || b > INT64_MAX) throw new InputError(`key out of bigint range: ${s}`);
  return b.toString();
}

/** True when key k lies in [lo, hi) (null bounds unbounded). */
export function inRange(k: string, lo: string | null, hi: string | null): boolean {
  const b = BigInt(k);
  return (lo === null || b >= BigInt(lo)) && (hi === null || b < BigInt(hi));
}
