/**
 * The demo's stand-in for an operator at the approval queue: it approves the run's own waiting
 * commands through the operations layer (audited, as `shardcast approve` is), and says so.
 */
import type { Operations } from '../console/ops/operations.js';
import type { DemoReport } from './report.js';

/**
 * Approves, as an operator would with `shardcast approve <id>`, each command of this run that
 * waits for approval, polling the executor's ledger through the operations layer.
 */
export function approveAsOperator(
  ops: Operations,
  decisions: DemoReport['decisions'],
  say: (s: string) => void,
): { stop(): Promise<void> } {
  const actor = { name: 'demo-operator', role: 'operator', via: 'cli' as const };
  let busy: Promise<void> = Promise.resolve();
  const poll = async () => {
    const service = await ops.commands();
    const mine = new Set(decisions.map((d) => d.commandId));
    for (const c of await service.list({ waiting: true, limit: 50 })) {
      if (!mine.has(c.commandId)) continue;
      await service.decide(c.commandId, 'approved', actor);
      say(`approved ${c.commandId} (${c.action} on ${c.target}) as an operator would: shardcast approve ${c.commandId}`);
    }
  };
  const timer = setInterval(() => {
    busy = busy.then(poll).catch((err) => say(`approving waiting commands failed: ${(err as Error).message}`));
  }, 2_000);
  return {
    async stop() {
      clearInterval(timer);
      await busy;
    },
  };
}
