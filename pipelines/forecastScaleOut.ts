/**
 * `shardcast run forecast` with SHARDCAST_FORECAST_SCALE_OUT=on: one instance of the forecast
 * stage that shares shardcast.workload.aggregates with any number of others, partition by
 * partition (aggregates are keyed by series id, so a series stays on one partition). Each owned
 * partition has its own forecaster and rounds (processors/forecast/partitionedForecast.ts); its
 * forecasts, its input offsets and its state (to shardcast.internal.forecast.state) go in one
 * Kafka transaction (partitionedStage.ts), so the instance that takes a partition over fences
 * the one before and loads exactly the state that matches the committed offsets
 * (forecastStateTopic.ts): each (series, origin) is forecast once. Metric series
 * (shardcast.telemetry.metrics, keyed by source and node) are sharded the same way, in a group
 * of their own, on their own (wall) clock, as the plain stage keeps them apart. See
 * docs/decisions/0121-forecast-scale-out.md.
 */
import type { DeadLetter, Forecast, MetricSample, WorkloadAggregate } from '../schemas/types.js';
import { TOPICS } from '../schemas/topics.js';
import { provisionTopics } from '../topics/admin.js';
import { initBackend } from '../models/backend.js';
import { PartitionedForecast } from '../processors/forecast/partitionedForecast.js';
import type { ForecastRoundOptions, Observation } from '../processors/forecast/rounds.js';
import { metricObservation } from '../processors/forecast/metricSeries.js';
import { isTemplateSeries, withTemplateObservations } from '../processors/forecast/templateSeries.js';
import type { PipelineContext } from './context.js';
import { decodeBatch, type RunningStage, type StageStats } from './stage.js';
import { combinedHealth, type StageHealth } from './failure.js';
import { forecasterFactory } from './forecast.js';
import { startPartitionedStage } from './partitionedStage.js';
import { ForecastStateReader, stateKey, stateRecord } from './forecastStateTopic.js';

export interface ScaledForecastOptions {
  groupId?: string;
  stepMs?: number;
  horizon?: number;
  season?: number;
  /** Forecast only the series of these sources (default: every source); others are consumed and committed. */
  sources?: string[];
  maxFutureMs?: number;
  /** The input topic (tests use a private one; default shardcast.workload.aggregates). */
  topic?: string;
  /** The state topic (tests use a private one; default shardcast.internal.forecast.state). */
  stateTopic?: string;
  /** The output topic (tests use a private one; default shardcast.forecasts). */
  forecastsTopic?: string;
  /** How long a group waits for a silent instance before its partitions go to the others (default 30 s). */
  sessionTimeoutMs?: number;
  /** How long taking a partition over waits for its saved state to be read back (default 30 s). */
  stateWaitMs?: number;
  /** Also forecast the metric series of shardcast.telemetry.metrics, by its partitions (default true). */
  metrics?: boolean;
}

export interface ScaledForecast extends RunningStage {
  health: StageHealth;
  /** The aggregates' per-partition forecasters. */
  core: PartitionedForecast;
  backend: string;
  /** Forecasts this instance committed. */
  forecasts: () => number;
  /** Partitions taken over from a saved state (not started empty). */
  restored: () => number;
  /** Aggregates not forecast because their window starts too far after the wall clock. */
  futureSkipped: () => number;
  /** Partitions of each input this instance owns now. */
  owned: () => { aggregates: number[]; metrics: number[] };
  /** Partitions given up because another instance fenced this one's producer. */
  fencedCount: () => number;
}

interface Pending {
  forecasts: Forecast[];
  letters: DeadLetter[];
  /** The last input offset handled (null: none since the last commit). */
  last: string | null;
}

interface ShardSpec<T> {
  groupId: string;
  topic: string;
  stateTopic: string;
  forecastsTopic: string;
  reader: ForecastStateReader;
  core: PartitionedForecast;
  /** The observations of decoded records (and those left out as being from the future, counted). */
  observe(values: T[]): Observation[];
  stateWaitMs: number;
  sessionTimeoutMs?: number;
}

