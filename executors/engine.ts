/**
 * Runs one command through its lifecycle: validate (form, then the command contract of
 * schemas/commandParams.ts, then the catalog and the adapter) → claim in the ledger (idempotency) →
 * execute with the adapter (progress, throttle, checkpoints) → terminal status. Every step
 * is reported as a CommandResult through `emit`. Pure orchestration: stores are behind the
 * adapters, results go wherever `emit` sends them.
 *
 * A store that does not answer (a retriable error from the adapter) does not fail the command:
 * it stays RUNNING with its checkpoint, `run` throws an UnavailableError, and the execute stage
 * retries with backoff; the next attempt resumes from the checkpoint. After `maxStoreAttempts`
 * attempts the command is FAILED, so a store that is gone for good does not hold the queue forever.
 */
import type { AnyCommand, CommandResult, CommandStatus } from '../schemas/types.js';
import { commandParamsReason } from '../schemas/commandParams.js';
import { COMMAND_TOPICS } from '../schemas/topics.js';
import { isPlainIdentifier } from '../stores/identifiers.js';
import { isTerminal, type CommandLedger } from './ledger.js';
import { isRetriable, UnavailableError } from '../lib/errors.js';
import type { ExecutionContext, Outcome, StoreAdapter } from './types.js';

export interface EngineOptions {
  executorName: string;
  adapters: StoreAdapter[];
  ledger: CommandLedger;
  emit(result: CommandResult): Promise<void>;
  /** Bytes per second all migrations together may move. */
  bytesPerSecond: number;
  now?: () => number;
  signal?: AbortSignal;
  /**
   * A check of a new command against the federation catalog (catalog/validate.ts), run after
   * the structural checks and before the adapter's own; not run for a command resumed from
   * the ledger, whose partial work the catalog may already show.
   */
  catalogCheck?: (cmd: AnyCommand) => Promise<string | null>;
  /**
   * 'hold' (default): a valid command with requiresApproval waits in the ledger until an
   * operator approves it (`shardcast approve`); 'ignore' runs it like any other.
   */
  approvals?: 'hold' | 'ignore';
  /** Attempts of a command whose store does not answer before it is FAILED (default 20: minutes with the stage's backoff). */
  maxStoreAttempts?: number;
}

export class ExecutorEngine {
  private readonly now: () => number;
  private windowStart = 0;
  private windowBytes = 0;
  /** The commands in hand (one per store lane of the execute stage), by id: the controller its adapter watches, and its store. */
  private readonly inHand = new Map<string, { abort: AbortController; store: string }>();

  constructor(private readonly opts: EngineOptions) {
    this.now = opts.now ?? Date.now;
  }

  private result(cmd: AnyCommand, status: CommandStatus, extra: Partial<CommandResult> = {}): CommandResult {
    return {
      commandId: cmd.commandId,
      ts: this.now(),
      topic: COMMAND_TOPICS[cmd.kind],
      store: cmd.store,
      action: cmd.action,
      status,
      progress: status === 'SUCCEEDED' ? 1 : 0,
      reason: null,
      rowsCopied: 0,
      bytesMoved: 0,
      verified: null,
      durationMs: 0,
      executor: this.opts.executorName,
      details: {},
      ...extra,
    };
  }

  /** Structural checks that need no store: names are plain identifiers, the id is sane. */
  static basicReason(cmd: AnyCommand): string | null {
    if (!/^[A-Za-z0-9._:-]{1,128}$/.test(cmd.commandId)) return 'commandId is not a plain id';
    if (!isPlainIdentifier(cmd.store.replace(/-/g, '_'))) return `store ${JSON.stringify(cmd.store)} is not a catalog name`;
    if ('table' in cmd && !isPlainIdentifier(cmd.table)) return `table ${JSON.stringify(cmd.table)} is not a plain identifier`;
    if ('partition' in cmd && cmd.partition !== null && !isPlainIdentifier(cmd.partition)) {
      return `partition ${JSON.stringify(cmd.partition)} is not a plain identifier`;
    }
    for (const n of [
      cmd.kind === 'shard' ? cmd.sourceNode : null,
      cmd.kind === 'shard' ? cmd.targetNode : null,
      cmd.kind === 'resource' ? cmd.node : null,
    ]) {
      if (n !== null && !/^[a-z0-9_-]{1,63}$/.test(n)) return `node ${JSON.stringify(n)} is not a catalog name`;
    }
    return null;
  }

