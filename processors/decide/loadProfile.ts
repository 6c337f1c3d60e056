/**
 * The load profile: predicted read/write load per partition over the planning horizon, from
 * forecasts (per partition series, or per key-bucket series summed by overlap), planned at
 * `point + risk × (upper − point)`, falling back to the current aggregate.
 */
import type { Forecast, WorkloadAggregate } from '../../schemas/types.js';
import type { DecideConfig } from './config.js';
import { type ClusterState, type PartitionSpec, overlapFraction, seriesOf } from './state.js';

export interface PartitionLoad {
  seriesId: string;
  /** Planned load per step (risk-adjusted), split into reads and writes. */
  read: Float64Array;
  write: Float64Array;
  /** Point, lower and upper forecasts of the total, per step. */
  point: Float64Array;
  lower: Float64Array;
  upper: Float64Array;
  currentRead: number;
  currentWrite: number;
  model: string | null;
  /** Whether any forecast covered this partition (otherwise the current load is carried). */
  forecast: boolean;
}

export interface BucketLoad {
  table: string;
  lo: number;
  hi: number;
  /** Planned total load per step. */
  total: Float64Array;
  /** The newest window's reads and writes of the bucket (0 when none was seen). */
  currentReads: number;
  currentWrites: number;
  /** The keys written in it keep growing (BucketSpec.appending). */
  appending: boolean;
}

export interface LoadProfile {
  now: number;
  stepMs: number;
  steps: number;
  partitions: Map<string, PartitionLoad>;
  bucketsByTable: Map<string, BucketLoad[]>;
}

interface SeriesSteps {
  point: Float64Array;
  lower: Float64Array;
  upper: Float64Array;
  model: string;
}

/** Forecast points aligned to steps now+1·step … now+H·step (later points win; gaps carried). */
function alignForecast(f: Forecast, now: number, stepMs: number, steps: number, fallback: number): SeriesSteps {
  const point = new Float64Array(steps).fill(NaN);
  const lower = new Float64Array(steps).fill(NaN);
  const upper = new Float64Array(steps).fill(NaN);
  for (const p of f.points) {
    const k = Math.ceil((p.ts - now) / stepMs) - 1;
    if (k < 0 || k >= steps) continue;
    point[k] = Math.max(0, p.predicted);
    lower[k] = Math.max(0, Math.min(p.lower, p.predicted));
    upper[k] = Math.max(p.upper, p.predicted, 0);
  }
  let lp = fallback,
    ll = fallback,
    lu = fallback;
  for (let k = 0; k < steps; k++) {
    if (Number.isNaN(point[k]!)) {
      point[k] = lp;
      lower[k] = ll;
      upper[k] = lu;
    }
    lp = point[k]!;
    ll = lower[k]!;
    lu = upper[k]!;
  }
  return { point, lower, upper, model: f.model };
}

function latestBy<T extends { windowEnd: number }>(items: readonly T[], key: (t: T) => string | null): Map<string, T> {
  const m = new Map<string, T>();
  for (const a of items) {
    const k = key(a);
    if (k === null) continue;
    const prev = m.get(k);
    if (!prev || prev.windowEnd <= a.windowEnd) m.set(k, a);
  }
  return m;
}

