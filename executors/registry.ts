/** The store adapters an executor process runs with, built from the config. */
import type { Config } from '../lib/config.js';
import type { StoreAdapter } from './types.js';

export interface AdapterSet {
  list: StoreAdapter[];
  close(): Promise<void>;
}

export async function buildAdapters(_cfg: Config): Promise<AdapterSet> {
  const list: StoreAdapter[] = [];
  return {
    list,
    async close() {
      for (const a of list) await (a as StoreAdapter & { close?: () => Promise<void> }).close?.();
    },
  };
}
