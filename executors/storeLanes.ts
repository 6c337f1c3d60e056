/**
 * The execute stage's order of work: one lane per store. A store's commands run one after
 * another in the order they came (a move waits for the scale-out before it); different stores'
 * run at the same time, so a long PostgreSQL move does not hold a Kafka or ClickHouse command
 * back. Lanes are async-lock's keyed locks.
 */
import AsyncLock from 'async-lock';
import type { AnyCommand } from '../schemas/types.js';
import type { ExecutorEngine } from './engine.js';

export class StoreLanes {
  private readonly lock = new AsyncLock({ maxPending: Number.POSITIVE_INFINITY });
  /** Commands run in an attempt at a batch that failed later: not run again when it comes back. */
  private readonly ran = new Set<string>();

  constructor(private readonly engine: ExecutorEngine) {}

  /** Runs `run` in `store`'s lane, after what that lane already holds. */
  inLane<T>(store: string, run: () => Promise<T>): Promise<T> {
    return this.lock.acquire(store, run);
  }

  /**
   * Runs a batch of commands (`at`: where each came from), each store's in its lane. Every lane
   * ends before this does; then the first failure is thrown, and a retry of the batch skips
   * the commands that already ran.
   */
  async runBatch(batch: readonly { at: string; cmd: AnyCommand }[]): Promise<void> {
    const byStore = new Map<string, { at: string; cmd: AnyCommand }[]>();
    for (const b of batch) byStore.set(b.cmd.store, [...(byStore.get(b.cmd.store) ?? []), b]);
    const lanes = await Promise.allSettled(
      [...byStore].map(([store, items]) =>
        this.inLane(store, async () => {
          for (const { at, cmd } of items) {
            if (this.ran.has(at)) continue;
            await this.engine.run(cmd);
            this.ran.add(at);
          }
        }),
      ),
    );
    const failed = lanes.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    this.ran.clear();
  }
}
