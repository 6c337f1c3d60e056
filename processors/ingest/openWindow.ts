/**
 * One open window [start, end) and its series: per source a total series `source|*|*[||node]`
 * that counts every query exactly once, and per table × key-range bucket (× partition × node
 * when known) `source|table|bucket[|partition][|node]`, counting each query that touches it.
 * Multi-table and multi-bucket queries add their metrics to every series they touch. At most
 * `maxSeriesPerWindow` series: beyond it, series overflow into the fixed `~other` series, still
 * counted.
 */
import { parseReportedKey } from '../../schemas/keyBuckets.js';
import { hashInt8 } from '../../schemas/keyHash.js';
import type { QueryFeatures, WorkloadAggregate } from '../../schemas/types.js';
import { recordCoAccess, type TransactionTargets } from './coAccess.js';
import {
  countQuery,
  newSeries,
  noteWrittenKeys,
  toAggregate,
  type QueryMetrics,
  type SeriesIdentity,
  type SeriesLimits,
  type SeriesState,
} from './series.js';
import { NONE, type NodeSeries, SeriesIndex } from './seriesIndex.js';
import type { CompiledTemplate } from './sql/ir.js';
import { type PredicateValues, TemplateProfile } from './templateProfile.js';

/** What the window needs from a query: the features it reads plus the metrics of the event. */
export interface WindowInput extends QueryMetrics, Pick<QueryFeatures, 'ts' | 'source' | 'tables' | 'keyRanges'> {
  node: string | null;
  partition: string | null;
  txId: string | null;
  /** Partition-key values touched per table (FeaturesWithKeys.pointKeys), for hot keys. */
  pointKeys?: Record<string, string[]>;
  /** The query's compiled template, for the source's template profile (absent: not profiled). */
  compiled?: CompiledTemplate | null;
  /** Its predicates' values in this statement, filled on demand. */
  predicateValues?: PredicateValues;
}

export interface WindowLimits extends SeriesLimits {
  maxSeriesPerWindow: number;
  /** Transactions remembered per window for co-access. */
  maxTxPerWindow: number;
}

/** The most targets of one query that take part in co-access. */
const TARGETS_PER_QUERY = 16;

const OTHER = '~other';
const OTHER_BUCKET: SeriesIdentity = { seriesId: OTHER, source: OTHER, table: OTHER, keyBucket: null, partition: null, node: null };
const OTHER_TOTAL: SeriesIdentity = { seriesId: `${OTHER}|*|*`, source: OTHER, table: null, keyBucket: null, partition: null, node: null };

export class OpenWindow {
  readonly end: number;
  /** "topic:partition" → first offset held by this window (see safeOffsets.ts). */
  readonly firstOffsets = new Map<string, number>();
  private readonly series = new Map<string, SeriesState>();
  private readonly index = new SeriesIndex();
  private readonly tx: TransactionTargets = new Map();

  constructor(
    readonly start: number,
    windowMs: number,
    private readonly limits: WindowLimits,
    /** Shared counters: `overflowed` counts series lookups that went to `~other`. */
    private readonly counters: { overflowed: number },
  ) {
    this.end = start + windowMs;
  }

