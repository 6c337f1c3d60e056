/**
 * `shardcast run forecast`: shardcast.workload.aggregates → online forecaster (global tfjs
 * model + baselines + ensemble) → shardcast.forecasts. Only the wiring: consume, hand each
 * batch to the forecast rounds (processors/forecast/rounds.ts), produce, save the checkpoint,
 * commit.
 */
import path from 'node:path';
import type { WorkloadAggregate } from '../schemas/types.js';
import { TOPICS } from '../schemas/topics.js';
import { initBackend } from '../models/backend.js';
import { OnlineForecaster } from '../models/online.js';
import { pipelineForecasterOptions } from '../models/options.js';
import { ForecastRounds } from '../processors/forecast/rounds.js';
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
  const forecaster = new OnlineForecaster(
    pipelineForecasterOptions({
      stepMs,
      horizon: opts.horizon ?? ctx.cfg.forecastHorizon,
      ...(opts.season ? { season: opts.season } : {}),
      backend,
    }),
  );
  const checkpoint = opts.checkpointFile === undefined ? path.join(ctx.cfg.stackDir, 'forecaster.ckpt.json') : opts.checkpointFile;
  if (checkpoint) {
    const loaded = await forecaster.loadCheckpoint(checkpoint);
    ctx.log.info({ checkpoint, loaded }, 'forecaster checkpoint');
  }
  const rounds = new ForecastRounds(forecaster, {
    stepMs,
    ...(opts.sources ? { sources: opts.sources } : {}),
    ...(opts.maxFutureMs !== undefined ? { maxFutureMs: opts.maxFutureMs } : {}),
  });
  let published = 0;
  let futureSkipped = 0;
  let lastFutureWarn = 0;

  const stage = await startStage<WorkloadAggregate>(ctx, {
    name: 'forecast',
    groupId: opts.groupId ?? 'shardcast-forecast',
    topics: [TOPICS.aggregates.name],
    batchSize: 5000,
    batchMs: 300,
    handle: async (batch: Envelope<WorkloadAggregate>[]) => {
      const { forecasts, future } = await rounds.next(
        batch.map((e) => e.value),
        Date.now(),
      );
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
