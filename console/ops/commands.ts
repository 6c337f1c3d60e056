/**
 * Commands as the executor's ledger records them: list, look up, and the operator's verdict on a
 * command waiting for approval. The CLI (`shardcast approve`) and the HTTP API both call this;
 * the running executor acts on a verdict within a few seconds.
 */
import { type CommandLedger, isTerminal, type LedgerRecord } from '../../executors/ledger.js';
import type { CommandStatus } from '../../schemas/types.js';
import type { Actor, AuditLog } from './audit.js';
import { ConflictError, NotFoundError, ParameterError } from './errors.js';

export const COMMAND_STATUSES = ['ACCEPTED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'ROLLED_BACK', 'REJECTED'] as const;
export const COMMAND_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export interface CommandView {
  commandId: string;
  action: string;
  store: string | null;
  /** table/partition (or node) the command acts on. */
  target: string;
  status: CommandStatus;
  /** pending | approved | denied, or null when the command needs no approval. */
  approval: string | null;
  approvedBy: string | null;
  approvedAt: string | null;
  waitingForApproval: boolean;
  /** Who asked the executor to stop it (null: nobody). */
  stopRequestedBy: string | null;
  /** The last checkpoint the adapter wrote (phase and resume state) and how often it was tried. */
  progress: { phase: string | null; attempts: number; checkpoint: Record<string, string> };
  /** For a finished command: its final status and why (null while it is not finished). */
  outcome: { status: CommandStatus; reason: string | null } | null;
  explanation: string | null;
  createdAt: string;
  updatedAt: string;
}

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

/** A ledger row as operators read it (pure). */
export function commandView(r: LedgerRecord): CommandView {
  const c = (r.command ?? {}) as { store?: string; table?: string; partition?: string | null; node?: string; explanation?: string };
  const state = r.state ?? {};
  return {
    commandId: r.commandId,
    action: r.action,
    store: c.store ?? null,
    target: [c.table, c.partition ?? c.node].filter(Boolean).join('/'),
    status: r.status,
    approval: r.approval,
    approvedBy: r.approvedBy,
    approvedAt: iso(r.approvedAt),
    waitingForApproval: r.approval === 'pending' && r.status === 'ACCEPTED',
    stopRequestedBy: r.stopRequestedBy,
    progress: { phase: state.phase ?? null, attempts: r.attempts, checkpoint: state },
    outcome: isTerminal(r.status) ? { status: r.status, reason: state.reason ?? null } : null,
    explanation: c.explanation ?? null,
    createdAt: iso(r.createdAt)!,
    updatedAt: iso(r.updatedAt)!,
  };
}

export function checkCommandId(id: string): string {
  if (!COMMAND_ID_PATTERN.test(id)) throw new ParameterError('id', `${JSON.stringify(id)} is not a command id`);
  return id;
}

export interface CommandFilter {
  status?: readonly CommandStatus[];
  /** Only commands waiting for an operator. */
  waiting?: boolean;
  limit?: number;
}

export type Verdict = 'approved' | 'denied';

export class CommandService {
  constructor(
    private readonly ledger: CommandLedger,
    /** Opened on the first write, before it: an audit trail that cannot be opened refuses the write. */
    private readonly audit: () => Promise<AuditLog>,
  ) {}

  /** Newest first; `waiting` lists the approval queue oldest first, as it is worked through. */
  async list(f: CommandFilter = {}): Promise<CommandView[]> {
    return (await this.ledger.entries({ statuses: f.status, waiting: f.waiting, limit: f.limit ?? 100 })).map(commandView);
  }

  async get(id: string): Promise<CommandView> {
    const [r] = await this.ledger.entries({ commandId: checkCommandId(id), limit: 1 });
    if (!r) throw new NotFoundError(`no command ${id} in the executor's ledger`);
    return commandView(r);
  }

  /**
   * Records an operator's verdict on a command waiting for approval. Unknown ids and commands
   * not waiting are refused and change nothing; a verdict is audited (who, what, when).
   */
  async decide(id: string, verdict: Verdict, actor: Actor): Promise<CommandView> {
    checkCommandId(id);
    const audit = await this.audit();
    const ok = await this.ledger.decideApproval(id, verdict, actor.name);
    if (!ok) {
      const e = await this.ledger.get(id);
      if (e === null) throw new NotFoundError(`no command ${id} in the executor's ledger`);
      throw new ConflictError(
        `command ${id} is not waiting for approval (status ${e.status}${e.approval ? `, approval ${e.approval}` : ''})`,
      );
    }
    await audit.record({ actor, action: verdict === 'approved' ? 'command.approve' : 'command.deny', target: id, outcome: verdict });
    return this.get(id);
  }

  /**
   * Asks the executor to stop a command it is carrying out: the adapter rolls back at its next
   * safe point and the command ends ROLLED_BACK. A command waiting for approval is denied
   * instead; one not in flight is refused and nothing changes.
   */
  async stop(id: string, actor: Actor): Promise<CommandView> {
    checkCommandId(id);
    const audit = await this.audit();
    if (!(await this.ledger.requestStop(id, actor.name))) {
      const e = await this.ledger.get(id);
      if (e === null) throw new NotFoundError(`no command ${id} in the executor's ledger`);
      if (e.approval === 'pending' && e.status === 'ACCEPTED') throw new ConflictError(`command ${id} has not started: deny it instead`);
      throw new ConflictError(`command ${id} is not in flight (status ${e.status})`);
    }
    await audit.record({ actor, action: 'command.stop', target: id, outcome: 'stop requested' });
    return this.get(id);
  }
}
