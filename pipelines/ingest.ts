/**
 * `shardcast run ingest`: shardcast.telemetry.queries → decode → ingest processor (validate,
 * featurize, windows) → shardcast.workload.aggregates, bad input → shardcast.dlq.
 * Offsets are committed only up to the processor's safe offsets (every event at or below them
 * is in an aggregate or a dead letter that Kafka acknowledged), so a restart rebuilds the open
 * windows from Kafka and nothing is lost.
 */
import { asyncScheduler, bufferTime, concatMap, defaultIfEmpty, filter, from, lastValueFrom } from 'rxjs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DeadLetter, QueryEvent, WorkloadAggregate } from '../schemas/types.js';
import { TOPICS } from '../topics/catalog.js';
import { consumeTopics } from '../topics/consumer.js';
import { decodeFailure, ingestProcessor, newIngestStats, type IngestInput, type IngestOutput, type IngestStats } from '../processors/ingest.js';
import { initSqlParsers, TemplateCache, type PartitionKeySpec } from '../processors/sql/index.js';
import type { PipelineContext } from './context.js';
import type { RunningStage, StageStats } from './stage.js';

export interface IngestOptions {
  groupId?: string;
  partitionKeys?: Record<string, PartitionKeySpec>;
  windowMs?: number;
  allowedLatenessMs?: number;
  /** Source topic (benchmarks use a private one). */
  topic?: string;
  /** Close windows after this much wall time without events (demo/live use). */
  idleFlushMs?: number;
}

export async function startIngest(ctx: PipelineContext, opts: IngestOptions = {}): Promise<RunningStage & { ingest: IngestStats; sent: () => number }> {
  await initSqlParsers();
  const topic = opts.topic ?? TOPICS.queries.name;
  const stats: StageStats = { consumed: 0, handled: 0, deadLettered: 0, batches: 0 };
  const ingest = newIngestStats();
  let sent = 0;
  let stopping = false;
  const source = await consumeTopics(ctx.kafka, {
    groupId: opts.groupId ?? 'shardcast-ingest',
    topics: [topic],
    // Backpressure: do not fetch further ahead than 50k unhandled messages.
    gate: async () => {
      while (!stopping && source.received - stats.consumed > 50_000) await sleep(5);
    },
  });

  const decoded = source.messages$.pipe(
    concatMap(async (m): Promise<IngestInput> => {
      stats.consumed++;
      try {
        const v = ctx.serde.decodeSync<QueryEvent>(m.topic, m.value) ?? (await ctx.serde.decode<QueryEvent>(m.topic, m.value));
        return { ...m, value: v };
      } catch (err) {
        return { ...m, value: decodeFailure((err as Error).message) };
      }
    }),
  );

  const processor = ingestProcessor({
    featurize: { partitionKeys: opts.partitionKeys ?? ctx.cfg.partitionKeys },
    cache: new TemplateCache(10_000),
    windowMs: opts.windowMs ?? ctx.cfg.windowMs,
    allowedLatenessMs: opts.allowedLatenessMs ?? ctx.cfg.allowedLatenessMs,
    pipeline: 'ingest',
    stats: ingest,
    ...(opts.idleFlushMs ? { idleFlushMs: opts.idleFlushMs, scheduler: asyncScheduler } : {}),
  } as Parameters<typeof ingestProcessor>[0]);

  const flushOutputs = async (outs: IngestOutput[]) => {
    const aggs: WorkloadAggregate[] = [];
    const letters: DeadLetter[] = [];
    let progress: Record<string, string> | undefined;
    for (const o of outs) {
      if (o.kind === 'out') aggs.push(o.value);
      else if (o.kind === 'dlq') letters.push(o.letter);
      else if (o.kind === 'progress') progress = o.safeOffsets;
    }
    await ctx.producer.sendMany([
      { topic: TOPICS.aggregates.name, records: aggs.map((a) => ({ key: a.seriesId, value: a })) },
      { topic: TOPICS.dlq.name, records: letters.map((l) => ({ key: l.sourceTopic, value: l })) },
    ]);
    sent += aggs.length;
    stats.deadLettered += letters.length;
    stats.batches++;
    if (progress) {
      const positions = Object.entries(progress).map(([tp, offset]) => {
        const i = tp.lastIndexOf(':');
        return { topic: tp.slice(0, i), partition: Number(tp.slice(i + 1)), offset };
      }).filter((p) => BigInt(p.offset) >= 0n);
      await source.commit(positions);
    }
  };

  const done = lastValueFrom(
    decoded.pipe(
      processor,
      bufferTime(200, null, 5000),
      filter((b) => b.length > 0),
      concatMap((b) => from(flushOutputs(b))),
      defaultIfEmpty(undefined),
    ),
  ).then(() => undefined);

  return {
    stats, source, done, ingest,
    sent: () => sent,
    async stop() {
      stopping = true;
      // Complete the stream first so what it flushes is still sent and committed, then leave.
      source.drain();
      await done;
      await source.stop();
    },
  };
}
