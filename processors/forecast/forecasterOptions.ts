/**
 * The forecaster `run forecast` runs: counts (negative values clamped, forecasts clipped at 0),
 * the window as its step, seasons detected per series unless one is configured, key buckets
 * placed along their table's keys for the key-drift model. The simulator's predictive policy
 * builds its forecaster from the same function.
 */
import type { OnlineForecasterOptions } from '../../models/options.js';
import { bucketOrder } from './keyOrder.js';

export function pipelineForecasterOptions(o: {
  stepMs: number;
  horizon: number;
  season?: number;
  backend: string | null;
}): OnlineForecasterOptions {
  return {
    stepMs: o.stepMs,
    horizon: o.horizon,
    ...(o.season ? { season: o.season } : {}),
    nonNegative: true,
    backend: o.backend,
    keyOrder: bucketOrder,
  };
}
