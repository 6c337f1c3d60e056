/**
 * The console's live feed (served as Server-Sent Events at /api/events): commands whose ledger
 * row changed (status, progress, approval), the operators' controls when they change, and every
 * audited write. While anyone listens, the ledger and the controls are polled every two seconds;
 * with no listener nothing is polled.
 */
import type { CommandLedger } from '../../executors/ledger.js';
import type { AuditEvent } from './audit.js';
import { type CommandView, commandView } from './commands.js';
import type { ControlsView } from './controls.js';

export type ConsoleEvent =
  | { type: 'command'; data: CommandView }
  | { type: 'controls'; data: ControlsView }
  | { type: 'audit'; data: AuditEvent };

export const POLL_MS = 2_000;

export class EventFeed {
  private readonly listeners = new Set<(e: ConsoleEvent) => void>();
  private timer: NodeJS.Timeout | null = null;
  private since: Date | null = null;
  private controls = '';
  private polling: Promise<void> = Promise.resolve();

  constructor(
    private readonly ledger: () => Promise<CommandLedger>,
    private readonly readControls: () => Promise<ControlsView>,
    private readonly onError: (err: unknown) => void,
    private readonly pollMs = POLL_MS,
  ) {}

  /** Calls `fn` with every event from now on; returns the unsubscribe. */
  subscribe(fn: (e: ConsoleEvent) => void): () => void {
    this.listeners.add(fn);
    if (!this.timer) {
      this.timer = setInterval(() => {
        this.polling = this.polling.then(() => this.poll()).catch(this.onError);
      }, this.pollMs);
      this.timer.unref();
    }
    return () => {
      this.listeners.delete(fn);
      if (this.listeners.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
      }
    };
  }

  publish(e: ConsoleEvent): void {
    for (const fn of this.listeners) fn(e);
  }

  private async poll(): Promise<void> {
    const ledger = await this.ledger();
    const first = this.since === null;
    const changed = await ledger.changedSince(this.since);
    for (const r of changed) {
      if (this.since === null || r.updatedAt > this.since) this.since = r.updatedAt;
      if (!first) this.publish({ type: 'command', data: commandView(r) });
    }
    if (first && this.since === null) this.since = new Date(0); // an empty ledger: everything from now on is news
    const c = await this.readControls();
    const text = JSON.stringify(c);
    if (this.controls && text !== this.controls) this.publish({ type: 'controls', data: c });
    this.controls = text;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.listeners.clear();
  }
}
