/**
 * The forecast stage's core, without Kafka or I/O: each batch of aggregates is observed by the
 * online forecaster, and a forecast round runs whenever a newer window than the last forecast
 * one has been observed (windows arrive in event-time order per series, so the previous window
 * is then complete). Series whose windows of that step arrive in a later batch (from another
 * partition) are forecast at the same origin when they come. The pipeline consumes, calls
 * `next`, produces and commits.
 */
import type { Forecast, WorkloadAggregate } from '../../schemas/types.js';

/** What the rounds drive: the online forecaster (models/online.ts), seen structurally. */
export interface SteppedForecaster {
  observe(seriesId: string, windowStart: number, value: number): void;
  step(nowWindowStart: number, issuedAt?: number, only?: ReadonlySet<string>): Promise<Forecast[]>;
}

export interface ForecastRoundOptions {
  stepMs: number;
  /** Forecast only the aggregates of these sources; others do not move the clock (default: all). */
  sources?: readonly string[];
  /**
   * Aggregates whose window starts more than this after `nowMs` (default 1 h) are not forecast:
   * one far-future window (a producer with a wrong clock) would move the forecaster's clock
   * ahead and hold every other series' forecasts back.
   */
  maxFutureMs?: number;
  /**
   * Take a batch in order and run each round as soon as a newer window opens, on what was
   * observed before it (default: one round after the whole batch). The rounds and what they saw
   * then depend on the order of the aggregates only, not on where fetches cut batches: the
   * scaled-out stage, which restarts partitions from saved state, gives the results of one run.
   */
  perWindow?: boolean;
}

/** What a round observes: an aggregate's query count, or a metric's value (processors/forecast/metricSeries.ts). */
export type Observation = Pick<WorkloadAggregate, 'source' | 'seriesId' | 'windowStart' | 'queries'>;

export interface RoundResult<T extends Observation = WorkloadAggregate> {
  forecasts: Forecast[];
  /** Observations left out because their window starts too far in the future. */
  future: T[];
}

/** Where the rounds stand, saved with the forecaster so a restart neither repeats nor skips a round. */
export interface RoundsSnapshot {
  lastForecastWindow: number | null;
  latestWindow: number | null;
  forecastAtLast: string[];
}

export class ForecastRounds {
  private readonly only: ReadonlySet<string> | null;
  private lastForecastWindow = -Infinity;
  private latestWindow = -Infinity;
  /** Series forecast at `lastForecastWindow`. */
  private forecastAtLast = new Set<string>();

  constructor(
    private readonly forecaster: SteppedForecaster,
    private readonly opts: ForecastRoundOptions,
  ) {
    this.only = opts.sources ? new Set(opts.sources) : null;
  }

  snapshot(): RoundsSnapshot {
    const finite = (x: number) => (Number.isFinite(x) ? x : null);
    return {
      lastForecastWindow: finite(this.lastForecastWindow),
      latestWindow: finite(this.latestWindow),
      forecastAtLast: [...this.forecastAtLast],
    };
  }

  restore(s: RoundsSnapshot): void {
    this.lastForecastWindow = s.lastForecastWindow ?? -Infinity;
    this.latestWindow = s.latestWindow ?? -Infinity;
    this.forecastAtLast = new Set(s.forecastAtLast);
  }

  /** Observes one batch and returns the forecasts it makes due; `nowMs` is the wall clock. */
  async next<T extends Observation>(batch: readonly T[], nowMs: number): Promise<RoundResult<T>> {
    const seen = new Set<string>();
    const future: T[] = [];
    const forecasts: Forecast[] = [];
    const horizonEnd = nowMs + (this.opts.maxFutureMs ?? 3_600_000);
    for (const a of batch) {
      if (this.only && !this.only.has(a.source)) continue;
      if (a.windowStart > horizonEnd) {
        future.push(a);
        continue;
      }
      if (this.opts.perWindow && a.windowStart > this.latestWindow && Number.isFinite(this.latestWindow)) {
        // late series of the current origin first, then the round the new window completes
        forecasts.push(...(await this.due(this.latestWindow - this.opts.stepMs, seen)));
        seen.clear();
        forecasts.push(...(await this.due(a.windowStart - this.opts.stepMs, seen)));
      }
      this.forecaster.observe(a.seriesId, a.windowStart, a.queries);
      this.latestWindow = Math.max(this.latestWindow, a.windowStart);
      // per window, only a series' window of the forecast origin (or older) makes it late
      if (!this.opts.perWindow || a.windowStart <= this.lastForecastWindow) seen.add(a.seriesId);
    }
    // Forecast from the last complete window: the one before the newest seen.
    forecasts.push(...(await this.due(this.latestWindow - this.opts.stepMs, seen)));
    return { forecasts, future };
  }

  /** The round from `complete` if it is new, else the forecasts of series seen late for the current one. */
  private async due(complete: number, seen: ReadonlySet<string>): Promise<Forecast[]> {
    if (!Number.isFinite(complete) || complete < this.lastForecastWindow) return [];
    if (complete > this.lastForecastWindow) {
      this.lastForecastWindow = complete;
      const forecasts = await this.forecaster.step(complete);
      this.forecastAtLast = new Set(forecasts.map((f) => f.seriesId));
      return forecasts;
    }
    const late = new Set([...seen].filter((id) => !this.forecastAtLast.has(id)));
    if (!late.size) return [];
    const forecasts = await this.forecaster.step(complete, undefined, late);
    for (const f of forecasts) this.forecastAtLast.add(f.seriesId);
    return forecasts;
  }
}