  async run(cmd: AnyCommand): Promise<CommandStatus> {
    const started = this.now();
    const seen = await this.opts.ledger.get(cmd.commandId);
    if (seen && isTerminal(seen.status)) {
      // A replayed id: report it, change nothing.
      await this.opts.emit(this.result(cmd, 'REJECTED', { reason: `duplicate command id (already ${seen.status})` }));
      return 'REJECTED';
    }
    // Redelivered while waiting for an operator (or decided, not yet acted on): settleApprovals runs it.
    if (seen && seen.approval !== null && seen.attempts === 0) return 'ACCEPTED';
    const adapter = this.opts.adapters.find((a) => a.handles(cmd));
    const reason =
      ExecutorEngine.basicReason(cmd) ??
      commandParamsReason(cmd) ??
      (!seen && this.opts.catalogCheck ? await this.opts.catalogCheck(cmd) : null) ??
      (adapter ? await adapter.validate(cmd) : `no executor for ${cmd.kind}/${cmd.action} on a ${cmd.storeKind} store`);
    if (reason) {
      await this.opts.ledger.claim(cmd.commandId, cmd.action);
      await this.opts.ledger.setStatus(cmd.commandId, 'REJECTED', { reason });
      await this.opts.emit(this.result(cmd, 'REJECTED', { reason }));
      return 'REJECTED';
    }
    if (!seen && cmd.requiresApproval && (this.opts.approvals ?? 'hold') === 'hold') {
      await this.opts.ledger.holdForApproval(cmd.commandId, cmd.action, cmd);
      await this.opts.emit(
        this.result(cmd, 'ACCEPTED', { details: { awaiting: 'approval', approve: `shardcast approve ${cmd.commandId}` } }),
      );
      return 'ACCEPTED';
    }
    const prior = seen ?? (await this.opts.ledger.claim(cmd.commandId, cmd.action, cmd));
    await this.opts.emit(this.result(cmd, 'ACCEPTED', { details: prior ? { resumed: 'true' } : {} }));

    const abort = new AbortController();
    const signal = this.opts.signal ? AbortSignal.any([this.opts.signal, abort.signal]) : abort.signal;
    this.inHand.set(cmd.commandId, { abort, store: cmd.store });
    const ctx: ExecutionContext = {
      signal,
      resumeFrom: prior?.state && Object.keys(prior.state).length > 0 ? prior.state : null,
      report: async (p) => {
        await this.opts.ledger.setStatus(cmd.commandId, 'RUNNING');
        await this.opts.emit(this.result(cmd, 'RUNNING', { ...p, details: p.details ?? {}, durationMs: this.now() - started }));
      },
      throttle: (bytes) => this.throttle(bytes),
      checkpoint: (state) => this.opts.ledger.setStatus(cmd.commandId, 'RUNNING', state),
    };
    let outcome: Outcome;
    try {
      outcome = await adapter!.execute(cmd, ctx);
    } catch (err) {
      const attempts = Math.max(1, prior?.attempts ?? 1);
      const message = (err as Error).message;
      if (isRetriable(err) && !abort.signal.aborted && attempts < (this.opts.maxStoreAttempts ?? 20)) {
        this.inHand.delete(cmd.commandId);
        await this.opts.ledger.claim(cmd.commandId, cmd.action); // counts the attempt; the checkpoint stays
        await this.opts.emit(this.result(cmd, 'RUNNING', { reason: `store unavailable (attempt ${attempts}), will retry: ${message}` }));
        throw new UnavailableError(`command ${cmd.commandId}: store unavailable: ${message}`, { cause: err });
      }
      outcome = { status: 'FAILED', reason: isRetriable(err) ? `store unavailable after ${attempts} attempts: ${message}` : message };
    } finally {
      this.inHand.delete(cmd.commandId);
    }
    if (abort.signal.aborted && outcome.status !== 'SUCCEEDED')
      outcome = { ...outcome, reason: `${String(abort.signal.reason)}${outcome.reason ? `: ${outcome.reason}` : ''}` };
    await this.opts.ledger.setStatus(cmd.commandId, outcome.status);
    await this.opts.emit(
      this.result(cmd, outcome.status, {
        reason: outcome.reason ?? null,
        rowsCopied: outcome.rowsCopied ?? 0,
        bytesMoved: outcome.bytesMoved ?? 0,
        verified: outcome.verified ?? null,
        details: outcome.details ?? {},
        progress: outcome.status === 'SUCCEEDED' ? 1 : 0,
        durationMs: this.now() - started,
      }),
    );
    return outcome.status;
  }

  /**
   * Acts on operators' verdicts: an approved command runs now (validated again against the
   * stores: they may have changed while it waited), a denied one is REJECTED. Returns how many.
   * `inLane` runs an approved command in its store's lane (the execute stage's per-store order).
   */
  async settleApprovals(inLane: <T>(store: string, run: () => Promise<T>) => Promise<T> = (_store, run) => run()): Promise<number> {
    const decided = await this.opts.ledger.decidedApprovals();
    for (const d of decided) {
      const cmd = d.command as AnyCommand;
      // Taken atomically: other executor instances see the same verdicts, and one acts on each.
      if (d.approval === 'denied') {
        const reason = `denied by ${d.by ?? 'an operator'}`;
        if (await this.opts.ledger.rejectDenied(d.commandId, reason)) await this.opts.emit(this.result(cmd, 'REJECTED', { reason }));
        continue;
      }
      // taken in the lane, after the orphans of the store: taken earlier, it would look like one
      await inLane(cmd.store, async () => {
        if (await this.opts.ledger.takeApproved(d.commandId)) await this.run(cmd);
      });
    }
    return decided.length;
  }

  /**
   * Stops `commandId` if it is in hand: its adapter sees the abort at its next safe point and
   * rolls back. Returns whether that command was in hand.
   */
  stop(commandId: string, reason: string): boolean {
    const held = this.inHand.get(commandId);
    held?.abort.abort(reason);
    return held !== undefined;
  }

  /** Stops every command in hand on `store` (this executor lost the store's lock); returns their ids. */
  stopStore(store: string, reason: string): string[] {
    const ids = [...this.inHand].filter(([, h]) => h.store === store).map(([id]) => id);
    for (const id of ids) this.stop(id, reason);
    return ids;
  }

  /** A one-second token bucket shared by every command this engine runs. */
  private async throttle(bytes: number): Promise<void> {
    const now = this.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.windowBytes = 0;
    }
    this.windowBytes += bytes;
    if (this.windowBytes > this.opts.bytesPerSecond) {
      const wait = 1000 - (now - this.windowStart);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }
}
