/**
 * The forecast stage's state on disk, kept in step with its committed offsets (exactly once).
 * Before a transaction commits a batch's forecasts and input offsets, the state after that batch
 * (models, rounds, the offsets it covers) goes to `<file>.pending`; after the commit the pending
 * file replaces `<file>`. On start the pending file wins only if its offsets are the ones the group
 * committed, i.e. the crash came after the commit; otherwise its transaction was aborted, it is
 * dropped, and `<file>` (the state before the batch Kafka will deliver again) is loaded.
 */
import fs from 'node:fs/promises';
import { checkpointStage } from '../models/checkpoint.js';
import type { OnlineForecaster } from '../models/online.js';
import type { ForecastRounds, RoundsSnapshot } from '../processors/forecast/rounds.js';
import type { SourcePosition } from '../schemas/envelope.js';
import type { Logger } from '../lib/log.js';

/** Saved beside the models: the last offset handled per `topic:partition`, and the rounds. */
interface StageState {
  offsets: Record<string, string>;
  rounds: RoundsSnapshot;
}

const keyOf = (p: { topic: string; partition: number }) => `${p.topic}:${p.partition}`;

function stageStateOf(text: string): StageState | null {
  const s = checkpointStage(text) as Partial<StageState> | null;
  return s && typeof s.offsets === 'object' && s.offsets && s.rounds ? (s as StageState) : null;
}

/** Whether every offset the state covers is what the group committed (Kafka stores the next offset). */
function coversCommitted(state: StageState, committed: ReadonlyMap<string, bigint>): boolean {
  return Object.entries(state.offsets).every(([k, last]) => committed.get(k) === BigInt(last) + 1n);
}

export class ForecastStateFile {
  private offsets: Record<string, string> = {};
  private pendingOffsets: Record<string, string> | null = null;
  private readonly pending: string;

  constructor(
    private readonly file: string,
    private readonly forecaster: OnlineForecaster,
    private readonly rounds: ForecastRounds,
    private readonly log: Logger,
  ) {
    this.pending = `${file}.pending`;
  }

  /** Loads the state that matches the group's committed offsets (`offset` is Kafka's next offset). */
  async restore(committed: readonly { topic: string; partition: number; offset: string }[]): Promise<void> {
    const next = new Map(committed.filter((c) => BigInt(c.offset) >= 0n).map((c) => [keyOf(c), BigInt(c.offset)] as const));
    const pendingText = await fs.readFile(this.pending, 'utf8').catch(() => null);
    if (pendingText !== null) {
      const state = (() => {
        try {
          return stageStateOf(pendingText);
        } catch {
          return null;
        }
      })();
      if (state && coversCommitted(state, next)) {
        await fs.rename(this.pending, this.file);
        this.log.info({ file: this.file }, 'forecaster state: the pending save had committed; taken');
      } else {
        await fs.rm(this.pending, { force: true });
        this.log.info({ file: this.pending }, 'forecaster state: the pending save had not committed; dropped');
      }
    }
    const loaded = await this.forecaster.loadCheckpoint(this.file);
    const state = loaded.ok && loaded.stage ? (loaded.stage as StageState) : null;
    if (!state) return;
    this.rounds.restore(state.rounds);
    this.offsets = { ...state.offsets };
    if (!coversCommitted(state, next)) {
      this.log.warn(
        { file: this.file, saved: state.offsets, committed: Object.fromEntries([...next].map(([k, v]) => [k, String(v - 1n)])) },
        'forecaster state does not match the committed offsets (group reset or moved?); windows in between may be observed twice or not at all',
      );
    }
  }

  /** Saves the state as of `positions` as pending, before the transaction commits. */
  async writePending(positions: readonly SourcePosition[]): Promise<void> {
    const offsets = { ...this.offsets };
    for (const p of positions) offsets[keyOf(p)] = p.offset;
    await this.forecaster.saveCheckpoint(this.pending, true, { offsets, rounds: this.rounds.snapshot() } satisfies StageState);
    this.pendingOffsets = offsets;
  }

  /** After the commit: the pending state becomes the current one. */
  async promote(): Promise<void> {
    await fs.rename(this.pending, this.file);
    if (this.pendingOffsets) this.offsets = this.pendingOffsets;
    this.pendingOffsets = null;
  }
}
