/**
 * The first half of ingest when it scales out: a fetched batch of one source partition →
 * validated query events re-keyed by the series they count in, plus one watermark mark per
 * internal partition. Every series a query counts in (its source's total series and its
 * table × key-range series) carries the query's source and node, so keying by them puts each
 * (series, window) on one internal partition, owned by one instance. The marks let windows on
 * an internal partition close by the same event time as one instance reading every source
 * partition would, even for series that got no event from that source partition.
 * Pure: the pipeline decodes before and sends after.
 */
import { deadLetter } from '../../schemas/envelope.js';
import type { DeadLetter, QueryEvent, RoutedQuery } from '../../schemas/types.js';
import type { IngestInput } from './processor.js';
import { isDecodeFailure } from './processor.js';
import { validateQueryEvent } from './validate.js';

/** The key a query is routed by: what every series it counts in shares. */
export function routeKey(ev: Pick<QueryEvent, 'source' | 'node'>): string {
  return ev.node === null ? ev.source : `${ev.source}|${ev.node}`;
}

/** The origin a routed record names, as the window's watermark keys it ("topic:partition"). */
export function originKey(r: Pick<RoutedQuery, 'originTopic' | 'originPartition'>): string {
  return `${r.originTopic}:${r.originPartition}`;
}

export interface RoutedRecord {
  key: string | null;
  value: RoutedQuery;
  /** Set for marks: each internal partition gets one. */
  partition?: number;
}

export interface RoutedBatch {
  records: RoutedRecord[];
  letters: DeadLetter[];
  /** Events routed (marks not counted). */
  routed: number;
}

/**
 * Routes batches of source partitions. Remembers each source partition's newest event time,
 * which its marks carry (a mark never moves event time back).
 */
export class QueryRouter {
  private readonly fronts = new Map<string, number>();

  constructor(
    /** Partitions of the internal topic: each gets every mark. */
    private readonly internalPartitions: number,
    private readonly pipeline = 'ingest',
  ) {}

  /**
   * One source partition's decoded batch (decode failures included) → routed events in offset
   * order, then the marks; bad events as dead letters stamped `now`.
   */
  route(batch: readonly IngestInput[], now: number): RoutedBatch {
    const out: RoutedBatch = { records: [], letters: [], routed: 0 };
    if (batch.length === 0) return out;
    const first = batch[0]!;
    const origin = `${first.topic}:${first.partition}`;
    let front = this.fronts.get(origin) ?? -Infinity;
    for (const env of batch) {
      const v = env.value;
      if (isDecodeFailure(v)) {
        out.letters.push(deadLetter(env, 'decode', v.decodeFailure, this.pipeline, now));
        continue;
      }
      const valid = validateQueryEvent(v);
      if (!valid.ok) {
        out.letters.push(deadLetter(env, 'validate', valid.reason, this.pipeline, now));
        continue;
      }
      if (valid.value.ts > front) front = valid.value.ts;
      out.routed++;
      out.records.push({
        key: routeKey(valid.value),
        value: { originTopic: env.topic, originPartition: env.partition, originOffset: Number(env.offset), event: env.raw, markTs: null },
      });
    }
    if (!Number.isFinite(front)) return out;
    this.fronts.set(origin, front);
    const last = Number(batch[batch.length - 1]!.offset);
    for (let p = 0; p < this.internalPartitions; p++) {
      out.records.push({
        key: null,
        partition: p,
        value: { originTopic: first.topic, originPartition: first.partition, originOffset: last, event: null, markTs: front },
      });
    }
    return out;
  }

  /** Forgets a source partition that moved to another instance (its successor marks it). */
  release(origin: string): void {
    this.fronts.delete(origin);
  }
}
