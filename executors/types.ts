/**
 * One interface for every store kind's executor (PostgreSQL shard nodes, ClickHouse, Kafka,
 * resources), in the manner of Cruise Control's executor: the adapter plans and carries out a
 * change in steps, reports progress, honours a throttle and an abort signal, and leaves the
 * store consistent (done or rolled back) if it is stopped midway.
 */
import { StateError } from '../lib/errors.js';
import type { AnyCommand, CommandResult, CommandStatus } from '../schemas/types.js';

export interface Progress {
  status: Extract<CommandStatus, 'RUNNING'>;
  progress: number;
  rowsCopied?: number;
  bytesMoved?: number;
  details?: Record<string, string>;
}

export interface Outcome {
  status: Extract<CommandStatus, 'SUCCEEDED' | 'FAILED' | 'ROLLED_BACK'>;
  reason?: string;
  rowsCopied?: number;
  bytesMoved?: number;
  verified?: boolean | null;
  details?: Record<string, string>;
}

export interface ExecutionContext {
  report(p: Progress): Promise<void>;
  /** Waits so that moving `bytes` more stays under the configured bytes-per-second limit. */
  throttle(bytes: number): Promise<void>;
  signal: AbortSignal;
  /** Progress saved by an earlier run of this command (after a crash), if any. */
  resumeFrom: Record<string, string> | null;
  /** Saves progress durably so a restarted executor can resume or roll back. */
  checkpoint(state: Record<string, string>): Promise<void>;
}

export interface StoreAdapter {
  readonly name: string;
  /** True for the commands this adapter carries out. */
  handles(cmd: AnyCommand): boolean;
  /** Null when the command is valid against the catalog, else the reason to reject it. */
  validate(cmd: AnyCommand): Promise<string | null>;
  execute(cmd: AnyCommand, ctx: ExecutionContext): Promise<Outcome>;
}

export type ResultDraft = Omit<CommandResult, 'ts' | 'executor' | 'topic'>;

/** What an adapter throws when it sees `ctx.signal` aborted: it rolls back, the command fails. */
export const stopRequestedError = (): StateError => new StateError('aborted by the executor (stop requested)');
