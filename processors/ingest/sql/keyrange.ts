/**
 * Key-range algebra: which configured key-range buckets of a table's partition key a statement
 * can touch. A WHERE clause is evaluated as a set of real intervals (AND = intersection,
 * OR = union, anything unknown = everything), then mapped to buckets. Exact for the comparison
 * operators it understands, conservative (touches all) for anything else.
 */
import type { KeyRange } from '../../../schemas/types.js';
import { bucketName, reportedKey } from '../../../schemas/keyBuckets.js';
import { hashInt8 } from '../../../schemas/keyHash.js';
import type { BoolIR, PartitionKeySpec, PredIR } from './ir.js';

export type { PartitionKeySpec } from './ir.js';

export interface Interval {
  lo: number;
  hi: number;
  loOpen: boolean;
  hiOpen: boolean;
}

/** A union of disjoint, sorted intervals; [] is empty. */
export type IntervalSet = Interval[];

export const ALL: IntervalSet = [{ lo: -Infinity, hi: Infinity, loOpen: true, hiOpen: true }];

const empty = (a: Interval) => a.lo > a.hi || (a.lo === a.hi && (a.loOpen || a.hiOpen));

function lowerLess(a: Interval, b: Interval): boolean {
  return a.lo < b.lo || (a.lo === b.lo && !a.loOpen && b.loOpen);
}

export function normalize(s: IntervalSet): IntervalSet {
  const xs = s.filter((x) => !empty(x)).sort((a, b) => (lowerLess(a, b) ? -1 : lowerLess(b, a) ? 1 : 0));
  const out: Interval[] = [];
  for (const x of xs) {
    const last = out[out.length - 1];
    if (last && (x.lo < last.hi || (x.lo === last.hi && !(x.loOpen && last.hiOpen)))) {
      if (x.hi > last.hi || (x.hi === last.hi && !x.hiOpen)) {
        last.hi = x.hi;
        last.hiOpen = x.hiOpen;
      }
    } else out.push({ ...x });
  }
  return out;
}

export function union(a: IntervalSet, b: IntervalSet): IntervalSet {
  return normalize([...a, ...b]);
}

export function intersect(a: IntervalSet, b: IntervalSet): IntervalSet {
  const out: Interval[] = [];
  for (const x of a) {
    for (const y of b) {
      const lo = Math.max(x.lo, y.lo);
      const hi = Math.min(x.hi, y.hi);
      const loOpen = (x.lo === lo && x.loOpen) || (y.lo === lo && y.loOpen);
      const hiOpen = (x.hi === hi && x.hiOpen) || (y.hi === hi && y.hiOpen);
      const r = { lo, hi, loOpen, hiOpen };
      if (!empty(r)) out.push(r);
    }
  }
  return normalize(out);
}

/** The set holding just `v`. */
export const point = (v: number): Interval => ({ lo: v, hi: v, loOpen: false, hiOpen: false });

/** Parses a literal as a finite number, or null. */
export function num(v: string): number | null {
  if (v.trim() === '') return null;
  const x = Number(v);
  return Number.isFinite(x) ? x : null;
}

/** The set of key values a single predicate admits, or null when it does not constrain. */
export function predSet(op: PredIR['op'], values: string[]): IntervalSet | null {
  // the common cases (one comparison value, or BETWEEN's two), without the array of parsed values below
  if (values.length === 1 && op !== 'in' && op !== 'between') {
    const v = num(values[0]!);
    if (v === null) return null;
    switch (op) {
      case '=':
        return [point(v)];
      case '<':
        return [{ lo: -Infinity, hi: v, loOpen: true, hiOpen: true }];
      case '<=':
        return [{ lo: -Infinity, hi: v, loOpen: true, hiOpen: false }];
      case '>':
        return [{ lo: v, hi: Infinity, loOpen: true, hiOpen: true }];
      case '>=':
        return [{ lo: v, hi: Infinity, loOpen: false, hiOpen: true }];
      default:
        return null;
    }
  }
  if (values.length === 2 && op === 'between') {
    const v = num(values[0]!);
    const w = num(values[1]!);
    if (v === null || w === null) return null;
    return v <= w ? [{ lo: v, hi: w, loOpen: false, hiOpen: false }] : [];
  }
  const nums: number[] = [];
  for (const v of values) {
    const x = num(v);
    if (x === null) return null;
    nums.push(x);
  }
  const v = nums[0];
  switch (op) {
    case '=':
      return v === undefined ? null : [point(v)];
    case 'in':
      return normalize(nums.map(point));
    case '<':
      return v === undefined ? null : [{ lo: -Infinity, hi: v, loOpen: true, hiOpen: true }];
    case '<=':
      return v === undefined ? null : [{ lo: -Infinity, hi: v, loOpen: true, hiOpen: false }];
    case '>':
      return v === undefined ? null : [{ lo: v, hi: Infinity, loOpen: true, hiOpen: true }];
    case '>=':
      return v === undefined ? null : [{ lo: v, hi: Infinity, loOpen: false, hiOpen: true }];
    case 'between': {
      const w = nums[1];
      if (v === undefined || w === undefined) return null;
      return normalize([{ lo: v, hi: w, loOpen: false, hiOpen: false }]);
    }
    default:
      return null;
  }
}