/** One input topic forecast partition by partition: forecasts, offsets and the partition's state in one transaction. */
async function startShards<T>(ctx: PipelineContext, spec: ShardSpec<T>) {
  const { groupId, topic, stateTopic, reader, core } = spec;
  const pending = new Map<number, Pending>();
  const stopping = new AbortController();
  let futureSkipped = 0;
  let restored = 0;
  const stage = await startPartitionedStage(ctx, {
    name: 'forecast',
    groupId,
    topic,
    transactionalPrefix: `shardcast-forecast-${groupId}`,
    ...(spec.sessionTimeoutMs ? { sessionTimeoutMs: spec.sessionTimeoutMs } : {}),
    async own(partition, committed) {
      const loaded = await reader.load(stateKey(groupId, topic, partition), committed?.offset ?? null, spec.stateWaitMs, stopping.signal);
      const r = core.own(partition, loaded.text);
      if (r.restored) restored++;
      if (!loaded.matched)
        ctx.log.warn(
          { topic, partition, committed: committed?.offset, state: loaded.nextOffset },
          'no forecast state saved with the committed offset (group reset or state topic emptied?); windows in between may be observed twice or not at all',
        );
      if (!r.restored && r.reason)
        ctx.log.warn({ topic, partition, reason: r.reason }, 'forecast state of the partition refused; starting it empty');
      pending.set(partition, { forecasts: [], letters: [], last: null });
    },
    release(partition) {
      core.release(partition);
      pending.delete(partition);
    },
    async handle(batch, retrying) {
      const partition = batch[0]!.partition;
      const { good, letters } = await retrying('decode', () => decodeBatch<T>(ctx, batch, 'forecast'));
      const values = good.map((e) => e.value);
      const { forecasts, future } = await core.next(partition, spec.observe(values), Date.now());
      futureSkipped += future.filter((o) => !isTemplateSeries(o.seriesId)).length;
      const p = pending.get(partition);
      if (!p) return;
      p.forecasts.push(...forecasts);
      p.letters.push(...letters);
      p.last = batch[batch.length - 1]!.offset;
    },
    async take(partition) {
      const p = pending.get(partition);
      // Input without output is not committed on its own: its offsets ride with the next forecasts (0045).
      if (!p || p.last === null || (p.forecasts.length === 0 && p.letters.length === 0)) return null;
      const nextOffset = (BigInt(p.last) + 1n).toString();
      const text = await core.snapshot(partition, nextOffset);
      if (text === null) return null;
      const out = {
        outputs: [
          { topic: spec.forecastsTopic, records: p.forecasts.map((f) => ({ key: f.seriesId, value: f })) },
          { topic: TOPICS.dlq.name, records: p.letters.map((l) => ({ key: l.sourceTopic, value: l })) },
          { topic: stateTopic, records: [stateRecord(groupId, topic, partition, nextOffset, text)] },
        ],
        positions: [{ topic, partition, offset: p.last }],
      };
      pending.set(partition, { forecasts: [], letters: [], last: null });
      return out;
    },
  });
  return {
    stage,
    // every committed flush carries one state record beside its forecasts
    forecasts: () => stage.stats.produced - stage.stats.batches,
    restored: () => restored,
    futureSkipped: () => futureSkipped,
    async stop() {
      stopping.abort();
      await stage.stop();
    },
  };
}

export async function startScaledForecast(ctx: PipelineContext, opts: ScaledForecastOptions = {}): Promise<ScaledForecast> {
  const backend = await initBackend(ctx.cfg.forecastBackend);
  const stepMs = opts.stepMs ?? ctx.cfg.windowMs;
  const topic = opts.topic ?? TOPICS.aggregates.name;
  const stateTopic = opts.stateTopic ?? TOPICS.forecastState.name;
  const stateSpec = { ...TOPICS.forecastState, name: stateTopic };
  const forecastsSpec = { ...TOPICS.forecasts, name: opts.forecastsTopic ?? TOPICS.forecasts.name };
  await provisionTopics(ctx.kafka, [stateSpec, forecastsSpec]);
  await ctx.serde.registerTopics([stateSpec, forecastsSpec]);
  const groupId = opts.groupId ?? 'shardcast-forecast-scaled';
  const newForecaster = forecasterFactory(ctx, { ...opts, stepMs }, backend);
  const rounds: ForecastRoundOptions = { stepMs, ...(opts.sources ? { sources: opts.sources } : {}) };
  const core = new PartitionedForecast(newForecaster, {
    ...rounds,
    ...(opts.maxFutureMs !== undefined ? { maxFutureMs: opts.maxFutureMs } : {}),
  });
  const reader = await ForecastStateReader.start(ctx, stateTopic);
  const common = {
    stateTopic,
    forecastsTopic: forecastsSpec.name,
    reader,
    stateWaitMs: opts.stateWaitMs ?? 30_000,
    ...(opts.sessionTimeoutMs ? { sessionTimeoutMs: opts.sessionTimeoutMs } : {}),
  };
  const shards = [await startShards<WorkloadAggregate>(ctx, { ...common, groupId, topic, core, observe: withTemplateObservations })];
  // Metric series: their own forecasters and clock (samples carry the wall clock), as in forecast.ts.
  const metricCore = new PartitionedForecast(newForecaster, rounds);
  if (opts.metrics !== false) {
    shards.push(
      await startShards<MetricSample>(ctx, {
        ...common,
        groupId: `${groupId}-metrics`,
        topic: TOPICS.metrics.name,
        core: metricCore,
        observe: (values) => values.map((m) => metricObservation(m, stepMs)).filter((o): o is Observation => o !== null),
      }),
    );
  }
  const sum = (f: (s: StageStats) => number) => shards.reduce((n, s) => n + f(s.stage.stats), 0);
  const stats: StageStats = {
    get consumed() {
      return sum((s) => s.consumed);
    },
    get produced() {
      return sum((s) => s.produced);
    },
    get handled() {
      return sum((s) => s.handled);
    },
    get deadLettered() {
      return sum((s) => s.deadLettered);
    },
    get batches() {
      return sum((s) => s.batches);
    },
  };
  const aggregates = shards[0]!;
  return {
    stats,
    health: combinedHealth(shards.map((s) => s.stage.health)),
    source: aggregates.stage.source,
    groupId,
    topics: [topic],
    done: Promise.all(shards.map((s) => s.stage.done)).then(() => undefined),
    core,
    backend,
    forecasts: () => shards.reduce((n, s) => n + s.forecasts(), 0),
    restored: () => shards.reduce((n, s) => n + s.restored(), 0),
    futureSkipped: () => aggregates.futureSkipped(),
    owned: () => ({ aggregates: aggregates.stage.owned(), metrics: shards[1]?.stage.owned() ?? [] }),
    fencedCount: () => shards.reduce((n, s) => n + s.stage.fencedCount(), 0),
    async stop() {
      for (const s of shards) await s.stop();
      await reader.stop();
    },
  };
}
