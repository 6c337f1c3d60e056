/**
 * `shardcast approve [<command-id>] [--deny] [--by NAME] [--json]`: the operator's side of
 * approval mode. Without an id it lists the commands waiting for approval; with one it records
 * the verdict in the executor's ledger, and the running executor (`shardcast run execute`) runs
 * an approved command or reports a denied one as REJECTED within a few seconds. It publishes no
 * command, so it signs nothing: what it approves was verified when it reached the executor, and
 * the verdict goes to the ledger in PostgreSQL: who may approve is who may write that table.
 */
import os from 'node:os';
import { loadConfig } from '../../lib/config.js';
import { UsageError } from '../../lib/errors.js';
import { CommandLedger } from '../../executors/ledger.js';
import { printTable } from '../../lib/table.js';

export interface ApproveOptions {
  deny?: boolean;
  by?: string;
  json?: boolean;
}

export async function approveCommand(commandId: string | undefined, o: ApproveOptions): Promise<void> {
  const cfg = loadConfig();
  const ledger = await CommandLedger.open(cfg.pgNodes[0]!);
  try {
    if (commandId === undefined) {
      if (o.deny) throw new UsageError('--deny needs a command id');
      const pending = await ledger.pendingApprovals();
      const rows = pending.map((p) => {
        const c = p.command as { store?: string; table?: string; partition?: string | null; explanation?: string };
        return {
          commandId: p.commandId,
          action: p.action,
          store: c.store ?? '',
          target: [c.table, c.partition].filter(Boolean).join('/'),
          waitingSince: p.createdAt.toISOString(),
          explanation: c.explanation ?? '',
        };
      });
      if (o.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      else if (rows.length === 0) process.stdout.write('no command is waiting for approval\n');
      else printTable(rows);
      return;
    }
    if (!/^[A-Za-z0-9._:-]{1,128}$/.test(commandId)) throw new UsageError(`${JSON.stringify(commandId)} is not a command id`);
    const verdict = o.deny ? 'denied' : 'approved';
    const by = o.by ?? `${os.userInfo().username}@${os.hostname()}`;
    const ok = await ledger.decideApproval(commandId, verdict, by);
    if (!ok) {
      const e = await ledger.get(commandId);
      throw new UsageError(
        e === null
          ? `no command ${commandId} in the executor's ledger`
          : `command ${commandId} is not waiting for approval (status ${e.status}${e.approval ? `, approval ${e.approval}` : ''})`,
      );
    }
    if (o.json) process.stdout.write(`${JSON.stringify({ commandId, verdict, by })}\n`);
    else
      process.stdout.write(
        `${commandId}: ${verdict} by ${by}; the executor ${verdict === 'approved' ? 'runs it' : 'reports it REJECTED'} within a few seconds\n`,
      );
  } finally {
    await ledger.close();
  }
}
