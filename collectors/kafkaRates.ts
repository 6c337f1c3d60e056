/**
 * Kafka metrics from two reads of the Admin API's offsets: per topic-partition produce rate
 * (high-watermark growth), per consumer group and topic-partition consume rate (committed
 * offset growth) and lag (high watermark minus committed offset), plus each topic's total
 * produce rate, the series the decide stage plans partition counts on. Pure: the reads happen
 * in collectors/kafkaOffsets.ts, the publishing in pipelines/collectKafka.ts.
 */
import type { MetricSample } from '../schemas/types.js';

/** One read of the offsets: high watermarks per topic-partition, committed offsets per group. */
export interface OffsetSnapshot {
  ts: number;
  topics: { topic: string; partitions: { partition: number; high: number }[] }[];
  /** Committed offsets; a partition the group never committed is absent. */
  groups: { groupId: string; topic: string; partition: number; committed: number }[];
}

/** The metric names this collector publishes (MetricSample.metric). */
export const KAFKA_METRICS = {
  /** Records per second produced to one partition. */
  partitionIn: 'topic.records_in',
  /** Records per second produced to a whole topic (labels.partition is '*'). */
  topicIn: 'topic.records_in_total',
  /** Records per second a group consumed (committed) from one partition. */
  groupOut: 'group.records_out',
  /** Records a group has not committed yet in one partition. */
  groupLag: 'group.lag',
} as const;

/**
 * The samples between `prev` and `cur` (both of one cluster, `source`), stamped `cur.ts`. Rates
 * need both reads: a partition or group new in `cur` gets its lag only. A high watermark that
 * went back (a topic deleted and made again) gives no rate, not a negative one.
 */
export function kafkaMetricSamples(prev: OffsetSnapshot | null, cur: OffsetSnapshot, source: string): MetricSample[] {
  const out: MetricSample[] = [];
  const seconds = prev ? (cur.ts - prev.ts) / 1000 : 0;
  const sample = (metric: string, topic: string, value: number, labels: Record<string, string>): MetricSample => ({
    ts: cur.ts,
    source,
    node: topic,
    metric,
    value,
    labels: { topic, ...labels },
  });
  const highOf = new Map<string, number>();
  const prevHigh = new Map<string, number>();
  for (const t of prev?.topics ?? []) for (const p of t.partitions) prevHigh.set(`${t.topic}|${p.partition}`, p.high);
  for (const t of cur.topics) {
    let total = 0,
      known = false;
    for (const p of t.partitions) {
      const key = `${t.topic}|${p.partition}`;
      highOf.set(key, p.high);
      const before = prevHigh.get(key);
      if (seconds <= 0 || before === undefined || p.high < before) continue;
      const rate = (p.high - before) / seconds;
      total += rate;
      known = true;
      out.push(sample(KAFKA_METRICS.partitionIn, t.topic, rate, { partition: String(p.partition) }));
    }
    if (known) out.push(sample(KAFKA_METRICS.topicIn, t.topic, total, { partition: '*', partitions: String(t.partitions.length) }));
  }
  const prevCommitted = new Map<string, number>();
  for (const g of prev?.groups ?? []) prevCommitted.set(`${g.groupId}|${g.topic}|${g.partition}`, g.committed);
  for (const g of cur.groups) {
    const labels = { group: g.groupId, partition: String(g.partition) };
    const high = highOf.get(`${g.topic}|${g.partition}`);
    if (high !== undefined) out.push(sample(KAFKA_METRICS.groupLag, g.topic, Math.max(0, high - g.committed), labels));
    const before = prevCommitted.get(`${g.groupId}|${g.topic}|${g.partition}`);
    if (seconds > 0 && before !== undefined && g.committed >= before)
      out.push(sample(KAFKA_METRICS.groupOut, g.topic, (g.committed - before) / seconds, labels));
  }
  return out;
}
