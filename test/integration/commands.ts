/** Builds executor commands for integration tests: every field filled, `fields` override. */
import type { AnyCommand } from '../../schemas/types.js';
import { handMadeFields } from '../../schemas/handMadeCommand.js';

let n = 0;

export function testCommand(
  idPrefix: string,
  table: string,
  kind: 'partition' | 'shard',
  action: string,
  fields: Record<string, unknown>,
  params: Record<string, string> = {},
): AnyCommand {
  return {
    kind,
    commandId: `${idPrefix}-${process.pid}-${Date.now()}-${++n}`,
    ...handMadeFields(Date.now(), 600_000, 'test', 'integration test'),
    store: 'pg-shards',
    storeKind: 'postgres',
    table,
    partition: null,
    ...(kind === 'shard' ? { sourceNode: null, targetNode: null } : {}),
    action,
    params,
    ...fields,
  } as AnyCommand;
}

/** A Kafka add-partitions command for `topic` (a store of its own beside the PostgreSQL one). */
export const addTopicPartitionsCommand = (idPrefix: string, topic: string, partitions: number): AnyCommand =>
  testCommand(
    idPrefix,
    topic,
    'partition',
    'add_topic_partitions',
    { store: 'kafka', storeKind: 'kafka', table: topic },
    { partitions: String(partitions) },
  );