/**
 * Evaluates `where` for `table.column`: the key values a row of `table` must have to satisfy it.
 * `values[i]` are the filled values of predicate i.
 */
export function evalWhere(
  where: BoolIR,
  preds: readonly PredIR[],
  values: readonly string[][],
  table: string,
  column: string,
): IntervalSet {
  switch (where.t) {
    case 'any':
      return ALL;
    case 'pred': {
      const p = preds[where.i]!;
      if (p.column !== column || (p.table !== table && !(p.table === null && p.cands?.includes(table)))) return ALL;
      return predSet(p.op, values[where.i]!) ?? ALL;
    }
    case 'and': {
      let acc = ALL;
      for (const c of where.c) {
        const part = evalWhere(c, preds, values, table, column);
        // ALL is the identity of intersection: skip the copy (most conjuncts do not constrain the key)
        if (part === ALL) continue;
        acc = acc === ALL ? part : intersect(acc, part);
        if (acc.length === 0) break;
      }
      return acc;
    }
    case 'or': {
      let acc: IntervalSet = [];
      for (const c of where.c) acc = union(acc, evalWhere(c, preds, values, table, column));
      return acc;
    }
  }
}

/** Bucket index of a key value: i such that bounds[i-1] <= v < bounds[i]. */
export function bucketOf(bounds: readonly number[], v: number): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (v >= bounds[mid]!) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Buckets that intersect the set (indices, ascending). */
export function bucketsOf(bounds: readonly number[], set: IntervalSet): number[] {
  const out: number[] = [];
  const n = bounds.length + 1;
  for (let b = 0; b < n; b++) {
    const L = b === 0 ? -Infinity : bounds[b - 1]!;
    const U = b === n - 1 ? Infinity : bounds[b]!;
    // bucket [L, U): some x in interval with L <= x < U
    if (set.some((x) => x.lo < U && (x.hi > L || (x.hi === L && !x.hiOpen)))) out.push(b);
  }
  return out;
}

const fin = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** Bucket names per key prefix, made once: the hot path would otherwise build the same short string per event. */
const BUCKET_NAMES = new Map<string, string[]>();
function nameOf(spec: PartitionKeySpec, b: number): string {
  const prefix = spec.bucketPrefix ?? '';
  let names = BUCKET_NAMES.get(prefix);
  if (!names) {
    names = Array.from({ length: 256 }, (_, i) => bucketName(i, spec.bucketPrefix));
    BUCKET_NAMES.set(prefix, names);
  }
  return names[b] ?? bucketName(b, spec.bucketPrefix);
}

/**
 * KeyRanges for one table: "*" when every bucket can be touched, "none" when no key can match,
 * otherwise one entry per touched bucket with the touched range clipped to it. A hashed key's
 * buckets cut the key's hash: its ranges are of the hash, named `hash(<column>)`.
 */
export function keyRangesFor(table: string, spec: PartitionKeySpec, set: IntervalSet): KeyRange[] {
  if (set.length === 0) return [{ table, column: spec.column, lo: null, hi: null, bucket: 'none' }];
  if (spec.hashed) {
    const hashes = hashesOf(set);
    const column = reportedKey(spec.column, true);
    if (hashes === null) return [{ table, column, lo: null, hi: null, bucket: '*' }];
    return keyRangesGeneral(table, spec, hashes).map((r) => ({ ...r, column }));
  }
  if (set.length === 1) return keyRangesOfInterval(table, spec, set[0]!);
  return keyRangesGeneral(table, spec, set);
}

