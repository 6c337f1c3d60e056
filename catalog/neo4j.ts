/** The Neo4j driver for the federation catalog, plus the idempotent constraints and indexes. */
import neo4j, { type Driver } from 'neo4j-driver';
import type { Config } from '../lib/config.js';

export type { Driver };

export function createCatalogDriver(cfg: Pick<Config, 'neo4jUri' | 'neo4jUser' | 'neo4jPassword'>): Driver {
  return neo4j.driver(cfg.neo4jUri, neo4j.auth.basic(cfg.neo4jUser, cfg.neo4jPassword), {
    connectionTimeout: 10_000,
    maxTransactionRetryTime: 15_000,
    disableLosslessIntegers: true,
  });
}

/** Node labels keyed by a unique `id`. */
export const LABELS = ['DataSource', 'Database', 'Table', 'Partition', 'Node', 'Topic', 'Template', 'Command'] as const;

export async function ensureCatalogSchema(driver: Driver): Promise<void> {
  for (const label of LABELS) {
    await driver.executeQuery(
      `CREATE CONSTRAINT ${label.toLowerCase()}_id IF NOT EXISTS FOR (n:${label}) REQUIRE n.id IS UNIQUE`,
    );
  }
  await driver.executeQuery('CREATE INDEX table_name IF NOT EXISTS FOR (t:Table) ON (t.name)');
  await driver.executeQuery('CREATE INDEX partition_table IF NOT EXISTS FOR (p:Partition) ON (p.table)');
}
