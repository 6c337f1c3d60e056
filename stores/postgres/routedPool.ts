/**
 * The routing client applications use: a `pg` pool wrapper over the sharded tables. A statement
 * names its shard table `{t}` and runs on the shard that holds its key; reads may go to a replica
 * or a precomputed view when the caller accepts staleness; routing changes are followed without
 * a restart (see `ShardRouter.run`).
 */
import type pg from 'pg';
import { InputError } from '../../lib/errors.js';
import { quoteIdent } from '../identifiers.js';
import { inRange, type KeyLike, keyText } from './keys.js';
import { inTx } from './nodes.js';
import { loadPrecomputes, matchPrecomputed, type PrecomputeSpec } from './precomputed.js';
import { type RoutedTarget, ShardRouter } from './router.js';
import { ROUTE_CHANGED } from './setup.js';

export interface RoutedQueryOptions {
  /** The statement only reads: it runs in a read-only transaction (a write in it is an error). */
  readOnly?: boolean;
  /** A read-only statement may see a replica's or a precomputed view's lag (replication, refresh). */
  allowStale?: boolean;
}

/** Where a statement was answered: the shard's primary, one of its replicas, or a precomputed view (on the primary). */
export type ServedBy = 'primary' | 'replica' | 'precomputed';

export interface RoutedResult<R> {
  rows: R[];
  rowCount: number | null;
  shard: string;
  /** The node that ran the statement. */
  node: string;
  servedBy: ServedBy;
}

export interface RoutedPoolOptions {
  /** How long a cached routing map is trusted before it is read again (ms). */
  ttlMs?: number;
  /** Refresh-and-retry rounds after "route changed" or "no such table". */
  retries?: number;
  /** How long the list of precomputations is trusted (ms). */
  designTtlMs?: number;
}

const READ_ONLY_TX = '25006';
const UNDEFINED_TABLE = '42P01';

/** An error whose SQLSTATE makes `ShardRouter.run` refresh the routing map and retry. */
const routeChanged = (why: string) => Object.assign(new Error(why), { code: ROUTE_CHANGED });

export class RoutedPool {
  private readonly router: ShardRouter;
  private readonly designs = new Map<string, { at: number; specs: PrecomputeSpec[] }>();
  private nextReplica = 0;
  /** Statements answered, by where. */
  readonly served: Record<ServedBy, number> = { primary: 0, replica: 0, precomputed: 0 };

  constructor(
    pgNodes: string[],
    private readonly opts: RoutedPoolOptions = {},
  ) {
    this.router = new ShardRouter(pgNodes, { ttlMs: opts.ttlMs, retries: opts.retries });
  }

  /** Routing-map refreshes forced by a route change seen during a statement. */
  get refreshes(): number {
    return this.router.refreshes;
  }

  /**
   * Runs `sql` (with `{t}` for the shard table) on the shard of `table` that holds `key`.
   * Writes and plain reads go to the primary; a fresh read checks, in the same snapshot, that
   * the shard still owns the key there. With `readOnly` and `allowStale`, a statement that is
   * exactly a precomputation's query reads its view, and any other read goes to a replica when
   * the shard has one.
   */
  async query<R = Record<string, unknown>>(
    table: string,
    key: KeyLike,
    sql: string,
    params: unknown[] = [],
    opts: RoutedQueryOptions = {},
  ): Promise<RoutedResult<R>> {
    const k = keyText(key);
    if (k === null) throw new InputError(`routed query on ${table}: a key is required`);
    if (opts.allowStale && !opts.readOnly) throw new InputError(`routed query on ${table}: allowStale needs readOnly`);
    const specs = opts.allowStale ? await this.precomputes(table) : [];
    try {
      return await this.router.run<RoutedResult<R>>(table, k, async (t) => {
        const shardTable = `public.${quoteIdent(t.physical)}`;
        if (!opts.readOnly) return this.answer<R>(t, t.node, t.pool, 'primary', sql.replaceAll('{t}', shardTable), params);
        if (opts.allowStale) {
          const view = matchPrecomputed(sql, specs, t.physical);
          if (view) {
            const got = await this.readOnly<R>(t, t.node, t.pool, 'precomputed', view, params, null).catch((err) => {
              // A shard without its view yet (a split's new table before re-creation) answers from the table.
              if ((err as { code?: string }).code === UNDEFINED_TABLE) return null;
              throw err;
            });
            if (got) return got;
          }
          if (t.replicas.length > 0) {
            const node = t.replicas[this.nextReplica++ % t.replicas.length]!;
            return this.readOnly<R>(t, node, await this.router.poolOf(node), 'replica', sql.replaceAll('{t}', shardTable), params, null);
          }
          return this.readOnly<R>(t, t.node, t.pool, 'primary', sql.replaceAll('{t}', shardTable), params, null);
        }
        return this.readOnly<R>(t, t.node, t.pool, 'primary', sql.replaceAll('{t}', shardTable), params, k);
      });
    } catch (err) {
      if ((err as { code?: string }).code === READ_ONLY_TX) {
        throw new InputError(`routed query on ${table}: a statement declared readOnly tried to write (${(err as Error).message})`);
      }
      throw err;
    }
  }

  private async answer<R>(
    t: RoutedTarget,
    node: string,
    db: pg.Pool | pg.PoolClient,
    servedBy: ServedBy,
    text: string,
    params: unknown[],
  ): Promise<RoutedResult<R>> {
    const res = await db.query(text, params);
    this.served[servedBy]++;
    return { rows: res.rows as R[], rowCount: res.rowCount, shard: t.shard, node, servedBy };
  }

  /**
   * A read-only transaction on `pool`. With `ownedKey`, its snapshot first proves that this
   * node's copy of the shard is active and holds the key (a shard moved, split or merged away is
   * fenced before the routing map switches), so the read is as fresh as the switch.
   */
  private async readOnly<R>(
    t: RoutedTarget,
    node: string,
    pool: pg.Pool,
    servedBy: ServedBy,
    text: string,
    params: unknown[],
    ownedKey: string | null,
  ): Promise<RoutedResult<R>> {
    return inTx(
      pool,
      async (c) => {
        if (ownedKey !== null) {
          const own = await c.query<{ state: string; lo: string | null; hi: string | null }>(
            'SELECT state, lo::text, hi::text FROM shardcast_local.shards WHERE physical = $1',
            [t.physical],
          );
          const s = own.rows[0];
          if (s?.state !== 'active' || !inRange(ownedKey, s.lo, s.hi)) {
            throw routeChanged(`${t.physical} on ${node} no longer holds key ${ownedKey}`);
          }
        }
        return this.answer<R>(t, node, c, servedBy, text, params);
      },
      'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
    );
  }

  private async precomputes(table: string): Promise<PrecomputeSpec[]> {
    const hit = this.designs.get(table);
    if (hit && Date.now() - hit.at < (this.opts.designTtlMs ?? 5_000)) return hit.specs;
    const specs = await loadPrecomputes(this.router.coord, table);
    this.designs.set(table, { at: Date.now(), specs });
    return specs;
  }

  async close(): Promise<void> {
    await this.router.close();
  }
}
