/**
 * The engine's commands in the PostgreSQL executor's names: partitions (`<table>/<shard>`)
 * become shard names, a split gets the name of its new shard (`newShard`), and a later command
 * of the same round that names a split's or merge's product (the planner's `table[lo,hi)` ids)
 * names that shard instead, so it names a shard the executor will know (a colocation's `with` too).
 */
import type { AnyCommand } from '../../../schemas/types.js';
import { firstFreeShardName } from '../../../schemas/shardNames.js';
import type { ClusterStateInput } from '../state.js';

/** The executor's rule for a split's new shard, with the name then taken. */
function takeFreeName(names: Set<string>): string {
  const name = firstFreeShardName(names);
  names.add(name);
  return name;
}

export function toStoreCommands(
  cmds: readonly AnyCommand[],
  state: Pick<ClusterStateInput, 'partitions'>,
  /** Every shard the store has, planned or not (a shard on a node that is down keeps its name). */
  taken: readonly { table: string; shard: string }[] = [],
): AnyCommand[] {
  const shardOf = new Map<string, { table: string; shard: string }>();
  const used = new Map<string, Set<string>>();
  const use = (table: string, shard: string) => {
    if (!used.has(table)) used.set(table, new Set());
    used.get(table)!.add(shard);
  };
  for (const p of state.partitions) {
    const shard = p.id.slice(p.table.length + 1);
    shardOf.set(p.id, { table: p.table, shard });
    use(p.table, shard);
  }
  for (const t of taken) use(t.table, t.shard);
  const freeName = (table: string) => {
    const names = used.get(table) ?? new Set<string>();
    used.set(table, names);
    return takeFreeName(names);
  };
  return cmds.map((c) => {
    if (c.kind === 'resource') return c;
    const src = c.partition !== null ? shardOf.get(c.partition) : undefined;
    const params = { ...c.params };
    if (c.kind === 'partition' && c.action === 'split' && src) {
      params.newShard ??= freeName(src.table);
      if (params.leftId) shardOf.set(params.leftId, src);
      if (params.rightId) shardOf.set(params.rightId, { table: src.table, shard: params.newShard });
    }
    if (c.kind === 'partition' && c.action === 'merge' && src) {
      if (params.with) params.with = shardOf.get(params.with)?.shard ?? params.with;
      if (params.mergedId) shardOf.set(params.mergedId, src);
    }
    if (c.kind === 'shard' && c.action === 'colocate' && params.with) params.with = shardOf.get(params.with)?.shard ?? params.with;
    return { ...c, params, partition: src ? src.shard : c.partition } as AnyCommand;
  });
}