/** Predicted load per partition over the horizon. */
export function buildLoadProfile(
  state: ClusterState,
  forecasts: readonly Forecast[],
  aggregates: readonly WorkloadAggregate[],
  now: number,
  cfg: DecideConfig,
): LoadProfile {
  const steps = cfg.horizonSteps;
  const stepMs = cfg.stepMs;
  const fBySeries = new Map<string, Forecast>();
  for (const f of forecasts) {
    if (f.metric !== 'queries' && f.metric !== 'load' && f.metric !== 'value') continue;
    const prev = fBySeries.get(f.seriesId);
    if (!prev || prev.issuedAt <= f.issuedAt) fBySeries.set(f.seriesId, f);
  }
  const aggBySeries = latestBy(aggregates, (a) => a.seriesId);
  const aggByPartition = latestBy(aggregates, (a) => a.partition);

  // Key buckets: forecast or current load per bucket.
  const bucketsByTable = new Map<string, BucketLoad[]>();
  const bucketSteps = new Map<string, SeriesSteps>();
  for (const b of state.buckets) {
    const agg = aggBySeries.get(b.seriesId);
    const cur = agg ? agg.queries : 0;
    const f = fBySeries.get(b.seriesId);
    const s = f
      ? alignForecast(f, now, stepMs, steps, cur)
      : {
          point: new Float64Array(steps).fill(cur),
          lower: new Float64Array(steps).fill(cur),
          upper: new Float64Array(steps).fill(cur),
          model: 'current',
        };
    bucketSteps.set(b.seriesId, s);
    const total = new Float64Array(steps);
    for (let k = 0; k < steps; k++) total[k] = s.point[k]! + cfg.risk * (s.upper[k]! - s.point[k]!);
    const list = bucketsByTable.get(b.table) ?? [];
    list.push({
      table: b.table,
      lo: b.lo,
      hi: b.hi,
      total,
      currentReads: agg?.reads ?? 0,
      currentWrites: agg?.writes ?? 0,
      appending: b.appending === true,
    });
    bucketsByTable.set(b.table, list);
  }
  for (const list of bucketsByTable.values()) list.sort((a, b) => a.lo - b.lo);

  const partitions = new Map<string, PartitionLoad>();
  for (const p of state.partitions) {
    const sid = seriesOf(p);
    const agg = aggByPartition.get(p.id) ?? aggBySeries.get(sid);
    let currentRead = agg ? agg.reads : 0;
    let currentWrite = agg ? agg.writes : 0;
    const f = fBySeries.get(sid);
    let point: Float64Array,
      lower: Float64Array,
      upper: Float64Array,
      model: string | null = null,
      forecast = false;
    const buckets = state.buckets.filter((b) => b.table === p.table && overlapFraction(b.lo, b.hi, p.lo, p.hi) > 0);
    if (f) {
      const s = alignForecast(f, now, stepMs, steps, currentRead + currentWrite);
      ({ point, lower, upper } = s);
      model = s.model;
      forecast = true;
    } else if (buckets.length) {
      point = new Float64Array(steps);
      lower = new Float64Array(steps);
      upper = new Float64Array(steps);
      const varUp = new Float64Array(steps),
        varLo = new Float64Array(steps);
      let bucketCurrent = 0,
        bucketReads = 0,
        bucketWrites = 0;
      for (const b of buckets) {
        const w = overlapFraction(b.lo, b.hi, p.lo, p.hi);
        const s = bucketSteps.get(b.seriesId)!;
        if (s.model !== 'current') {
          forecast = true;
          model = s.model;
        }
        const bAgg = aggBySeries.get(b.seriesId);
        bucketCurrent += w * (bAgg?.queries ?? 0);
        bucketReads += w * (bAgg?.reads ?? 0);
        bucketWrites += w * (bAgg?.writes ?? 0);
        for (let k = 0; k < steps; k++) {
          point[k]! += w * s.point[k]!;
          varUp[k]! += (w * (s.upper[k]! - s.point[k]!)) ** 2;
          varLo[k]! += (w * (s.point[k]! - s.lower[k]!)) ** 2;
        }
      }
      // Independent buckets: the interval of the sum is narrower than the sum of intervals.
      for (let k = 0; k < steps; k++) {
        upper[k] = point[k]! + Math.sqrt(varUp[k]!);
        lower[k] = Math.max(0, point[k]! - Math.sqrt(varLo[k]!));
      }
      if (!agg && bucketCurrent > 0) {
        // the buckets' own read share; the default only where they counted neither
        const seen = bucketReads + bucketWrites;
        currentRead = bucketCurrent * (seen > 0 ? bucketReads / seen : cfg.readFractionDefault);
        currentWrite = bucketCurrent - currentRead;
      }
    } else {
      const cur = currentRead + currentWrite;
      point = new Float64Array(steps).fill(cur);
      lower = point.slice();
      upper = point.slice();
    }
    const curTotal = currentRead + currentWrite;
    const readFrac = curTotal > 0 ? currentRead / curTotal : cfg.readFractionDefault;
    const read = new Float64Array(steps),
      write = new Float64Array(steps);
    for (let k = 0; k < steps; k++) {
      const t = point[k]! + cfg.risk * (upper[k]! - point[k]!);
      read[k] = t * readFrac;
      write[k] = t - read[k]!;
    }
    partitions.set(p.id, { seriesId: sid, read, write, point, lower, upper, currentRead, currentWrite, model, forecast });
  }
  return { now, stepMs, steps, partitions, bucketsByTable };
}

/** Planned load of the key sub-range [lo, hi) of a partition, per step (from key buckets). */
export function subRangeLoad(profile: LoadProfile, p: PartitionSpec, lo: number | null, hi: number | null): Float64Array | null {
  const buckets = profile.bucketsByTable.get(p.table);
  if (!buckets?.length) return null;
  const out = new Float64Array(profile.steps);
  const from = Math.max(lo ?? -Infinity, p.lo ?? -Infinity);
  const to = Math.min(hi ?? Infinity, p.hi ?? Infinity);
  for (const b of buckets) {
    const w = overlapFraction(b.lo, b.hi, from, to);
    if (w > 0) for (let k = 0; k < out.length; k++) out[k]! += w * b.total[k]!;
  }
  return out;
}

export function peakOf(a: ArrayLike<number>): { value: number; step: number } {
  let value = -Infinity,
    step = 0;
  for (let k = 0; k < a.length; k++)
    if (a[k]! > value) {
      value = a[k]!;
      step = k;
    }
  return { value: Math.max(0, value), step };
}

/** Migration duration in ms at the throttle rate. */
export function migrationMs(bytes: number, cfg: Pick<DecideConfig, 'throttleBytesPerSec'>): number {
  return Math.ceil((bytes / cfg.throttleBytesPerSec) * 1000);
}

export function msToSteps(ms: number, stepMs: number): number {
  return Math.max(1, Math.ceil(ms / stepMs));
}
