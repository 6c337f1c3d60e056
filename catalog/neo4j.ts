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
export const LABELS = ['DataSource', 'Database', 'Table', 'Partition', 'Node', 'Topic', 'Template', 'Command', 'Series'] as const;
export type Label = (typeof LABELS)[number];

/** Labels whose objects discovery owns: they carry `source` and `scope` and can vanish. */
export const DISCOVERED = ['Node', 'Database', 'Table', 'Partition', 'Topic'] as const;
export type DiscoveredLabel = (typeof DISCOVERED)[number];

export async function ensureCatalogSchema(driver: Driver): Promise<void> {
  // Labels come from the constant lists above, never from input: safe to place in the text.
  for (const label of LABELS) {
    await driver.executeQuery(`CREATE CONSTRAINT ${label.toLowerCase()}_id IF NOT EXISTS FOR (n:${label}) REQUIRE n.id IS UNIQUE`);
  }
  await driver.executeQuery('CREATE INDEX table_name IF NOT EXISTS FOR (t:Table) ON (t.name)');
  await driver.executeQuery('CREATE INDEX partition_table IF NOT EXISTS FOR (p:Partition) ON (p.table)');
  await driver.executeQuery('CREATE INDEX topic_name IF NOT EXISTS FOR (t:Topic) ON (t.name)');
  await driver.executeQuery('CREATE INDEX series_table IF NOT EXISTS FOR (s:Series) ON (s.table)');
  await driver.executeQuery('CREATE INDEX command_table IF NOT EXISTS FOR (c:Command) ON (c.table)');
  // Discovery reads "everything this source had in this scope" before it diffs.
  for (const label of DISCOVERED) {
    await driver.executeQuery(`CREATE INDEX ${label.toLowerCase()}_source IF NOT EXISTS FOR (n:${label}) ON (n.source)`);
  }
}

/** Null when the catalog answers, else why not (for the callers that fall back). */
export async function catalogUnavailable(driver: Driver): Promise<string | null> {
  try {
    await driver.getServerInfo();
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}
