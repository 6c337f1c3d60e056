/**
 * Commands this decide stage issued that its planning view does not list yet. The catalog
 * learns of a command only after its own stage has read it from the command topic; a round in
 * between would plan the same change again, and the executor would refuse the copy ("already
 * running", "already on node3"). Each is remembered until the view lists it or its deadline
 * passes, and shown to the planning state as ISSUED, exactly as the catalog would show it.
 */
import { commandPlace } from '../../../schemas/commandPlace.js';
import type { AnyCommand } from '../../../schemas/types.js';
import { type CatalogPlacement, PG_STORE } from './state.js';

type CatalogCommand = CatalogPlacement['commands'][number];

export class IssuedCommands {
  private readonly pending = new Map<string, AnyCommand>();

  /** Remembers the store's commands among those just issued (or held for their dependencies). */
  remember(commands: readonly AnyCommand[]): void {
    for (const c of commands) if (c.store === PG_STORE) this.pending.set(c.commandId, c);
  }

  /** Remembered and not yet listed by the view. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * The view's commands and, after them, those issued here that it does not list, as ISSUED.
   * Forgets what the view lists and what is past its deadline at `now`.
   */
  addTo(listed: readonly CatalogCommand[], now: number): CatalogCommand[] {
    const known = new Set(listed.map((c) => c.id));
    const out = [...listed];
    for (const [id, c] of this.pending) {
      if (known.has(id) || c.deadline <= now) {
        this.pending.delete(id);
        continue;
      }
      out.push({ id, action: c.action, ...commandPlace(c), status: 'ISSUED', issuedAt: c.issuedAt, resultTs: null, deadline: c.deadline });
    }
    return out;
  }
}