/**
 * A set of key values as the set of their hashes: a point (an equality, an IN list) hashes to a
 * point; any wider interval may hold a key of every hash, so the set is all of them (null).
 */
function hashesOf(set: IntervalSet): IntervalSet | null {
  const hashes: number[] = [];
  for (const x of set) {
    if (x.lo !== x.hi || x.loOpen || x.hiOpen || !Number.isSafeInteger(x.lo)) return null;
    hashes.push(hashInt8(BigInt(x.lo)));
  }
  return [...new Set(hashes)].sort((a, b) => a - b).map((h) => point(h));
}

/** keyRangesFor through the interval algebra (any number of intervals); exported for tests. */
export function keyRangesGeneral(table: string, spec: PartitionKeySpec, set: IntervalSet): KeyRange[] {
  if (set.length === 0) return [{ table, column: spec.column, lo: null, hi: null, bucket: 'none' }];
  const bs = bucketsOf(spec.bounds, set);
  const first = set[0]!;
  const last = set[set.length - 1]!;
  if (bs.length === spec.bounds.length + 1) {
    return [{ table, column: spec.column, lo: fin(first.lo), hi: fin(last.hi), bucket: '*' }];
  }
  return bs.map((b) => {
    const L = b === 0 ? -Infinity : spec.bounds[b - 1]!;
    const U = b === spec.bounds.length ? Infinity : spec.bounds[b]!;
    const inside = intersect(set, [{ lo: L, hi: U, loOpen: false, hiOpen: true }]);
    const lo = inside[0]?.lo ?? L;
    const hi = inside[inside.length - 1]?.hi ?? U;
    return { table, column: spec.column, lo: fin(lo), hi: fin(hi), bucket: nameOf(spec, b) };
  });
}

/** Number of bounds strictly below v. */
function countBelow(bounds: readonly number[], v: number): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (bounds[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * keyRangesFor of a one-interval set (a point, BETWEEN, a comparison: nearly every statement),
 * computed directly: the touched buckets are contiguous (from the bucket holding `lo` to the
 * last one `hi` reaches), and each is clipped without building interval sets. Same result as
 * the general path, which a unit test checks on generated intervals.
 */
function keyRangesOfInterval(table: string, spec: PartitionKeySpec, x: Interval): KeyRange[] {
  const bounds = spec.bounds;
  const first = bucketOf(bounds, x.lo);
  const last = x.hiOpen ? countBelow(bounds, x.hi) : bucketOf(bounds, x.hi);
  if (first === 0 && last === bounds.length) return [{ table, column: spec.column, lo: fin(x.lo), hi: fin(x.hi), bucket: '*' }];
  // most intervals lie in one bucket: that one as an array literal, since an array grown by push
  // reserves 16 slots
  if (first === last) return [bucketRange(table, spec, x, first)];
  const out: KeyRange[] = [];
  for (let b = first; b <= last; b++) out.push(bucketRange(table, spec, x, b));
  return out;
}

/** The part of interval x inside bucket b (the whole bucket when x only touches its edge). */
function bucketRange(table: string, spec: PartitionKeySpec, x: Interval, b: number): KeyRange {
  const bounds = spec.bounds;
  const L = b === 0 ? -Infinity : bounds[b - 1]!;
  const U = b === bounds.length ? Infinity : bounds[b]!;
  let lo = Math.max(x.lo, L);
  let hi = Math.min(x.hi, U);
  const loOpen = x.lo === lo && x.loOpen;
  const hiOpen = (x.hi === hi && x.hiOpen) || U === hi;
  if (lo > hi || (lo === hi && (loOpen || hiOpen))) {
    lo = L;
    hi = U;
  }
  return { table, column: spec.column, lo: fin(lo), hi: fin(hi), bucket: nameOf(spec, b) };
}

/** Point key values when the set is a small finite set of points (for hot keys). */
export function pointsOf(set: IntervalSet, max: number): string[] | null {
  if (set.length === 0 || set.length > max) return null;
  // one point, the usual case, as an array literal (see keyRangesOfInterval)
  if (set.length === 1) return set[0]!.lo === set[0]!.hi ? [String(set[0]!.lo)] : null;
  const out: string[] = [];
  for (const x of set) {
    if (x.lo !== x.hi) return null;
    out.push(String(x.lo));
  }
  return out;
}
