/** The store adapters an executor process runs with, built from the config. */
import type { Config } from '../lib/config.js';
import { PostgresShardAdapter } from './postgres/adapter.js';
import { LocalPgResourceAdapter } from './resource/local.js';
import type { StoreAdapter } from './types.js';

export interface AdapterSet {
  list: StoreAdapter[];
  close(): Promise<void>;
}

export async function buildAdapters(cfg: Config): Promise<AdapterSet> {
  const list: StoreAdapter[] = [];
  list.push(await PostgresShardAdapter.open(cfg));
  list.push(await LocalPgResourceAdapter.open(cfg));
  return {
    list,
    async close() {
      for (const a of list) await (a as StoreAdapter & { close?: () => Promise<void> }).close?.();
    },
  };
}
