/** Catalog questions for operators: placement of sharded tables on nodes (catalog/placement.ts), lineage (catalog/lineage.ts). */
import { type Lineage, lineage } from '../../catalog/lineage.js';
import type { Driver } from '../../catalog/neo4j.js';
import { catalogUnavailable } from '../../catalog/neo4j.js';
import { type PlacementView, placement } from '../../catalog/placement.js';
import { UnavailableError } from '../../lib/errors.js';
import { PG_STORE } from '../../processors/decide/postgres/state.js';
import { NotFoundError, ParameterError } from './errors.js';

const NAME = /^[A-Za-z0-9_.-]{1,128}$/;

export interface PlacementQuery {
  /** The data source (default: the PostgreSQL shard store). */
  source?: string;
  tables: readonly string[];
}

export class CatalogService {
  constructor(private readonly driver: Driver) {}

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
