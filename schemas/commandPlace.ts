/**
 * Where a command acts, in the terms the catalog records and the planning state reads back:
 * its table and partition, and the node it leaves and the node it lands on (a resource
 * command's node counts as its target).
 */
import type { AnyCommand } from './types.js';

export interface CommandPlace {
  table: string | null;
  partition: string | null;
  sourceNode: string | null;
  targetNode: string | null;
}

export function commandPlace(c: AnyCommand): CommandPlace {
  return {
    table: c.kind === 'resource' ? null : c.table,
    partition: c.kind === 'resource' ? null : c.partition,
    sourceNode: c.kind === 'shard' ? c.sourceNode : null,
    targetNode: c.kind === 'shard' ? c.targetNode : c.kind === 'resource' ? c.node : null,
  };
}
