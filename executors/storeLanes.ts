/**
 * The execute stage's order of work: one lane per store. A store's commands run one after
 * another in the order they came (a move waits for the scale-out before it); different stores'
 * run at the same time, so a long PostgreSQL move does not hold a Kafka or ClickHouse command
 * back. Lanes are async-lock's keyed locks.
 *
 * With `shared` (the execute stage always passes it), a lane also holds its store's lock
 * across executor instances (storeLocks.ts) while it works, and on taking it first finishes or
 * rolls back what an executor that died left in flight for that store: holding the lock means
 * nobody else is working on the store, so an unfinished ledger entry of it is an orphan.
 */
import AsyncLock from 'async-lock';
import type { AnyCommand } from '../schemas/types.js';
import { UnavailableError } from '../lib/errors.js';
import type { ExecutorEngine } from './engine.js';
import { isTerminal, type CommandLedger, type LedgerEntry } from './ledger.js';
import type { StoreLocks } from './storeLocks.js';

/** A command of a batch: where it came from, and whether it is known to sit at its id's own position. */
export interface LaneItem {
  at: string;
  cmd: AnyCommand;
  /**
   * The delivery record says this position is where the command id was first delivered (first
   * time or redelivered): if the ledger shows the id finished, some instance ran this very
   * record (before a crash, or while the partition moved during a rebalance) and it is not run
   * again, nor reported twice. Unknown (signatures off): the engine reports a duplicate id.
   */
  ownPosition?: boolean;
}

/** How long an unfinished entry is left alone before a sweep takes it for an orphan (the stage's backoff is at most 30 s). */
const SWEEP_IDLE_MS = 60_000;

export interface SharedStores {
  locks: StoreLocks;
  ledger: CommandLedger;
  /** Aborts waits for a store lock (the stage is stopping). */
  signal?: AbortSignal;
  /** Told before an orphaned command is resumed. */
  onResume?: (entry: LedgerEntry) => void;
}

export class StoreLanes {
  private readonly lock = new AsyncLock({ maxPending: Number.POSITIVE_INFINITY });
  /** Commands run in an attempt at a batch that failed later: not run again when it comes back. */
  private readonly ran = new Set<string>();
  /** Command ids resumed here as orphans: their redelivered copies are not run again. */
  private readonly resumed = new Set<string>();
  /** Stores with an orphan sweep queued or running. */
  private readonly sweeping = new Set<string>();

  constructor(
    private readonly engine: ExecutorEngine,
    private readonly shared: SharedStores | null = null,
  ) {}

  /** Runs `run` in `store`'s lane, after what that lane already holds (and, shared, holding the store's lock). */
  inLane<T>(store: string, run: () => Promise<T>): Promise<T> {
    const shared = this.shared;
    if (!shared) return this.lock.acquire(store, run);
    return this.lock.acquire(store, async () => {
      try {
        await shared.locks.acquire(store, shared.signal);
      } catch (err) {
        if (shared.signal?.aborted) throw new UnavailableError(`stopped while waiting for the lock of store ${store}`, { cause: err });
        throw err;
      }
      try {
        await this.resumeOrphans(shared, store);
        return await run();
      } finally {
        await shared.locks.release(store);
      }
    });
  }

  private async resumeOrphans(shared: SharedStores, store: string): Promise<void> {
    for (const entry of await shared.ledger.unfinished(store)) {
      shared.onResume?.(entry);
      await this.engine.run(entry.command as AnyCommand);
      this.resumed.add(entry.commandId);
    }
  }

  /**
   * Resumes the orphans of the stores that have some (shared lanes only), one sweep per store
   * at a time, in the background; failures go to `onError` (the next sweep tries again). Only
   * entries unchanged for SWEEP_IDLE_MS: a command parked by an executor that backs off from its
   * store is touched at each retry, and a sweep every two seconds would use up its attempts.
   */
  sweepOrphans(onError: (store: string, err: unknown) => void): void {
    const shared = this.shared;
    if (!shared) return;
    void shared.ledger
      .unfinished(undefined, SWEEP_IDLE_MS)
      .then((entries) => {
        for (const store of new Set(entries.map((e) => (e.command as AnyCommand).store))) {
          if (this.sweeping.has(store)) continue;
          this.sweeping.add(store);
          void this.inLane(store, async () => undefined)
            .catch((err: unknown) => onError(store, err))
            .finally(() => this.sweeping.delete(store));
        }
      })
      .catch((err: unknown) => onError('*', err));
  }

  /** Whether `item` was finished already: by an earlier attempt here, as an orphan, or (at its own position) by anyone. */
  private async done(item: LaneItem): Promise<boolean> {
    if (this.ran.has(item.at)) return true;
    if (this.resumed.delete(item.cmd.commandId)) return true;
    if (!item.ownPosition || !this.shared) return false;
    const entry = await this.shared.ledger.get(item.cmd.commandId);
    return entry !== null && isTerminal(entry.status);
  }

  /**
   * Runs a batch of commands, each store's in its lane. Every lane ends before this does; then
   * the first failure is thrown, and a retry of the batch skips the commands that already ran.
   */
  async runBatch(batch: readonly LaneItem[]): Promise<void> {
    const byStore = new Map<string, LaneItem[]>();
    for (const b of batch) byStore.set(b.cmd.store, [...(byStore.get(b.cmd.store) ?? []), b]);
    const lanes = await Promise.allSettled(
      [...byStore].map(([store, items]) =>
        this.inLane(store, async () => {
          for (const item of items) {
            if (!(await this.done(item))) await this.engine.run(item.cmd);
            this.ran.add(item.at);
          }
        }),
      ),
    );
    const failed = lanes.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    this.ran.clear();
  }
}
