/** Catalog questions for operators: placement of sharded tables on nodes (catalog/placement.ts). */
import type { Driver } from '../../catalog/neo4j.js';
import { catalogUnavailable } from '../../catalog/neo4j.js';
import { type PlacementView, placement } from '../../catalog/placement.js';
import { UnavailableError } from '../../lib/errors.js';
import { PG_STORE } from '../../processors/decide/postgres/state.js';
import { ParameterError } from './errors.js';

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
    try {
      return { source, ...(await placement(this.driver, source, q.tables)) };
    } catch (err) {
      const why = await catalogUnavailable(this.driver);
      if (why !== null) throw new UnavailableError(`the catalog (Neo4j) does not answer: ${why}`, { cause: err });
      throw err;
    }
  }
}
