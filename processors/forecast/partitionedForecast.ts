/**
 * The forecast stage cut by aggregates partition, for several instances sharing the work: each
 * owned partition has its own online forecaster and rounds (its series, its models, its clock),
 * so a partition's state can be saved alone and move with the partition to another instance.
 * `own` restores a partition from its saved state (or starts it empty), `release` drops it,
 * `snapshot` is the state to save with the partition's offsets. No I/O: the pipeline
 * (pipelines/forecastScaleOut.ts) reads and writes the saved state.
 */
import type { Forecast } from '../../schemas/types.js';
import type { OnlineForecaster } from '../../models/online.js';
import { restoreForecaster, serializeForecaster } from '../../models/checkpoint.js';
import { ForecastRounds, type ForecastRoundOptions, type Observation, type RoundResult, type RoundsSnapshot } from './rounds.js';

/** A partition's saved state: the checkpoint text, with the rounds and the next input offset in its stage part. */
export interface PartitionStage {
  /** The input offset after the last one this state observed (Kafka's committed offset). */
  nextOffset: string;
  rounds: RoundsSnapshot;
}

interface Part {
  forecaster: OnlineForecaster;
  rounds: ForecastRounds;
}

/** How `own` went: restored from saved state, started empty, or the saved state refused (why). */
export type OwnResult = { restored: true; series: number } | { restored: false; reason: string | null };

export class PartitionedForecast {
  private readonly parts = new Map<number, Part>();

  constructor(
    private readonly newForecaster: () => OnlineForecaster,
    private readonly roundOptions: ForecastRoundOptions,
  ) {}

  /** Takes a partition over from its saved state (null: none), replacing what was held for it. */
  own(partition: number, saved: string | null): OwnResult {
    const part = this.fresh();
    this.parts.set(partition, part);
    if (saved === null) return { restored: false, reason: null };
    // restoreForecaster validates everything before it changes the forecaster
    const r = restoreForecaster(part.forecaster, saved);
    const stage = r.ok ? (r.stage as Partial<PartitionStage> | null) : null;
    if (!r.ok || !stage?.rounds) {
      this.parts.set(partition, this.fresh());
      return { restored: false, reason: r.reason ?? 'no rounds in the saved state' };
    }
    part.rounds.restore(stage.rounds);
    return { restored: true, series: r.series ?? 0 };
  }

  private fresh(): Part {
    const forecaster = this.newForecaster();
    return { forecaster, rounds: new ForecastRounds(forecaster, { ...this.roundOptions, perWindow: true }) };
  }

  /** Gives a partition up: its models and rounds are dropped. */
  release(partition: number): void {
    this.parts.delete(partition);
  }

  owned(): number[] {
    return [...this.parts.keys()].sort((a, b) => a - b);
  }

  /** The forecaster of an owned partition (for tests and metrics). */
  forecaster(partition: number): OnlineForecaster | undefined {
    return this.parts.get(partition)?.forecaster;
  }

  /** Observes one batch of a partition (in offset order) and returns the forecasts it makes due. */
  async next<T extends Observation>(partition: number, batch: readonly T[], nowMs: number): Promise<RoundResult<T>> {
    const p = this.parts.get(partition);
    if (!p) return { forecasts: [] as Forecast[], future: [] };
    return p.rounds.next(batch, nowMs);
  }

  /** The partition's state as of `nextOffset`, as checkpoint text (null: not owned). */
  async snapshot(partition: number, nextOffset: string): Promise<string | null> {
    const p = this.parts.get(partition);
    if (!p) return null;
    const stage: PartitionStage = { nextOffset, rounds: p.rounds.snapshot() };
    return serializeForecaster(p.forecaster, { includeHistory: true, stage });
  }
}
