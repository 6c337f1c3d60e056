/**
 * Catalog questions for operators, asked by `shardcast catalog` and the API alike: placement of
 * sharded tables on nodes (catalog/placement.ts), lineage (catalog/lineage.ts), where a key
 * lives, what is hot, what derives from a table (catalog/query.ts), and discovery on demand.
 */
import type { DiscoveryReport } from '../../catalog/discover.js';
import { type Lineage, lineage } from '../../catalog/lineage.js';
import type { Driver } from '../../catalog/neo4j.js';
import { catalogUnavailable } from '../../catalog/neo4j.js';
import { type PlacementView, placement } from '../../catalog/placement.js';
import {
  type CatalogObject,
  type Dependent,
  dependents,
  type HotAnswer,
  hot,
  resolve,
  type WhereAnswer,
  whereKey,
} from '../../catalog/query.js';
import { UnavailableError } from '../../lib/errors.js';
import { PG_STORE } from '../../processors/decide/postgres/state.js';
import type { Actor, AuditLog } from './audit.js';
import { NotFoundError, ParameterError } from './errors.js';

const NAME = /^[A-Za-z0-9_.-]{1,128}$/;
/** How a table or topic may be named: its catalog id (source/database/name), `database.name`, or its name. */
const REF = /^[A-Za-z0-9_./:-]{1,300}$/;
const MAX_KEY_LENGTH = 1_000;
export const MAX_HOT_LIMIT = 1_000;
/** The longest look-back of `hot`: the catalog keeps each series' latest window only. */
export const MAX_HOT_SINCE_MS = 7 * 24 * 3_600_000;

/** What discovery on demand needs: run every source once (the caller owns its clients). */
export type DiscoverOnce = () => Promise<DiscoveryReport>;

export interface PlacementQuery {
  /** The data source (default: the PostgreSQL shard store). */
  source?: string;
  tables: readonly string[];
}

export class CatalogService {
  constructor(
    private readonly driver: Driver,
    private readonly discoverOnce?: DiscoverOnce,
    private readonly audit?: () => Promise<AuditLog>,
  ) {}

  /** The one table or topic `ref` names; unknown is a NotFoundError, ambiguous a ParameterError listing the candidates. */
  async object(ref: string, parameter = 'table'): Promise<CatalogObject> {
    if (!REF.test(ref)) throw new ParameterError(parameter, `${JSON.stringify(ref)} is not a table or topic name`);
    const found = await this.ask(() => resolve(this.driver, ref));
    if (found.length === 0)
      throw new NotFoundError(`the catalog has no table or topic ${JSON.stringify(ref)} (run \`shardcast catalog discover\` first?)`);
    if (found.length > 1)
      throw new ParameterError(parameter, `${JSON.stringify(ref)} is ambiguous; name one of: ${found.map((f) => f.id).join(', ')}`);
    return found[0]!;
  }

  /** The partition and nodes that hold `key` of a table or topic. */
  async where(q: { table: string; key: string }): Promise<WhereAnswer> {
    if (q.key.length === 0 || q.key.length > MAX_KEY_LENGTH)
      throw new ParameterError('key', `give a key of 1 to ${MAX_KEY_LENGTH} characters`);
    const object = await this.object(q.table);
    return this.ask(() => whereKey(this.driver, object, q.key));
  }

  /** Series by their latest window's load in the last `sinceMs`, and the partitions they fall on. */
  async hot(q: { limit?: number; sinceMs?: number } = {}): Promise<HotAnswer> {
    const limit = q.limit ?? 20;
    const sinceMs = q.sinceMs ?? 15 * 60_000;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_HOT_LIMIT)
      throw new ParameterError('limit', `an integer from 1 to ${MAX_HOT_LIMIT}`);
    if (!Number.isInteger(sinceMs) || sinceMs < 1 || sinceMs > MAX_HOT_SINCE_MS)
      throw new ParameterError('since', `milliseconds from 1 to ${MAX_HOT_SINCE_MS}`);
    return this.ask(() => hot(this.driver, { limit, sinceMs }));
  }

  /** What is derived from a table, transitively, nearest first. */
  async deps(q: { table: string }): Promise<{ object: CatalogObject; dependents: Dependent[] }> {
    const object = await this.object(q.table);
    return { object, dependents: await this.ask(() => dependents(this.driver, object)) };
  }

  /** Introspects every source now and writes what changed to the catalog (audited when an actor is given). */
  async discover(actor?: Actor): Promise<DiscoveryReport> {
    if (!this.discoverOnce) throw new UnavailableError('discovery is not configured for this operations layer');
    const report = await this.ask(this.discoverOnce);
    if (actor && this.audit) {
      const outcome = report.failed.length === 0 ? 'done' : `failed: ${report.failed.map((f) => f.source).join(', ')}`;
      await (await this.audit()).record({ actor, action: 'catalog.discover', target: 'catalog', outcome });
    }
    return report;
  }

  async placement(q: PlacementQuery): Promise<PlacementView & { source: string }> {
    const source = q.source ?? PG_STORE;
    if (!NAME.test(source)) throw new ParameterError('source', `${JSON.stringify(source)} is not a source id`);
    if (q.tables.length === 0) throw new ParameterError('table', 'name at least one table');
    for (const t of q.tables) if (!NAME.test(t)) throw new ParameterError('table', `${JSON.stringify(t)} is not a table name`);
    return { source, ...(await this.ask(() => placement(this.driver, source, q.tables))) };
  }

  /** The table's lineage graph: derived tables, partitions and their nodes, the commands on them. */
  async lineage(q: { source?: string; table: string }): Promise<Lineage & { source: string; table: string }> {
    const source = q.source ?? PG_STORE;
    if (!NAME.test(source)) throw new ParameterError('source', `${JSON.stringify(source)} is not a source id`);
    if (!NAME.test(q.table)) throw new ParameterError('table', `${JSON.stringify(q.table)} is not a table name`);
    const g = await this.ask(() => lineage(this.driver, source, q.table));
    if (g.nodes.length === 0) throw new NotFoundError(`the catalog has no table ${q.table} in ${source}`);
    return { source, table: q.table, ...g };
  }

  /** A question to Neo4j; a server that does not answer is an UnavailableError (503), not a 500. */
  private async ask<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      const why = await catalogUnavailable(this.driver);
      if (why !== null) throw new UnavailableError(`the catalog (Neo4j) does not answer: ${why}`, { cause: err });
      throw err;
    }
  }
}
