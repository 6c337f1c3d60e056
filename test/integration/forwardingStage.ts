/** A scaled-out stage for the transaction tests: forwards each event of `input` to `output`, committing its partition's offset with it. */
import type { PipelineContext } from '../../pipelines/context.js';
import {
  type PartitionedSpec,
  type PartitionedStage,
  type PartitionFlush,
  startPartitionedStage,
} from '../../pipelines/partitionedStage.js';
import type { CommitPosition } from '../../processors/ingest/commitMetadata.js';
import type { QueryEvent } from '../../schemas/types.js';
import { TOPICS } from '../../schemas/topics.js';
import { provisionTopics } from '../../topics/admin.js';

type Wiring = Omit<PartitionedSpec, 'topic' | 'own' | 'release' | 'handle' | 'take'>;

export function startForwardingStage(ctx: PipelineContext, input: string, output: string, wiring: Wiring): Promise<PartitionedStage> {
  const pending = new Map<number, { events: QueryEvent[]; last: CommitPosition | null }>();
  return startPartitionedStage(ctx, {
    ...wiring,
    topic: input,
    own: (p) => void pending.set(p, { events: [], last: null }),
    release: (p) => void pending.delete(p),
    async handle(batch) {
      const held = pending.get(batch[0]!.partition)!;
      for (const m of batch) held.events.push(await ctx.serde.decode<QueryEvent>(input, m.value));
      held.last = { topic: input, partition: batch[0]!.partition, offset: batch[batch.length - 1]!.offset };
    },
    take(p): PartitionFlush | null {
      const held = pending.get(p);
      if (!held?.last) return null;
      pending.set(p, { events: [], last: null });
      return {
        outputs: [{ topic: output, records: held.events.map((ev) => ({ key: ev.eventId, value: ev })) }],
        positions: [held.last],
      };
    },
  });
}

/** Test topics `shardcast.test.<name>_in_<id>` (with `inputPartitions`) and `..._out_<id>` (one partition), provisioned and registered. */
export async function forwardingTopics(
  ctx: PipelineContext,
  name: string,
  id: string,
  inputPartitions: number,
): Promise<{ input: string; output: string }> {
  const input = `shardcast.test.${name}_in_${id}`;
  const output = `shardcast.test.${name}_out_${id}`;
  const specs = [
    { ...TOPICS.queries, name: input, partitions: inputPartitions },
    { ...TOPICS.queries, name: output, partitions: 1 },
  ];
  await provisionTopics(ctx.kafka, specs);
  await ctx.serde.registerTopics(specs);
  return { input, output };
}

/** Deletes the test topics (best effort: the test's result stands either way). */
export async function removeTopics(ctx: PipelineContext, topics: string[]): Promise<void> {
  const admin = ctx.kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics }).catch(() => undefined);
  await admin.disconnect();
}
