/**
 * PostgreSQL shard nodes: their names and connection pools. The one place that says how a
 * node is named: `cfg.pgNodes[i]` is node `node<i>`, node 0 is the coordinator that holds the
 * routing map. Nodes added later (scale_out) get the next free `node<k>` and live in the
 * routing map's node table.
 */
import { newPgPool } from './pool.js';
import pg from 'pg';

export const NODE_PREFIX = 'node';
export const nodeName = (i: number): string => `${NODE_PREFIX}${i}`;
export const COORDINATOR = nodeName(0);

/** Index of a `node<i>` name, or null when it is not one. */
export function nodeIndex(name: string): number | null {
  const m = /^node(0|[1-9][0-9]{0,3})$/.exec(name);
  return m ? Number(m[1]) : null;
}

/** Nodes named by the config, node 0 first. */
export function configNodes(pgNodes: readonly string[]): { node: string; url: string }[] {
  return pgNodes.map((url, i) => ({ node: nodeName(i), url }));
}

/** Anything that runs a query: a pool or a checked-out client. */
export type Queryable = pg.Pool | pg.PoolClient | pg.Client;

export async function q<R = Record<string, unknown>>(db: Queryable, text: string, params: unknown[] = []): Promise<R[]> {
  const res = await (db as pg.Pool).query(text, params);
  return res.rows as R[];
}

export interface PoolOptions {
  /**
   * Executor sessions set `shardcast.migrating=on`: the shard guard trigger lets them write
   * outside a shard's current range (copies, replays) and the change capture ignores them.
   */
  executor: boolean;
  max?: number;
  applicationName?: string;
}

/** One pool per node URL, every session in UTC so row text (and checksums) compare equal. */
export class PgPools {
  private readonly pools = new Map<string, pg.Pool>();
  constructor(private readonly opts: PoolOptions) {}

  get(url: string): pg.Pool {
    let p = this.pools.get(url);
    if (!p) {
      const options = ['-c TimeZone=UTC', '-c extra_float_digits=1'];
      if (this.opts.executor) options.push('-c shardcast.migrating=on');
      p = newPgPool({
        connectionString: url,
        max: this.opts.max ?? 4,
        options: options.join(' '),
        application_name: this.opts.applicationName ?? (this.opts.executor ? 'shardcast-executor' : 'shardcast-client'),
        connectionTimeoutMillis: 10_000,
      });
      this.pools.set(url, p);
    }
    return p;
  }

  async end(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((p) => p.end().catch(() => {})));
  }
}

/** Runs `fn` in one transaction on a client from `pool` (`begin` may set its isolation and access mode). */
export async function inTx<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query(begin);
    const out = await fn(c);
    await c.query('COMMIT');
    return out;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    c.release();
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Whether a PostgreSQL server answers a query on `url` within `timeoutMs` (a one-off client, not a pool). */
export async function pgAnswers(url: string, timeoutMs = 3_000): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}
