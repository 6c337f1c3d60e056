/**
 * `shardcast run ingest` with SHARDCAST_INGEST_SCALE_OUT=on: one instance of ingest that shares
 * the work with any number of others in the same consumer groups, with the results one instance
 * would give. It runs both halves: routing (ingestRoute.ts, group `<group>-route` on the source
 * topic) and windows (ingestWindows.ts, group `<group>-window` on the internal topic). See
 * docs/decisions/0120-ingest-scale-out.md.
 */
import { TOPICS } from '../schemas/topics.js';
import { provisionTopics } from '../topics/admin.js';
import { newIngestStats, type IngestStats } from '../processors/ingest/processor.js';
import { initSqlParsers } from '../processors/ingest/sql/index.js';
import type { PipelineContext } from './context.js';
import type { IngestOptions } from './ingest.js';
import { fetchBytesOf } from './ingest.js';
import type { RunningStage, StageStats } from './stage.js';
import { combinedHealth, type StageHealth } from './failure.js';
import { startIngestRoute } from './ingestRoute.js';
import { startIngestWindows } from './ingestWindows.js';

export interface ScaleOutOptions extends IngestOptions {
  /** The internal topic (tests use a private one; default shardcast.internal.ingest.routed). */
  internalTopic?: string;
  /** The output topic (tests use a private one; default shardcast.workload.aggregates). */
  aggregatesTopic?: string;
  /** How long a group waits for a silent instance before its partitions go to the others (default 30 s). */
  sessionTimeoutMs?: number;
}

export interface ScaledIngest extends RunningStage {
  ingest: IngestStats;
  health: StageHealth;
  sent: () => number;
  /** Query events routed by this instance. */
  routed: () => number;
  /** Partitions of each half this instance owns now. */
  owned: () => { route: number[]; window: number[] };
  /** Partitions given up because another instance fenced this one's producer (a freeze or a partition). */
  fenced: () => number;
}

async function partitionCount(ctx: PipelineContext, topic: string): Promise<number> {
  const admin = ctx.kafka.admin();
  await admin.connect();
  try {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    return meta.topics[0]!.partitions.length;
  } finally {
    await admin.disconnect();
  }
}

export async function startScaledIngest(ctx: PipelineContext, opts: ScaleOutOptions = {}): Promise<ScaledIngest> {
  await initSqlParsers();
  const topic = opts.topic ?? TOPICS.queries.name;
  const internalTopic = opts.internalTopic ?? TOPICS.routedQueries.name;
  const internalSpec = { ...TOPICS.routedQueries, name: internalTopic };
  const aggregatesSpec = { ...TOPICS.aggregates, name: opts.aggregatesTopic ?? TOPICS.aggregates.name };
  await provisionTopics(ctx.kafka, [internalSpec, aggregatesSpec]);
  await ctx.serde.registerTopics([internalSpec, aggregatesSpec]);
  const groupId = opts.groupId ?? 'shardcast-ingest';
  const ingest = newIngestStats();
  const windows = await startIngestWindows(ctx, {
    groupId: `${groupId}-window`,
    sourceTopic: topic,
    sourcePartitions: await partitionCount(ctx, topic),
    internalTopic,
    aggregatesTopic: aggregatesSpec.name,
    aggregatesPartitions: await partitionCount(ctx, aggregatesSpec.name),
    stats: ingest,
    partitionKeys: opts.partitionKeys ?? ctx.cfg.partitionKeys,
    windowMs: opts.windowMs ?? ctx.cfg.windowMs,
    allowedLatenessMs: opts.allowedLatenessMs ?? ctx.cfg.allowedLatenessMs,
    ...(opts.partitionIdleMs ? { partitionIdleMs: opts.partitionIdleMs } : {}),
    ...(opts.idleFlushMs ? { idleFlushMs: opts.idleFlushMs } : {}),
    ...(opts.sessionTimeoutMs ? { sessionTimeoutMs: opts.sessionTimeoutMs } : {}),
  });
  const route = await startIngestRoute(ctx, {
    groupId: `${groupId}-route`,
    topic,
    internalTopic,
    internalPartitions: await partitionCount(ctx, internalTopic),
    fetchBytes: opts.fetchBytes ?? fetchBytesOf(ctx.cfg.ingestFetchKiB),
    ...(opts.sessionTimeoutMs ? { sessionTimeoutMs: opts.sessionTimeoutMs } : {}),
  });
  const stats: StageStats = {
    get consumed() {
      return route.stats.consumed;
    },
    get produced() {
      return windows.stats.produced;
    },
    get handled() {
      return windows.stats.handled;
    },
    get deadLettered() {
      return route.stats.deadLettered + windows.stats.deadLettered;
    },
    get batches() {
      return windows.stats.batches;
    },
  };
  // the instance's health is the routing half's while that one is not running, else the windows'
  const health = combinedHealth([route.health, windows.health]);
  return {
    stats,
    ingest,
    health,
    source: route.source,
    groupId: route.groupId,
    topics: [topic],
    done: Promise.all([route.done, windows.done]).then(() => undefined),
    sent: windows.sent,
    routed: route.routed,
    owned: () => ({ route: route.owned(), window: windows.owned() }),
    fenced: () => route.fencedCount() + windows.fencedCount(),
    async stop() {
      await route.stop();
      await windows.stop();
    },
  };
}
