/**
 * `shardcast run forecast`: shardcast.workload.aggregates → per-series history → online
 * forecaster (global tfjs model + baselines + ensemble) → shardcast.forecasts.
 * A forecast round runs whenever a newer window than the last forecast one has been observed:
 * windows arrive in event-time order per series, so the previous window is then complete.
 */
import path from 'node:path';
import type { Forecast, WorkloadAggregate } from '../schemas/types.js';
import { TOPICS } from '../schemas/topics.js';
import { initBackend } from '../models/backend.js';
import { OnlineForecaster } from '../models/online.js';
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
  /**
   * Aggregates whose window starts more than this after the wall clock (default 1 h) are not
   * forecast: one far-future window (a producer with a wrong clock) would move the forecaster's
   * clock ahead and hold every other series' forecasts back. They are counted and reported.
   */
  maxFutureMs?: number;
}

export async function startForecast(
  ctx: PipelineContext,
  opts: ForecastOptions = {},
): Promise<RunningStage & { forecaster: OnlineForecaster; forecasts: () => number; futureSkipped: () => number; backend: string }> {
  const backend = await initBackend(ctx.cfg.forecastBackend);
  const stepMs = opts.stepMs ?? ctx.cfg.windowMs;
  const forecaster = new OnlineForecaster({
    stepMs,
    horizon: opts.horizon ?? ctx.cfg.forecastHorizon,
    ...(opts.season ? { season: opts.season } : {}),
    nonNegative: true,
    backend,
  });
  const checkpoint = opts.checkpointFile === undefined ? path.join(ctx.cfg.stackDir, 'forecaster.ckpt.json') : opts.checkpointFile;
  if (checkpoint) {
    const loaded = await forecaster.loadCheckpoint(checkpoint);
    ctx.log.info({ checkpoint, loaded }, 'forecaster checkpoint');
  }
  const only = opts.sources ? new Set(opts.sources) : null;
  let lastForecastWindow = -Infinity;
  let latestWindow = -Infinity;
  let published = 0;
  let futureSkipped = 0;
  let lastFutureWarn = 0;
  // Series forecast at lastForecastWindow: windows of one step reach this stage from several
  // partitions, possibly in different batches, so series that come after the step are
  // forecast at the same origin when they arrive.
  let forecastAtLast = new Set<string>();

  const stage = await startStage<WorkloadAggregate>(ctx, {
    name: 'forecast',
    groupId: opts.groupId ?? 'shardcast-forecast',
    topics: [TOPICS.aggregates.name],
    batchSize: 5000,
    batchMs: 300,
    handle: async (batch: Envelope<WorkloadAggregate>[]) => {
      const seen = new Set<string>();
      const horizonEnd = Date.now() + (opts.maxFutureMs ?? 3_600_000);
      for (const { value: a } of batch) {
        if (only && !only.has(a.source)) continue;
        if (a.windowStart > horizonEnd) {
          futureSkipped++;
          if (Date.now() - lastFutureWarn > 60_000) {
            lastFutureWarn = Date.now();
            ctx.log.warn(
              { seriesId: a.seriesId, windowStart: new Date(a.windowStart).toISOString(), skipped: futureSkipped },
              'aggregate from the future (producer clock?) not forecast',
            );
          }
          continue;
        }
        forecaster.observe(a.seriesId, a.windowStart, a.queries);
        latestWindow = Math.max(latestWindow, a.windowStart);
        seen.add(a.seriesId);
      }
      // Forecast from the last complete window: the one before the newest seen.
      const complete = latestWindow - stepMs;
      if (!Number.isFinite(complete) || complete < lastForecastWindow) return [];
      let forecasts: Forecast[];
      if (complete > lastForecastWindow) {
        lastForecastWindow = complete;
        forecasts = await forecaster.step(complete);
        forecastAtLast = new Set(forecasts.map((f) => f.seriesId));
      } else {
        const late = new Set([...seen].filter((id) => !forecastAtLast.has(id)));
        if (!late.size) return [];
        forecasts = await forecaster.step(complete, undefined, late);
        for (const f of forecasts) forecastAtLast.add(f.seriesId);
      }
      if (!forecasts.length) return [];
      published += forecasts.length;
      if (checkpoint) await forecaster.saveCheckpoint(checkpoint);
      return [{ topic: TOPICS.forecasts.name, records: forecasts.map((f) => ({ key: f.seriesId, value: f })) }];
    },
  });
  return { ...stage, forecaster, backend, forecasts: () => published, futureSkipped: () => futureSkipped };
}
