/**
 * A forecast made by hand (tests, the fault suite): load on one series rising by `slope` per
 * step from `base`, twelve steps from `origin`, with a tight interval and a good recent error, so
 * the decide stage takes it at its word.
 */
import type { Forecast } from './types.js';

export function risingForecast(seriesId: string, origin: number, now: number, base: number, slope: number, step: number): Forecast {
  return {
    seriesId,
    issuedAt: now,
    originTs: origin,
    stepMs: step,
    metric: 'queries',
    model: 'test-rising',
    backend: null,
    points: Array.from({ length: 12 }, (_, i) => {
      const predicted = base + slope * (i + 1);
      return { horizon: i + 1, ts: origin + (i + 1) * step, predicted, lower: predicted * 0.9, upper: predicted * 1.1 };
    }),
    recentError: 0.1,
    intervalLevel: 0.8,
  };
}
