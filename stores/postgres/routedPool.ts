/**
 * The routing client applications use: a `pg` pool wrapper over the sharded tables. A statement
 * names its shard table `{t}` and runs on the shard that holds its key; reads may go to a replica
 * or a precomputed view when the caller accepts staleness; routing changes are followed without
 * a restart (see `ShardRouter.run`).
 */
import type pg from 'pg';
import { InputError } from '../../lib/errors.js';
import { quoteIdent } from '../identifiers.js';
import { type DerivedColumn, loadDerivedColumns, useDerivedColumns } from './derivedColumns.js';
import { inRange } from './keys.js';
import { routedValue } from '../../schemas/keyHash.js';
import { inTx } from './nodes.js';
import { loadPrecomputes, matchPrecomputed, type PrecomputeSpec } from './precomputed.js';
import { type RouteKey, type RoutedTarget, ShardRouter } from './router.js';
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
  /** The statement as it ran: the shard table named, a view or derived column in place of what it matched. */
  statement: string;
}

export interface RoutedPoolOptions {
  /** How long a cached routing map is trusted before it is read again (ms). */
  ttlMs?: number;
  /** Refresh-and-retry rounds after "route changed" or "no such table". */
  retries?: number;
  /** How long the lists of precomputations and derived columns are trusted (ms). */
  designTtlMs?: number;
}

const READ_ONLY_TX = '25006';
const UNDEFINED_TABLE = '42P01';
const UNDEFINED_COLUMN = '42703';

/** The designs of a table the client can read instead of the statement as written. */
interface Designs {
  precomputes: PrecomputeSpec[];
  derived: DerivedColumn[];
}

/** An error whose SQLSTATE makes `ShardRouter.run` refresh the routing map and retry. */
const routeChanged = (why: string) => Object.assign(new Error(why), { code: ROUTE_CHANGED });

/** Whether shard table `physical` on the node of `db` is active and holds key `key` (its value, or its hash for a hashed key). */
async function holds(db: pg.Pool | pg.PoolClient, physical: string, key: string): Promise<boolean> {
  const own = await db.query<{ state: string; lo: string | null; hi: string | null; key_hash: boolean }>(
    'SELECT state, lo::text, hi::text, key_hash FROM shardcast_local.shards WHERE physical = $1',
    [physical],
  );
  const s = own.rows[0];
  return s?.state === 'active' && inRange(routedValue(key, s.key_hash), s.lo, s.hi);
}

export class RoutedPool {
  private readonly router: ShardRouter;
  private readonly designs = new Map<string, Designs & { at: number }>();
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
   * Runs `sql` (with `{t}` for the shard table) on the shard of `table` that holds `key` (the
   * key column's value, or the row's column values: `RouteKey`).
   * Writes and plain reads go to the primary; a fresh read checks, in the same snapshot, that
   * the shard still owns the key there. A read uses a derived column where it spells out that
   * column's expression. With `readOnly` and `allowStale`, a statement that is exactly a
   * precomputation's query reads its view, and any other read goes to a replica when the shard
   * has one.
   */
  async query<R = Record<string, unknown>>(
    table: string,
    key: RouteKey,
    sql: string,
    params: unknown[] = [],
    opts: RoutedQueryOptions = {},
  ): Promise<RoutedResult<R>> {
    if (key === null) throw new InputError(`routed query on ${table}: a key is required`);
    if (opts.allowStale && !opts.readOnly) throw new InputError(`routed query on ${table}: allowStale needs readOnly`);
    const designs = opts.readOnly ? await this.designsOf(table) : { precomputes: [], derived: [] };
    const derivedSql = useDerivedColumns(sql, designs.derived);
    try {
      return await this.router.run<RoutedResult<R>>(table, key, async (t) => {
        const onShard = (text: string) => text.replaceAll('{t}', `public.${quoteIdent(t.physical)}`);
        if (!opts.readOnly) return this.write<R>(t, onShard(sql), params);
        // Reads a design (view, derived column) where the shard has it, else the statement as written.
        const read = (node: string, pool: pg.Pool, servedBy: ServedBy, text: string, owned: string | null) =>
          this.readOnly<R>(t, node, pool, servedBy, text, params, owned).catch((err) => {
            const code = (err as { code?: string }).code;
            if (text === onShard(sql) || (code !== UNDEFINED_TABLE && code !== UNDEFINED_COLUMN)) throw err;
            return this.readOnly<R>(t, node, pool, servedBy === 'precomputed' ? 'primary' : servedBy, onShard(sql), params, owned);
          });
        if (!opts.allowStale) return read(t.node, t.pool, 'primary', onShard(derivedSql), t.key);
        const view = matchPrecomputed(sql, designs.precomputes, t.physical);
        if (view) return read(t.node, t.pool, 'precomputed', view, null);
        if (t.replicas.length > 0) {
          const node = t.replicas[this.nextReplica++ % t.replicas.length]!;
          return read(node, await this.router.poolOf(node), 'replica', onShard(derivedSql), null);
        }
        return read(t.node, t.pool, 'primary', onShard(derivedSql), null);
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
    return { rows: res.rows as R[], rowCount: res.rowCount, shard: t.shard, node, servedBy, statement: text };
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
        if (ownedKey !== null && !(await holds(c, t.physical, ownedKey))) {
          throw routeChanged(`${t.physical} on ${node} no longer holds key ${ownedKey}`);
        }
        return this.answer<R>(t, node, c, servedBy, text, params);
      },
      'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
    );
  }

  /**
   * A write on the primary. One that matched no row may have reached a shard that no longer
   * holds its key (a route cached from before a split whose moved rows the source has already
   * deleted): the shard's guard sees no row to refuse, so the shard's registry is asked, and if
   * the key is not the shard's the router retries on the current route. The write did nothing,
   * so running it again is safe.
   */
  private async write<R>(t: RoutedTarget, text: string, params: unknown[]): Promise<RoutedResult<R>> {
    const res = await this.answer<R>(t, t.node, t.pool, 'primary', text, params);
    if (res.rowCount === 0 && !(await holds(t.pool, t.physical, t.key))) {
      throw routeChanged(`${t.physical} on ${t.node} no longer holds key ${t.key}`);
    }
    return res;
  }

  private async designsOf(table: string): Promise<Designs> {
    const hit = this.designs.get(table);
    if (hit && Date.now() - hit.at < (this.opts.designTtlMs ?? 5_000)) return hit;
    const got = {
      at: Date.now(),
      precomputes: await loadPrecomputes(this.router.coord, table),
      derived: await loadDerivedColumns(this.router.coord, table),
    };
    this.designs.set(table, got);
    return got;
  }

  async close(): Promise<void> {
    await this.router.close();
  }
}
