/**
 * Series naming between ingest and the engine. Ingest's series are
 * `source|table|bucket[|partition][|node]`; the engine plans on table × key-range buckets, so
 * per-partition and per-node variants of a bucket are summed into `source|table|bucket` first.
 */
import type { Forecast, WorkloadAggregate } from '../../schemas/types.js';
import { bucketName, type TableKey } from '../../schemas/keyBuckets.js';
import type { BucketSpec } from './state.js';

/** Whether a series belongs to `source` (ingest names every series `source|…`). */
export const isSeriesOf = (id: string, source: string) => id.startsWith(`${source}|`);

/** `src|table|bucket|...` → `src|table|bucket`. */
export const bucketSeries = (id: string) => id.split('|').slice(0, 3).join('|');

/** Forecasts summed per bucket series (point and interval bounds, horizon by horizon). */
export function foldForecasts(fs: Iterable<Forecast>): Forecast[] {
  const out = new Map<string, Forecast>();
  for (const f of fs) {
    const id = bucketSeries(f.seriesId);
    const cur = out.get(id);
    if (!cur) out.set(id, { ...f, seriesId: id, points: f.points.map((p) => ({ ...p })) });
    else
      cur.points.forEach((p, i) => {
        const q = f.points[i];
        if (q) {
          p.predicted += q.predicted;
          p.lower += q.lower;
          p.upper += q.upper;
        }
      });
  }
  return [...out.values()];
}

/** Aggregates summed per bucket series (no longer tied to one node or partition). */
export function foldAggregates(as: Iterable<WorkloadAggregate>): WorkloadAggregate[] {
  const out = new Map<string, WorkloadAggregate>();
  for (const a of as) {
    const id = bucketSeries(a.seriesId);
    const cur = out.get(id);
    if (!cur) out.set(id, { ...a, seriesId: id, node: null, partition: null });
    else {
      cur.queries += a.queries;
      cur.reads += a.reads;
      cur.writes += a.writes;
    }
  }
  return [...out.values()];
}

/** The key buckets ingest cuts a table into by `key` (schemas/keyBuckets.ts names them), as the engine's bucket specs. */
export function bucketsFor(source: string, table: string, key: TableKey): BucketSpec[] {
  const edges = [Number.MIN_SAFE_INTEGER, ...key.bounds, Number.MAX_SAFE_INTEGER];
  return edges
    .slice(0, -1)
    .map((lo, i) => ({ seriesId: `${source}|${table}|${bucketName(i, key.bucketPrefix)}`, table, lo, hi: edges[i + 1]! }));
}
