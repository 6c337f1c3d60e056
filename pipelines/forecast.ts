/**
 * `shardcast run forecast`: shardcast.workload.aggregates + shardcast.telemetry.metrics →
 * online forecaster (global tfjs model + baselines + ensemble) → shardcast.forecasts. Only the
 * wiring: consume, turn metric samples into series values (processors/forecast/metricSeries.ts),
 * hand each batch to the forecast rounds (processors/forecast/rounds.ts), produce, save the
 * checkpoint, commit.
 */
import path from 'node:path';
import type { MetricSample, WorkloadAggregate } from '../schemas/types.js';
import { TOPICS } from '../schemas/topics.js';
import { initBackend } from '../models/backend.js';
import { OnlineForecaster } from '../models/online.js';
import { ForecastRounds, type Observation } from '../processors/forecast/rounds.js';
import { metricObservation } from '../processors/forecast/metricSeries.js';
import type { Envelope } from '../schemas/envelope.js';
import type { PipelineContext } from './context.js';
import { startStage, type RunningStage } from './stage.js';

export interface ForecastOptions {
  groupId?: string;
  stepMs?: number;
  horizon?: number;
  season?: number;
  /** Checkpoint file (default `<stackDir>/forecaster.ckpt.json`); null: none. */
  checkpointFile?: string | null;
  /**
   * Forecast only the aggregates of these sources (default: every source). Others are still
   * consumed and committed, and do not move this forecaster's clock.
   */
  sources?: string[];
  /** Aggregates whose window starts more than this after the wall clock (default 1 h) are counted and reported, not forecast. */
  maxFutureMs?: number;
}

export async function startForecast(
  ctx: PipelineContext,
  opts: ForecastOptions = {},
): Promise<RunningStage & { forecaster: OnlineForecaster; forecasts: () => number; futureSkipped: () => number; backend: string }> {
  const backend = await initBackend(ctx.cfg.forecastBackend);
  const stepMs = opts.stepMs ?? ctx.cfg.windowMs;
  const newForecaster = () =>
    new OnlineForecaster({
      stepMs,
      horizon: opts.horizon ?? ctx.cfg.forecastHorizon,
      ...(opts.season ? { season: opts.season } : {}),
      nonNegative: true,
      backend,
    });
  const forecaster = newForecaster();
  const checkpoint = opts.checkpointFile === undefined ? path.join(ctx.cfg.stackDir, 'forecaster.ckpt.json') : opts.checkpointFile;
  if (checkpoint) {
    const loaded = await forecaster.loadCheckpoint(checkpoint);
    ctx.log.info({ checkpoint, loaded }, 'forecaster checkpoint');
  }
  const sources = opts.sources ? { sources: opts.sources } : {};
  const rounds = new ForecastRounds(forecaster, {
    stepMs,
    ...sources,
    ...(opts.maxFutureMs !== undefined ? { maxFutureMs: opts.maxFutureMs } : {}),
  });
  // Metric series have their own forecaster and clock: samples are stamped with the wall clock,
  // aggregates with event time, and one clock ahead of the other would hold its series back.
  const metricRounds = new ForecastRounds(newForecaster(), { stepMs, ...sources });
  let published = 0;
  let futureSkipped = 0;
  let lastFutureWarn = 0;

  const stage = await startStage<WorkloadAggregate | MetricSample>(ctx, {
    name: 'forecast',
    groupId: opts.groupId ?? 'shardcast-forecast',
    topics: [TOPICS.aggregates.name, TOPICS.metrics.name],
    batchSize: 5000,
    batchMs: 300,
    handle: async (batch: Envelope<WorkloadAggregate | MetricSample>[]) => {
      const aggregates: WorkloadAggregate[] = [];
      const metrics: Observation[] = [];
      for (const e of batch) {
        if (e.topic !== TOPICS.metrics.name) aggregates.push(e.value as WorkloadAggregate);
        else {
          const o = metricObservation(e.value as MetricSample, stepMs);
          if (o) metrics.push(o);
        }
      }
      const now = Date.now();
      const { forecasts: fromAggregates, future } = await rounds.next(aggregates, now);
      const fromMetrics = metrics.length ? (await metricRounds.next(metrics, now)).forecasts : [];
      const forecasts = [...fromAggregates, ...fromMetrics];
      if (future.length) {
        futureSkipped += future.length;
        if (Date.now() - lastFutureWarn > 60_000) {
          lastFutureWarn = Date.now();
          const a = future[0]!;
          ctx.log.warn(
            { seriesId: a.seriesId, windowStart: new Date(a.windowStart).toISOString(), skipped: futureSkipped },
            'aggregate from the future (producer clock?) not forecast',
          );
        }
      }
      if (!forecasts.length) return [];
      published += forecasts.length;
      if (checkpoint) await forecaster.saveCheckpoint(checkpoint);
      return [{ topic: TOPICS.forecasts.name, records: forecasts.map((f) => ({ key: f.seriesId, value: f })) }];
    },
  });
  return { ...stage, forecaster, backend, forecasts: () => published, futureSkipped: () => futureSkipped };
}
