/**
 * One series' running totals within one window (counts, latency sketch, hot keys, co-access),
 * and the WorkloadAggregate it becomes when the window closes. The sketches have a fixed size,
 * so a series' memory is bounded however many events or distinct keys it counts.
 */
import type { QueryFeatures, QueryStatus, WorkloadAggregate } from '../../schemas/types.js';
import { LatencySketch } from './latencySketch.js';
import { SpaceSaving } from './spaceSaving.js';
import type { ProfileLimits, TemplateProfile } from './templateProfile.js';

/** What a series counts of one query. */
export interface QueryMetrics extends Pick<QueryFeatures, 'readWrite' | 'parseError'> {
  durationMs: number;
  rowsRead: number;
  rowsWritten: number;
  status: QueryStatus;
}

/** Which series: the id and the dimensions the aggregate reports. */
export interface SeriesIdentity {
  seriesId: string;
  source: string;
  table: string | null;
  keyBucket: string | null;
  partition: string | null;
  node: string | null;
}

export interface SeriesState extends SeriesIdentity {
  queries: number;
  reads: number;
  writes: number;
  rowsRead: number;
  rowsWritten: number;
  errors: number;
  unparsed: number;
  lateMerged: number;
  latencySumMs: number;
  latency: LatencySketch;
  hot: SpaceSaving;
  co: SpaceSaving;
  /** The template profile of a source's total series (templateProfile.ts); null elsewhere. */
  profile: TemplateProfile | null;
  /** The smallest and largest numeric key written on the series (null: none yet). */
  writeKeyMin: number | null;
  writeKeyMax: number | null;
}

export interface SeriesLimits {
  hotKeysPerSeries: number;
  coAccessPerSeries: number;
  /** DDSketch relative accuracy and bin limit. */
  relativeAccuracy: number;
  sketchBinLimit: number;
  /** Bounds of a total series' template profile. */
  profile: ProfileLimits;
}

export function newSeries(identity: SeriesIdentity, limits: SeriesLimits): SeriesState {
  return {
    ...identity,
    queries: 0,
    reads: 0,
    writes: 0,
    rowsRead: 0,
    rowsWritten: 0,
    errors: 0,
    unparsed: 0,
    lateMerged: 0,
    latencySumMs: 0,
    latency: new LatencySketch(limits.relativeAccuracy, limits.sketchBinLimit),
    hot: new SpaceSaving(limits.hotKeysPerSeries),
    co: new SpaceSaving(limits.coAccessPerSeries),
    profile: null,
    writeKeyMin: null,
    writeKeyMax: null,
  };
}

/** Notes the keys a write named (numeric ones): min and max merge across windows' parts and instances, whatever the order. */
export function noteWrittenKeys(s: SeriesState, keys: readonly string[]): void {
  for (const k of keys) {
    const x = Number(k);
    if (k === '' || !Number.isFinite(x)) continue;
    if (s.writeKeyMin === null || x < s.writeKeyMin) s.writeKeyMin = x;
    if (s.writeKeyMax === null || x > s.writeKeyMax) s.writeKeyMax = x;
  }
}

/** Counts one query in a series; `late` when it arrived behind the watermark. */
export function countQuery(s: SeriesState, v: QueryMetrics, late: boolean): void {
  s.queries++;
  const rw = v.readWrite;
  if (rw === 'read' || rw === 'mixed') s.reads++;
  if (rw === 'write' || rw === 'mixed') s.writes++;
  s.rowsRead += v.rowsRead || 0;
  s.rowsWritten += v.rowsWritten || 0;
  if (v.status !== 'ok') s.errors++;
  if (v.parseError !== null) s.unparsed++;
  if (late) s.lateMerged++;
  const d = v.durationMs;
  if (d >= 0 && Number.isFinite(d)) {
    s.latencySumMs += d;
    s.latency.add(d);
  }
}

/** The aggregate of a series over the window [windowStart, windowEnd). */
export function toAggregate(s: SeriesState, windowStart: number, windowEnd: number, limits: SeriesLimits): WorkloadAggregate {
  const q = (p: number) => {
    const x = s.latency.quantile(p);
    return x === null ? null : round3(x);
  };
  return {
    seriesId: s.seriesId,
    windowStart,
    windowEnd,
    source: s.source,
    table: s.table,
    keyBucket: s.keyBucket,
    partition: s.partition,
    node: s.node,
    queries: s.queries,
    reads: s.reads,
    writes: s.writes,
    rowsRead: s.rowsRead,
    rowsWritten: s.rowsWritten,
    errors: s.errors,
    unparsed: s.unparsed,
    lateMerged: s.lateMerged,
    latencySumMs: round3(s.latencySumMs),
    latencyP50Ms: q(0.5),
    latencyP95Ms: q(0.95),
    latencyP99Ms: q(0.99),
    hotKeys: s.hot.top(Math.min(10, limits.hotKeysPerSeries)).map((h) => ({ key: h.key, count: h.count, error: h.error })),
    coAccess: s.co.top(Math.min(10, limits.coAccessPerSeries)).map((h) => ({ other: h.key, count: h.count })),
    ...(s.profile ? s.profile.stats() : {}),
    writeKeyMin: s.writeKeyMin,
    writeKeyMax: s.writeKeyMax,
  };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
