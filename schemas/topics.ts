/**
 * The topic catalog: every topic of the contract with its value schema, key, partitions,
 * retention and compaction. Provisioning (`topics/admin.ts`) and the typed clients read it.
 */
export interface TopicSpec {
  name: string;
  /** Avro schema file in `schemas/` (without `.avsc`). */
  schema: string;
  /** What the message key is, for people reading the catalog. */
  key: string;
  partitions: number;
  retentionMs: number;
  compacted: boolean;
  /** The topic's `max.message.bytes` when its records may be larger than the broker's default (1 MB). */
  maxMessageBytes?: number;
  /** The topic's `segment.bytes`: compaction cleans only closed segments, so a compacted topic of large records keeps them small. */
  segmentBytes?: number;
  /** Off-by-default topics are still provisioned so enabling them needs no admin step. */
  optional?: boolean;
}

const DAY = 24 * 3600 * 1000;

export const TOPICS = {
  queries: {
    name: 'shardcast.telemetry.queries',
    schema: 'QueryEvent',
    key: 'source id',
    partitions: 6,
    retentionMs: 3 * DAY,
    compacted: false,
  },
  metrics: {
    name: 'shardcast.telemetry.metrics',
    schema: 'MetricSample',
    key: 'source id + node',
    partitions: 3,
    retentionMs: 3 * DAY,
    compacted: false,
  },
  features: {
    name: 'shardcast.workload.features',
    schema: 'QueryFeatures',
    key: 'source + template',
    partitions: 6,
    retentionMs: 1 * DAY,
    compacted: false,
    optional: true,
  },
  aggregates: {
    name: 'shardcast.workload.aggregates',
    schema: 'WorkloadAggregate',
    key: 'series id',
    partitions: 6,
    retentionMs: 7 * DAY,
    compacted: false,
  },
  forecasts: { name: 'shardcast.forecasts', schema: 'Forecast', key: 'series id', partitions: 3, retentionMs: 7 * DAY, compacted: false },
  commandsPartition: {
    name: 'shardcast.commands.partition',
    schema: 'PartitionCommand',
    key: 'store + table',
    partitions: 1,
    retentionMs: 30 * DAY,
    compacted: false,
  },
  commandsShard: {
    name: 'shardcast.commands.shard',
    schema: 'ShardCommand',
    key: 'store + table',
    partitions: 1,
    retentionMs: 30 * DAY,
    compacted: false,
  },
  commandsResource: {
    name: 'shardcast.commands.resource',
    schema: 'ResourceCommand',
    key: 'store + node',
    partitions: 1,
    retentionMs: 30 * DAY,
    compacted: false,
  },
  results: {
    name: 'shardcast.results',
    schema: 'CommandResult',
    key: 'command id',
    partitions: 3,
    retentionMs: 30 * DAY,
    compacted: false,
  },
  dlq: { name: 'shardcast.dlq', schema: 'DeadLetter', key: 'source topic', partitions: 1, retentionMs: 30 * DAY, compacted: false },
  audit: { name: 'shardcast.audit', schema: 'AuditEvent', key: 'actor', partitions: 1, retentionMs: 365 * DAY, compacted: false },
  /**
   * Internal to ingest when it scales out: validated query events re-keyed by the series they
   * count in, and watermark marks, written in transactions (read committed).
   */
  routedQueries: {
    name: 'shardcast.internal.ingest.routed',
    schema: 'RoutedQuery',
    key: 'source + node (the series a query counts in)',
    partitions: 6,
    retentionMs: 1 * DAY,
    compacted: false,
  },
  /**
   * Internal to forecast when it scales out: each aggregates partition's forecaster state,
   * written in the transaction that commits the partition's forecasts and offsets; the newest
   * per key is what the next owner of the partition loads.
   */
  forecastState: {
    name: 'shardcast.internal.forecast.state',
    schema: 'ForecastPartitionState',
    key: 'forecast group + input topic + partition',
    partitions: 6,
    retentionMs: 7 * DAY,
    compacted: true,
    maxMessageBytes: 32 * 1024 * 1024,
    segmentBytes: 100 * 1024 * 1024,
  },
  /** One partition: the consumer-group member it is assigned to holds the lease (pipelines/lease.ts). */
  leases: { name: 'shardcast.leases', schema: 'LeaseEvent', key: 'lease group', partitions: 1, retentionMs: 7 * DAY, compacted: false },
} as const satisfies Record<string, TopicSpec>;

export type TopicId = keyof typeof TOPICS;

export const ALL_TOPICS: TopicSpec[] = Object.values(TOPICS);

/** The topic carrying commands of each kind. */
export const COMMAND_TOPICS = {
  partition: TOPICS.commandsPartition.name,
  shard: TOPICS.commandsShard.name,
  resource: TOPICS.commandsResource.name,
} as const;

export function topicByName(name: string): TopicSpec | undefined {
  return ALL_TOPICS.find((t) => t.name === name);
}
