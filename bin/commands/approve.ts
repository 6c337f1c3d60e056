/**
 * `shardcast approve [<command-id>] [--deny] [--by NAME] [--json]`: the operator's side of
 * approval mode, through the operations layer (console/ops/commands.ts) the HTTP API also calls.
 * Without an id it lists the commands waiting for approval; with one it records the verdict in
 * the executor's ledger (audited to the log and `shardcast.audit`), and the running executor
 * (`shardcast run execute`) runs an approved command or reports a denied one as REJECTED within
 * a few seconds. It publishes no command, so it signs nothing: what it approves was verified when
 * it reached the executor, and who may approve is who may write the ledger (or holds an operator
 * token for the API).
 */
import os from 'node:os';
import { openOperations } from '../../console/ops/operations.js';
import { loadConfig } from '../../lib/config.js';
import { UsageError } from '../../lib/errors.js';
import { printTable } from '../../lib/table.js';

export interface ApproveOptions {
  deny?: boolean;
  by?: string;
  json?: boolean;
}

export async function approveCommand(commandId: string | undefined, o: ApproveOptions): Promise<void> {
  if (commandId === undefined && o.deny) throw new UsageError('--deny needs a command id');
  const ops = openOperations(loadConfig());
  try {
    const commands = await ops.commands();
    if (commandId === undefined) {
      const rows = (await commands.list({ waiting: true, limit: 10_000 })).map((c) => ({
        commandId: c.commandId,
        action: c.action,
        store: c.store ?? '',
        target: c.target,
        waitingSince: c.createdAt,
        explanation: c.explanation ?? '',
      }));
      if (o.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      else if (rows.length === 0) process.stdout.write('no command is waiting for approval\n');
      else printTable(rows);
      return;
    }
    const verdict = o.deny ? 'denied' : 'approved';
    const by = o.by ?? `${os.userInfo().username}@${os.hostname()}`;
    await commands.decide(commandId, verdict, { name: by, role: 'cli', via: 'cli' });
    if (o.json) process.stdout.write(`${JSON.stringify({ commandId, verdict, by })}\n`);
    else
      process.stdout.write(
        `${commandId}: ${verdict} by ${by}; the executor ${verdict === 'approved' ? 'runs it' : 'reports it REJECTED'} within a few seconds\n`,
      );
  } finally {
    await ops.close();
  }
}
