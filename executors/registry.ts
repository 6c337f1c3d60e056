/**
 * The store adapters an executor process runs with, built from the config. Commands reach an
 * adapter by storeKind and store id:
 *   postgres   (any store)     PostgreSQL shard nodes (PG_NODES): split, merge, move, rekey, replicate, …
 *   postgres   (any store)     local node resources: scale_out, scale_in
 *   clickhouse store 'clickhouse'  CLICKHOUSE_URL / CLICKHOUSE_DATABASE: repartition, precompute
 *   kafka      store 'kafka'       KAFKA_BROKERS: add_topic_partitions
 * The ClickHouse and Kafka adapters connect on their first command, so a store that is down
 * fails only its own commands.
 */
import type { Config } from '../lib/config.js';
import { ClickHouseAdapter } from './clickhouse/adapter.js';
import { KafkaTopicAdapter } from './kafka/adapter.js';
import { PostgresShardAdapter, type PostgresAdapterOptions } from './postgres/adapter.js';
import { LocalPgResourceAdapter } from './resource/local.js';
import type { StoreAdapter } from './types.js';

export interface AdapterSet {
  list: StoreAdapter[];
  close(): Promise<void>;
}

export async function buildAdapters(cfg: Config, opts: { postgres?: PostgresAdapterOptions } = {}): Promise<AdapterSet> {
  const list: StoreAdapter[] = [];
  list.push(await PostgresShardAdapter.open(cfg, opts.postgres));
  list.push(await LocalPgResourceAdapter.open(cfg));
  list.push(ClickHouseAdapter.open(cfg));
  list.push(KafkaTopicAdapter.open(cfg));
  return {
    list,
    async close() {
      for (const a of list) await (a as StoreAdapter & { close?: () => Promise<void> }).close?.();
    },
  };
}
