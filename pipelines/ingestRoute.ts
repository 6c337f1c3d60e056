/**
 * Ingest's first half when it scales out: shardcast.telemetry.queries → decode → validate →
 * re-keyed by series onto shardcast.internal.ingest.routed, with each source partition's
 * watermark marks (processors/ingest/route.ts); bad input → shardcast.dlq. Exactly once per
 * source partition: its routed records, dead letters and offsets go in one transaction
 * (partitionedStage.ts, which also skips what a previous owner of a partition routed already).
 */
import type { Envelope } from '../schemas/envelope.js';
import { TOPICS } from '../schemas/topics.js';
import { QueryRouter, type RoutedRecord } from '../processors/ingest/route.js';
import type { DeadLetter } from '../schemas/types.js';
import type { IngestInput } from '../processors/ingest/processor.js';
import type { PipelineContext } from './context.js';
import { decodeQueryEvents } from './ingest.js';
import { startPartitionedStage, type PartitionedStage } from './partitionedStage.js';

export interface RouteOptions {
  groupId: string;
  topic: string;
  internalTopic: string;
  internalPartitions: number;
  fetchBytes?: { perPartition: number; total: number };
  sessionTimeoutMs?: number;
}

interface Pending {
  records: RoutedRecord[];
  letters: DeadLetter[];
  /** Last source offset handled. */
  last: string | null;
}

export async function startIngestRoute(ctx: PipelineContext, opts: RouteOptions): Promise<PartitionedStage & { routed: () => number }> {
  const router = new QueryRouter(opts.internalPartitions);
  const pending = new Map<number, Pending>();
  let routed = 0;
  const stage = await startPartitionedStage(ctx, {
    name: 'ingest-route',
    groupId: opts.groupId,
    topic: opts.topic,
    transactionalPrefix: `shardcast-ingest-route-${opts.groupId}-${opts.topic}`,
    ...(opts.fetchBytes ? { fetchBytes: opts.fetchBytes } : {}),
    ...(opts.sessionTimeoutMs ? { sessionTimeoutMs: opts.sessionTimeoutMs } : {}),
    consumerThread: ctx.cfg.ingestConsumerThread === 'on',
    own(partition) {
      pending.set(partition, { records: [], letters: [], last: null });
    },
    release(partition) {
      pending.delete(partition);
      router.release(`${opts.topic}:${partition}`);
    },
    async handle(batch, retrying) {
      await decodeQueryEvents(batch, ctx.serde, retrying);
      const r = router.route(batch as Envelope<unknown>[] as IngestInput[], Date.now());
      const into = pending.get(batch[0]!.partition)!;
      for (const x of r.records) into.records.push(x);
      for (const l of r.letters) into.letters.push(l);
      into.last = batch[batch.length - 1]!.offset;
      routed += r.routed;
    },
    take(partition) {
      const p = pending.get(partition);
      if (!p || p.last === null) return null;
      pending.set(partition, { records: [], letters: [], last: null });
      return {
        outputs: [
          { topic: opts.internalTopic, records: p.records },
          { topic: TOPICS.dlq.name, records: p.letters.map((l) => ({ key: l.sourceTopic, value: l })) },
        ],
        positions: [{ topic: opts.topic, partition, offset: p.last }],
      };
    },
  });
  return { ...stage, routed: () => routed };
}
