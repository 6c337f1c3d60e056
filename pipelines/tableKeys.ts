/**
 * Follows the keys the routing map records for the configured tables: after a rekey, ingest
 * buckets a table's queries by its new key and the catalog places the new buckets' series, with
 * the bounds the rekey recorded (schemas/keyBuckets.ts). Read at start and every `everyMs`; while
 * the coordinator does not answer, the keys read last (at first the configured ones) stay.
 */
import type { Logger } from '../lib/log.js';
import type { Config } from '../lib/config.js';
import { currentKeys, sameKeys, type TableKey } from '../schemas/keyBuckets.js';
import { newPgPool } from '../stores/postgres/pool.js';
import { loadTableKeys } from '../stores/postgres/tableKeys.js';

export interface TableKeysFollower {
  /** The keys now: configured, with the routing map's recorded ones laid over them. */
  current(): Record<string, TableKey>;
  stop(): Promise<void>;
}

/** How often the routing map is read for changed keys. */
const FOLLOW_MS = 5_000;

export async function followTableKeys(
  cfg: Config,
  log: Logger,
  configured: Record<string, TableKey>,
  onChange: (keys: Record<string, TableKey>) => void = () => undefined,
  everyMs = FOLLOW_MS,
): Promise<TableKeysFollower> {
  let keys = configured;
  const tables = Object.keys(configured);
  if (tables.length === 0) return { current: () => keys, stop: async () => undefined };
  const pool = newPgPool({ connectionString: cfg.pgNodes[0]!, max: 1, connectionTimeoutMillis: 3_000, application_name: 'shardcast-keys' });
  let failing = false;
  const read = async () => {
    try {
      const next = currentKeys(configured, await loadTableKeys(pool, tables));
      if (failing) log.info('reading table keys from the routing map works again');
      failing = false;
      if (sameKeys(next, keys)) return;
      const changed = tables.filter((t) => !sameKeys({ [t]: next[t]! }, { [t]: keys[t]! }));
      keys = next;
      log.info({ tables: changed.map((t) => `${t}: ${next[t]!.column}, ${next[t]!.bounds.length + 1} buckets`) }, 'table keys changed');
      onChange(keys);
    } catch (err) {
      if (!failing)
        log.warn(
          { err: (err as Error).message },
          'reading table keys from the routing map failed; keeping the keys known so far, retrying',
        );
      failing = true;
    }
  };
  await read();
  let reading: Promise<void> | null = null;
  const timer = setInterval(() => {
    reading ??= read().finally(() => {
      reading = null;
    });
  }, everyMs);
  timer.unref();
  return {
    current: () => keys,
    async stop() {
      clearInterval(timer);
      await reading;
      await pool.end();
    },
  };
}

/**
 * The featurizer's table keys, kept current: ingest's featurizer reads `partitionKeys` per event,
 * so the object is replaced in place when the routing map records a new key.
 */
export async function followFeaturizeKeys(
  cfg: Config,
  log: Logger,
  configured: Record<string, TableKey>,
): Promise<{ featurize: { partitionKeys: Record<string, TableKey> }; stop(): Promise<void> }> {
  const featurize = { partitionKeys: configured };
  const keys = await followTableKeys(cfg, log, configured, (k) => {
    featurize.partitionKeys = k;
  });
  featurize.partitionKeys = keys.current();
  return { featurize, stop: () => keys.stop() };
}
