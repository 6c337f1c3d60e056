/**
 * What makes a colocation more than a move: after the move (its rows verified by count and
 * checksum by the migration), the routing map, read again, must put the moved shard and the
 * one it joins on the target node; a partner that moved away meanwhile fails the command.
 */
import { loadRoutes } from '../../stores/postgres/routing.js';
import type { PgPools } from '../../stores/postgres/nodes.js';
import type { Outcome } from '../types.js';
import type { MigrationPlan } from './migrationPlan.js';

export async function checkColocated(
  coord: ReturnType<PgPools['get']>,
  plan: MigrationPlan,
  anchor: string,
  out: Outcome,
): Promise<Outcome> {
  const routes = await loadRoutes(coord, plan.table);
  const at = (shard: string) => routes?.shards.find((x) => x.shard === shard)?.node ?? null;
  const moved = at(plan.targetShard);
  const joined = at(anchor);
  if (moved !== plan.targetNode || joined !== plan.targetNode) {
    return {
      ...out,
      status: 'FAILED',
      verified: false,
      reason: `moved with rows verified, but not co-located: ${plan.targetShard} is on ${moved ?? 'no node'}, ${anchor} on ${joined ?? 'no node'}`,
    };
  }
  return { ...out, details: { ...out.details, colocatedWith: anchor, node: plan.targetNode } };
}
