/**
 * Physical designs this stage commanded that the designs registry does not hold yet. A design
 * is recorded only once the executor built it, which may wait for an operator's approval; a round
 * in between would plan it again under another template's name (the demo built the same index
 * three times). Each counts as existing until its command fails or its deadline passes.
 */
import type { AnyCommand, CommandResult } from '../../schemas/types.js';
import type { ExistingDesigns } from './workloadProfile.js';

const FAILED = new Set(['FAILED', 'REJECTED', 'ROLLED_BACK']);

interface Commanded {
  table: string;
  deadline: number;
  index?: string[];
  precomputed?: { groupBy: string; value: string | null };
  derived?: string;
}

export class CommandedDesigns {
  private readonly byId = new Map<string, Commanded>();

  /** Remembers the design commands among those issued. */
  remember(commands: readonly AnyCommand[]): void {
    for (const c of commands) {
      if (c.kind !== 'partition') continue;
      const base = { table: c.table, deadline: c.deadline };
      if (c.action === 'composite_index' && c.params.columns) this.byId.set(c.commandId, { ...base, index: c.params.columns.split(',') });
      else if (c.action === 'precompute' && c.params.groupBy)
        this.byId.set(c.commandId, { ...base, precomputed: { groupBy: c.params.groupBy, value: c.params.value ?? null } });
      else if (c.action === 'derived_attribute' && c.params.expression)
        this.byId.set(c.commandId, { ...base, derived: c.params.expression });
    }
  }

  /** A command that did not succeed leaves nothing built: its design may be planned again. */
  observeResult(r: CommandResult): void {
    if (FAILED.has(r.status)) this.byId.delete(r.commandId);
  }

  /** The registry's designs with the commanded ones added; forgets those past their deadline at `now`. */
  addTo(designs: ReadonlyMap<string, ExistingDesigns>, now: number): Map<string, ExistingDesigns> {
    const out = new Map(
      [...designs].map(([t, d]) => [t, { indexes: [...d.indexes], precomputed: [...d.precomputed], derived: [...(d.derived ?? [])] }]),
    );
    for (const [id, c] of this.byId) {
      if (c.deadline <= now) {
        this.byId.delete(id);
        continue;
      }
      const d = out.get(c.table) ?? { indexes: [], precomputed: [], derived: [] };
      if (c.index) d.indexes.push(c.index);
      if (c.precomputed) d.precomputed.push(c.precomputed);
      if (c.derived) d.derived.push(c.derived);
      out.set(c.table, d);
    }
    return out;
  }
}
