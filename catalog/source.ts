/** One source of catalog facts (a PostgreSQL shard set, ClickHouse, Kafka): what discovery asks of it. */
import type { Snapshot } from './snapshot.js';

export interface DiscoveryTarget {
  /** A PostgreSQL sharded table. */
  table?: string;
  /** A Kafka topic. */
  topic?: string;
}

export interface SourceDiscovery {
  readonly source: string;
  readonly kind: 'postgres' | 'clickhouse' | 'kafka';
  snapshot(target?: DiscoveryTarget): Promise<Snapshot>;
  close(): Promise<void>;
}