  /** Counts one query in every series it touches; `late` when it arrived behind the watermark. */
  add(v: WindowInput, late: boolean): void {
    const node = v.node ?? null;
    const partition = v.partition ?? null;
    const at = this.index.at(v.source, node ?? NONE);
    const total = this.totalSeries(at, v.source, node);
    countQuery(total, v, late);
    if (v.compiled && v.predicateValues) {
      total.profile ??= new TemplateProfile(this.limits.profile);
      total.profile.add(v.compiled, v.predicateValues, v);
    }

    // The common case, one table and at most one key range outside a transaction: one series,
    // no co-access; the same result as the general path below without its per-event arrays.
    if (!v.txId && v.tables.length === 1 && v.keyRanges.length <= 1) {
      const table = v.tables[0]!;
      const kr = v.keyRanges[0];
      const s = this.bucketSeries(at, v.source, table, kr !== undefined && kr.table === table ? kr.bucket : '*', partition, node);
      countQuery(s, v, late);
      const keys = v.pointKeys?.[table];
      if (keys) {
        for (const k of keys) s.hot.add(k);
        if (writes(v)) noteWrittenKeys(s, keys);
      }
      return;
    }

    const targets = new Map<string, SeriesState>();
    for (const table of v.tables) {
      const buckets: string[] = [];
      for (const kr of v.keyRanges) if (kr.table === table && !buckets.includes(kr.bucket)) buckets.push(kr.bucket);
      if (buckets.length === 0) buckets.push('*');
      const series: SeriesState[] = [];
      for (const bucket of buckets) {
        const s = this.bucketSeries(at, v.source, table, bucket, partition, node);
        if (!series.includes(s)) {
          countQuery(s, v, late);
          series.push(s);
        }
        if (targets.size < TARGETS_PER_QUERY) targets.set(`${table}|${bucket}`, s);
      }
      const keys = v.pointKeys?.[table];
      if (keys)
        for (const k of keys) {
          const s = series[Math.min(bucketOfKey(v, table, buckets, series.length, k), series.length - 1)]!;
          s.hot.add(k);
          if (writes(v)) noteWrittenKeys(s, [k]);
        }
    }

    // (a query touching one target with no transaction has nothing to co-access: the usual case)
    if (targets.size < 2 && !v.txId) return;
    recordCoAccess(targets, v.txId, this.tx, this.limits.maxTxPerWindow);
  }

  /** The window's aggregates, in series id order. */
  aggregates(): WorkloadAggregate[] {
    return [...this.series.keys()].sort().map((id) => toAggregate(this.series.get(id)!, this.start, this.end, this.limits));
  }

  /** The series of one table × key bucket (× partition × node when known). */
  private bucketSeries(
    at: NodeSeries,
    source: string,
    table: string,
    bucket: string,
    partition: string | null,
    node: string | null,
  ): SeriesState {
    // the index key mirrors the id below: partition null and '' are one series once a node is known
    const d = partition === null && node === null ? NONE : (partition ?? '');
    const known = this.index.bucket(at, table, bucket, d);
    if (known) return known;
    let id = `${source}|${table}|${bucket}`;
    if (partition !== null || node !== null) id += `|${partition ?? ''}`;
    if (node !== null) id += `|${node}`;
    const s = this.seriesFor({ seriesId: id, source, table, keyBucket: bucket, partition, node }, OTHER_BUCKET);
    this.index.setBucket(at, table, bucket, d, s);
    return s;
  }

  /** The source's total series (× node when known), counting every query once. */
  private totalSeries(at: NodeSeries, source: string, node: string | null): SeriesState {
    if (at.total) return at.total;
    const id = `${source}|*|*${node !== null ? `||${node}` : ''}`;
    at.total = this.seriesFor({ seriesId: id, source, table: null, keyBucket: null, partition: null, node }, OTHER_TOTAL);
    return at.total;
  }

  /** The series with this identity, or the overflow series once the window holds `maxSeriesPerWindow`. */
  private seriesFor(identity: SeriesIdentity, overflow: SeriesIdentity): SeriesState {
    const known = this.series.get(identity.seriesId);
    if (known) return known;
    let base = identity;
    if (this.series.size >= this.limits.maxSeriesPerWindow) {
      this.counters.overflowed++;
      const other = this.series.get(overflow.seriesId);
      if (other) return other;
      base = overflow;
    }
    const s = newSeries(base, this.limits);
    this.series.set(base.seriesId, s);
    return s;
  }
}

/**
 * Which of a table's bucket series a point key belongs to: the bucket whose key range holds it
 * (the first when there is one series or the key is not a number).
 */
function writes(v: WindowInput): boolean {
  return v.readWrite === 'write' || v.readWrite === 'mixed';
}

function bucketOfKey(v: WindowInput, table: string, buckets: readonly string[], seriesCount: number, key: string): number {
  const x = Number(key);
  if (seriesCount <= 1 || !Number.isFinite(x)) return 0;
  for (const r of v.keyRanges) {
    if (r.table !== table) continue;
    // a hashed key's ranges are of the key's hash (keyrange.ts)
    const hashed = parseReportedKey(r.column).hashed;
    if (hashed && !Number.isSafeInteger(x)) return 0;
    const y = hashed ? hashInt8(BigInt(x)) : x;
    if ((r.lo === null || r.lo <= y) && (r.hi === null || y <= r.hi)) return Math.max(0, buckets.indexOf(r.bucket));
  }
  return 0;
}
