/** A ledger in memory for unit tests of the executor engine: its bookkeeping, no store behind it. */
import type { CommandLedger } from '../../executors/ledger.js';

export function memoryLedger(): CommandLedger {
  const rows = new Map<string, { commandId: string; status: string; state: Record<string, string>; attempts: number; approval: null }>();
  return {
    get: async (id: string) => rows.get(id) ?? null,
    claim: async (id: string) => {
      const prior = rows.get(id) ?? null;
      rows.set(id, {
        commandId: id,
        status: prior?.status ?? 'ACCEPTED',
        state: prior?.state ?? {},
        attempts: (prior?.attempts ?? 0) + 1,
        approval: null,
      });
      return prior ? rows.get(id)! : null;
    },
    setStatus: async (id: string, status: string, state?: Record<string, string>) => {
      const r = rows.get(id)!;
      rows.set(id, { ...r, status, state: state ?? r.state });
    },
  } as unknown as CommandLedger;
}
