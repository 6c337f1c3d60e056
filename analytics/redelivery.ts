/**
 * The sink's guard against storing a redelivered record twice (see positions.ts for why). After
 * each (re)assignment, the first batch of a topic-partition waits for one lookup of the positions
 * the tables already hold past the group's committed offset; records at those positions are
 * dropped, everything else passes. The lookup is injected, so the rule is tested without servers.
 */
import type { SourcePosition } from '../schemas/envelope.js';

/** Positions (`partition:offset`) of `topic` already stored, for the given partitions. */
export type StoredLookup = (topic: string, partitions: number[]) => Promise<Set<string>>;

export class RedeliveryFilter {
  /** Per topic-partition: the stored positions learned since the last assignment. */
  private known = new Map<string, Promise<Set<string>>>();
  /** Records dropped because their table already held them. */
  skipped = 0;

  constructor(private readonly lookup: StoredLookup) {}

  /** A new assignment: partitions may have been written by another member meanwhile, so ask again. */
  reassigned(): void {
    this.known.clear();
  }

  /**
   * Records just stored: a batch handed over again in this assignment (the stage re-handles a
   * batch one record at a time to find a bad one) skips them as well.
   */
  async stored(records: readonly SourcePosition[]): Promise<void> {
    const sets = new Map<string, Set<string> | undefined>();
    for (const m of records) {
      const key = `${m.topic}:${m.partition}`;
      if (!sets.has(key)) sets.set(key, await this.known.get(key));
      sets.get(key)?.add(`${m.partition}:${m.offset}`);
    }
  }

  /** The records of `batch` not yet stored, in their order. */
  async keep<T extends SourcePosition>(batch: readonly T[]): Promise<T[]> {
    const unknown = new Map<string, Set<number>>();
    for (const m of batch) {
      if (this.known.has(`${m.topic}:${m.partition}`)) continue;
      const parts = unknown.get(m.topic) ?? new Set<number>();
      parts.add(m.partition);
      unknown.set(m.topic, parts);
    }
    for (const [topic, parts] of unknown) {
      const found = this.lookup(topic, [...parts]);
      for (const p of parts) this.known.set(`${topic}:${p}`, found);
      // A failed lookup is forgotten, so the stage's retry of the batch asks again.
      found.catch(() => {
        for (const p of parts) if (this.known.get(`${topic}:${p}`) === found) this.known.delete(`${topic}:${p}`);
      });
    }
    // this batch's lookups, taken before the first await: a reassignment meanwhile clears `known`
    const lookups = new Map<string, Promise<Set<string>>>();
    for (const m of batch) lookups.set(`${m.topic}:${m.partition}`, this.known.get(`${m.topic}:${m.partition}`)!);
    const kept: T[] = [];
    for (const m of batch) {
      const stored = await lookups.get(`${m.topic}:${m.partition}`)!;
      if (stored.has(`${m.partition}:${m.offset}`)) this.skipped++;
      else kept.push(m);
    }
    return kept;
  }
}
