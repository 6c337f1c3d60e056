/**
 * `shardcast run forecast`: shardcast.workload.aggregates + shardcast.telemetry.metrics →
 * online forecaster (global tfjs model + baselines + ensemble) → shardcast.forecasts. Only the
 * wiring: consume, turn metric samples into series values (processors/forecast/metricSeries.ts),
 * hand each batch to the forecast rounds (processors/forecast/rounds.ts), then produce the
 * forecasts and commit the offsets in one transaction, with the state saved in step
 * (forecastState.ts), so a crash neither repeats a forecast on the topic nor observes an input
 * twice. Without a checkpoint file there is no state to keep in step: forecasts are then at
 * least once.
 */
import path from 'node:path';
import type { MetricSample, WorkloadAggregate } from '../schemas/types.js';
import { TOPICS } from '../schemas/topics.js';
import { initBackend } from '../models/backend.js';
import { OnlineForecaster } from '../models/online.js';
import { ForecastRounds, type Observation } from '../processors/forecast/rounds.js';
import { metricObservation } from '../processors/forecast/metricSeries.js';
import { isTemplateSeries, withTemplateObservations } from '../processors/forecast/templateSeries.js';
import { pipelineForecasterOptions } from '../processors/forecast/forecasterOptions.js';
import type { Envelope } from '../schemas/envelope.js';
import type { PipelineContext } from './context.js';
import { startStage, type RunningStage } from './stage.js';
import { ForecastStateFile } from './forecastState.js';
import { committedOffsets } from '../topics/consumer.js';

const DEFAULT_GROUP = 'shardcast-forecast';
const FORECAST_INPUTS = [TOPICS.aggregates.name, TOPICS.metrics.name];

export interface ForecastOptions {
  groupId?: string;
  stepMs?: number;
  horizon?: number;
  season?: number;
  /**
   * Checkpoint file (default `<stackDir>/forecaster.ckpt.json` for the default group,
   * `<stackDir>/forecaster-<group>.ckpt.json` for others); null: none, and no exactly-once.
   */
  checkpointFile?: string | null;
  /**
   * Forecast only the aggregates of these sources (default: every source). Others are still
   * consumed and committed, and do not move this forecaster's clock.
   */
  sources?: string[];
  /** Aggregates whose window starts more than this after the wall clock (default 1 h) are counted and reported, not forecast. */
  maxFutureMs?: number;
}

/** Makes the stage's online forecasters: the settings from the options, else from the configuration. */
export function forecasterFactory(
  ctx: PipelineContext,
  opts: { stepMs: number; horizon?: number; season?: number },
  backend: string | null,
): () => OnlineForecaster {
  return () =>
    new OnlineForecaster(
      pipelineForecasterOptions({
        stepMs: opts.stepMs,
        horizon: opts.horizon ?? ctx.cfg.forecastHorizon,
        ...(opts.season ? { season: opts.season } : {}),
        backend,
      }),
    );
}

export async function startForecast(
  ctx: PipelineContext,
  opts: ForecastOptions = {},
): Promise<RunningStage & { forecaster: OnlineForecaster; forecasts: () => number; futureSkipped: () => number; backend: string }> {
  const backend = await initBackend(ctx.cfg.forecastBackend);
  const stepMs = opts.stepMs ?? ctx.cfg.windowMs;
  const newForecaster = forecasterFactory(ctx, { ...opts, stepMs }, backend);
  const forecaster = newForecaster();
  const groupId = opts.groupId ?? DEFAULT_GROUP;
  const checkpoint =
    opts.checkpointFile === undefined
      ? path.join(ctx.cfg.stackDir, groupId === DEFAULT_GROUP ? 'forecaster.ckpt.json' : `forecaster-${groupId}.ckpt.json`)
      : opts.checkpointFile;
  const sources = opts.sources ? { sources: opts.sources } : {};
  const rounds = new ForecastRounds(forecaster, {
    stepMs,
    ...sources,
    ...(opts.maxFutureMs !== undefined ? { maxFutureMs: opts.maxFutureMs } : {}),
  });
  // Metric series have their own forecaster and clock: samples are stamped with the wall clock,
  // aggregates with event time, and one clock ahead of the other would hold its series back.
  const metricRounds = new ForecastRounds(newForecaster(), { stepMs, ...sources });
  // The table series' state is saved in step with the offsets (exactly once); the metric
  // series' is not kept across restarts (0045).
  const state = checkpoint ? new ForecastStateFile(checkpoint, forecaster, rounds, ctx.log) : null;
  if (state) await state.restore(await committedOffsets(ctx.kafka, groupId, FORECAST_INPUTS));
  let published = 0;
  let futureSkipped = 0;
  let lastFutureWarn = 0;

  const stage = await startStage<WorkloadAggregate | MetricSample>(ctx, {
    name: 'forecast',
    groupId,
    topics: FORECAST_INPUTS,
    batchSize: 5000,
    batchMs: 300,
    ...(state
      ? {
          exactlyOnce: {
            transactionalId: `shardcast-forecast-${groupId}`,
            beforeCommit: (positions) => state.writePending(positions),
            afterCommit: () => state.promote(),
          },
        }
      : {}),
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
      // each aggregate with its templates' executions (processors/forecast/templateSeries.ts)
      const { forecasts: fromAggregates, future: ahead } = await rounds.next(withTemplateObservations(aggregates), now);
      const future = ahead.filter((o) => !isTemplateSeries(o.seriesId));
      const fromMetrics = metrics.length ? (await metricRounds.next(metrics, now)).forecasts : [];
      const forecasts = [...fromAggregates, ...fromMetrics];
      if (future.length) {
        futureSkipped += future.length;
        if (Date.now() - lastFutureWarn > 60_000) {
          lastFutureWarn = Date.now();
          const a = future[0]!;
          // a window past the range of a date (a hostile producer) is logged as its number
          const at = new Date(a.windowStart);
          ctx.log.warn(
            { seriesId: a.seriesId, windowStart: Number.isNaN(at.getTime()) ? a.windowStart : at.toISOString(), skipped: futureSkipped },
            'aggregate from the future (producer clock?) not forecast',
          );
        }
      }
      if (!forecasts.length) return [];
      published += forecasts.length;
      return [{ topic: TOPICS.forecasts.name, records: forecasts.map((f) => ({ key: f.seriesId, value: f })) }];
    },
  });
  return { ...stage, forecaster, backend, forecasts: () => published, futureSkipped: () => futureSkipped };
}
