/**
 * The demo's `orders` table: its columns, and the sharded table created with them (the demo,
 * its benchmarks and the tests that run on the same shape).
 */
import { type ColumnSpec, type CreateOptions, createShardedTable, type RangeSpec } from '../stores/postgres/tables.js';
import type { TableRoutes } from '../stores/postgres/routing.js';

export const ORDERS_COLUMNS: ColumnSpec[] = [
  { name: 'id', type: 'bigint' },
  { name: 'customer_id', type: 'bigint' },
  { name: 'amount', type: 'numeric' },
  { name: 'payload', type: 'text' },
  { name: 'updated_at', type: 'timestamptz' },
];

/** A sharded table of the `orders` shape, keyed on `id`. */
export function createOrdersTable(
  cfg: { pgNodes: string[] },
  table: string,
  ranges: RangeSpec[],
  opts: Omit<CreateOptions, 'columns'> = {},
): Promise<TableRoutes> {
  return createShardedTable(cfg, table, ranges, { ...opts, columns: ORDERS_COLUMNS });
}
