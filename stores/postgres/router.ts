/**
 * Client-side routing: the shard that holds a key, found through a cached copy of the routing
 * map, and the refresh-and-retry loop around a statement. Applications use it through
 * `RoutedPool` (routedPool.ts).
 */
import { InputError, StateError } from '../../lib/errors.js';
import type pg from 'pg';
import { inRange, type KeyLike, keyText, physicalName } from './keys.js';
import { routedValue } from '../../schemas/keyHash.js';
import { PgPools, sleep } from './nodes.js';
import { listNodes, loadRoutes, type TableRoutes } from './routing.js';
import { ROUTE_CHANGED } from './setup.js';

/**
 * The key a statement is routed by: the value of the table's key column, or the row's values of
 * several columns, of which the router takes the current key column's (so a client follows a
 * rekey without a restart).
 */
export type RouteKey = KeyLike | Readonly<Record<string, KeyLike>>;

/** The value of `keyColumn` in `key` (a record of column values, or the key itself) as an int64 string. */
export function routeKeyText(table: string, keyColumn: string, key: RouteKey): string {
  const v = key !== null && typeof key === 'object' ? key[keyColumn] : key;
  if (v === undefined) throw new InputError(`routed query on ${table}: the key names no value of its key column ${keyColumn}`);
  const k = keyText(v);
  if (k === null) throw new InputError(`routed query on ${table}: a key is required`);
  return k;
}

export interface RoutedTarget {
  /** The key routed by (the value of the key column). */
  key: string;
  shard: string;
  node: string;
  physical: string;
  pool: pg.Pool;
  replicas: string[];
}

/**
 * A routing client: caches a table's routing map (refreshed after `ttlMs`, or at once when a
 * shard answers "route changed" or "no such table"), and runs work against the shard that
 * holds a key, retrying after a refresh.
 */
export class ShardRouter {
  private readonly pools = new PgPools({ executor: false, max: 4 });
  private readonly cache = new Map<string, { at: number; routes: TableRoutes }>();
  private nodes = new Map<string, string>();
  private nodesAt = 0;
  refreshes = 0;

  constructor(
    private readonly pgNodes: string[],
    private readonly opts: { ttlMs?: number; retries?: number } = {},
  ) {}

  /** The coordinator (node 0), which holds the routing map. */
  get coord(): pg.Pool {
    return this.pools.get(this.pgNodes[0]!);
  }

  async routes(table: string, force = false): Promise<TableRoutes> {
    const hit = this.cache.get(table);
    if (!force && hit && Date.now() - hit.at < (this.opts.ttlMs ?? 500)) return hit.routes;
    const routes = await loadRoutes(this.coord, table);
    if (!routes) throw new StateError(`routing: unknown table ${table}`);
    this.cache.set(table, { at: Date.now(), routes });
    if (force) this.refreshes++;
    return routes;
  }

  private async urlOf(node: string): Promise<string> {
    if (!this.nodes.has(node) || Date.now() - this.nodesAt > 5_000) {
      this.nodes = new Map((await listNodes(this.coord)).map((n) => [n.node, n.url]));
      this.nodesAt = Date.now();
    }
    const url = this.nodes.get(node);
    if (!url) throw new StateError(`routing: unknown node ${node}`);
    return url;
  }

  /** The client pool of a node named in the routing map. */
  async poolOf(node: string): Promise<pg.Pool> {
    return this.pools.get(await this.urlOf(node));
  }

  async target(table: string, key: RouteKey, force = false): Promise<RoutedTarget> {
    const routes = await this.routes(table, force);
    const k = routeKeyText(table, routes.keyColumn, key);
    const v = routedValue(k, routes.keyHash);
    const s = routes.shards.find((r) => inRange(v, r.lo, r.hi));
    if (!s) throw new StateError(`routing: no shard of ${table} holds key ${k}`);
    return {
      key: k,
      shard: s.shard,
      node: s.node,
      physical: physicalName(table, s.shard),
      pool: this.pools.get(await this.urlOf(s.node)),
      replicas: s.replicas,
    };
  }

  /**
   * Runs `fn` against the shard holding `key`; when it fails with "route changed" or "no such
   * table", refreshes the routing map and runs it again on the new target.
   */
  async run<T>(table: string, key: RouteKey, fn: (t: RoutedTarget) => Promise<T>): Promise<T> {
    const retries = this.opts.retries ?? 20;
    let force = false;
    for (let attempt = 0; ; attempt++) {
      const t = await this.target(table, key, force);
      try {
        return await fn(t);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if ((code === ROUTE_CHANGED || code === '42P01') && attempt < retries) {
          force = true;
          await sleep(Math.min(20 * (attempt + 1), 200));
          continue;
        }
        throw err;
      }
    }
  }

  async close(): Promise<void> {
    await this.pools.end();
  }
}
