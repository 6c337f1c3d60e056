/**
 * Commands this decide stage issued that its planning view does not list yet. The catalog
 * learns of a command only after its own stage has read it from the command topic; a round in
 * between would plan the same change again, and the executor would refuse the copy ("already
 * running", "already on node3"). Each is remembered until the view lists it or `issuedUntil`
 * passes, and shown to the planning state as ISSUED, exactly as the catalog would show it; once
 * its final result is seen, with that status, cooling its target down. With Neo4j down they are
 * all the routing-map fallback knows of its own commands: without them it planned a move again
 * while the first was still running (the fault suite's Neo4j row, decision 0125).
 */
import { commandPlace } from '../../../schemas/commandPlace.js';
import type { AnyCommand, CommandResult } from '../../../schemas/types.js';
import { UNSUCCESSFUL } from '../dependencies.js';
import { type CatalogPlacement, COMMAND_HISTORY_MS, issuedUntil, PG_STORE } from './state.js';

type CatalogCommand = CatalogPlacement['commands'][number];

export class IssuedCommands {
  private readonly pending = new Map<string, AnyCommand>();
  /** Final results seen on shardcast.results for remembered commands (the view may not list them yet). */
  private readonly outcomes = new Map<string, { status: string; ts: number }>();

  /** Remembers the store's commands among those just issued (or held for their dependencies). */
  remember(commands: readonly AnyCommand[]): void {
    for (const c of commands) if (c.store === PG_STORE) this.pending.set(c.commandId, c);
  }

  /** A command's final result: shown with it (cooling its target down) until the view lists it. */
  observeResult(r: Pick<CommandResult, 'commandId' | 'status' | 'ts'>): void {
    if (this.pending.has(r.commandId) && (r.status === 'SUCCEEDED' || UNSUCCESSFUL.has(r.status)))
      this.outcomes.set(r.commandId, { status: r.status, ts: r.ts });
  }

  /** Remembered and not yet listed by the view. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * The view's commands and, after them, those issued here that it does not list, as ISSUED.
   * Forgets what the view lists and what is past `issuedUntil` at `now`.
   */
  addTo(listed: readonly CatalogCommand[], now: number): CatalogCommand[] {
    const known = new Set(listed.map((c) => c.id));
    const out = [...listed];
    for (const [id, c] of this.pending) {
      const outcome = this.outcomes.get(id);
      // a finished command cools its target down as long as the catalog would show it (its history window)
      if (known.has(id) || (outcome ? outcome.ts + COMMAND_HISTORY_MS <= now : issuedUntil(c) <= now)) {
        this.pending.delete(id);
        this.outcomes.delete(id);
        continue;
      }
      out.push({
        id,
        action: c.action,
        ...commandPlace(c),
        status: outcome?.status ?? 'ISSUED',
        issuedAt: c.issuedAt,
        resultTs: outcome?.ts ?? null,
        deadline: c.deadline,
      });
    }
    return out;
  }
}
