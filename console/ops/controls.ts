/**
 * Operators' standing orders to the decide stage (stores/postgres/controls.ts): pause and resume
 * deciding, and the approval mode per store. The decide stage reads them at its next round.
 */
import type pg from 'pg';
import {
  type ApprovalMode,
  type Controls,
  DEFAULT_SCOPE,
  readControls,
  setApprovalMode,
  setDecidePaused,
} from '../../stores/postgres/controls.js';
import type { Actor, AuditLog } from './audit.js';
import { ParameterError } from './errors.js';

const STORE = /^[A-Za-z0-9_.-]{1,128}$/;
const SCOPE = /^[A-Za-z0-9._-]{1,100}$/;

function checkScope(scope: string): string {
  if (!SCOPE.test(scope)) throw new ParameterError('scope', `${JSON.stringify(scope)} is not a consumer group prefix`);
  return scope;
}

export interface ControlsView {
  scope: string;
  deciding: 'running' | 'paused';
  pausedBy: string | null;
  pausedAt: string | null;
  approval: { store: string; mode: ApprovalMode; setBy: string; setAt: string }[];
}

export function controlsView(c: Controls, scope: string): ControlsView {
  return {
    scope,
    deciding: c.paused ? 'paused' : 'running',
    pausedBy: c.paused?.by ?? null,
    pausedAt: c.paused ? new Date(c.paused.at).toISOString() : null,
    approval: Object.entries(c.approval)
      .map(([store, a]) => ({ store, mode: a.mode, setBy: a.by, setAt: new Date(a.at).toISOString() }))
      .sort((a, b) => a.store.localeCompare(b.store)),
  };
}

export class ControlService {
  constructor(
    private readonly pool: pg.Pool,
    private readonly audit: () => Promise<AuditLog>,
  ) {}

  async get(scope: string = DEFAULT_SCOPE): Promise<ControlsView> {
    return controlsView(await readControls(this.pool, checkScope(scope)), scope);
  }

  /** Pauses or resumes the decide stages of one scope (the `run --group` prefix they run with). */
  async setPaused(paused: boolean, actor: Actor, scope: string = DEFAULT_SCOPE): Promise<ControlsView> {
    checkScope(scope);
    const audit = await this.audit();
    await setDecidePaused(this.pool, scope, paused, actor.name);
    await audit.record({
      actor,
      action: paused ? 'decide.pause' : 'decide.resume',
      target: `${scope}-decide`,
      outcome: paused ? 'paused' : 'running',
    });
    return this.get(scope);
  }

  async setApproval(store: string, mode: ApprovalMode, actor: Actor, scope: string = DEFAULT_SCOPE): Promise<ControlsView> {
    checkScope(scope);
    if (!STORE.test(store)) throw new ParameterError('store', `${JSON.stringify(store)} is not a store id`);
    if (mode !== 'auto' && mode !== 'manual') throw new ParameterError('mode', 'must be auto or manual');
    const audit = await this.audit();
    await setApprovalMode(this.pool, store, mode, actor.name);
    await audit.record({ actor, action: 'approval.mode', target: store, outcome: mode });
    return this.get(scope);
  }
}
