// The approval queue (approve or deny what waits), and the recent commands with their status and
// progress, where a running one can be stopped. Changes arrive as live events.
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { ErrorNote, fmtDateTime, html, Loaded, useApi, useLiveTick, useWho } from '../components.js';

const canOperate = (who) => who && (who.role === 'operator' || who.role === 'admin');

function useAction(after) {
  const [busy, setBusy] = useState(null);
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const run = async (key, path, message) => {
    setBusy(key);
    setError(null);
    try {
      await api(path, { method: 'POST', body: {} });
      setDone(message);
      after();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };
  return { busy, error, done, run };
}

export function ApprovalsPage() {
  const who = useWho();
  const tick = useLiveTick('command', 'audit');
  const queue = useApi('/api/commands?waiting=true&limit=200', [tick]);
  const recent = useApi('/api/commands?limit=25', [tick]);
  const act = useAction(() => {
    queue.reload();
    recent.reload();
  });
  const operator = canOperate(who);
  return html`<section aria-labelledby="h-approvals">
    <h1 id="h-approvals">Approvals</h1>
    <p class="lead">Commands that wait for an operator (stores in manual approval mode, large moves). The executor acts on a verdict within seconds.</p>
    ${operator ? null : html`<p class="note">You are signed in as a viewer: approving, denying and stopping need the operator role.</p>`}
    <div aria-live="polite" class="sr-status">${act.done ?? ''}</div>
    <${ErrorNote} error=${act.error} />
    <${Loaded} state=${queue} isEmpty=${(d) => d.commands.length === 0} empty="Nothing waits for approval.">
      <div class="scroll"><table class="grid" id="approval-queue"><caption>Waiting for approval (oldest first)</caption>
        <thead><tr><th scope="col">command</th><th scope="col">action</th><th scope="col">target</th><th scope="col">why</th><th scope="col">since</th><th scope="col"><span class="sr-only">verdict</span></th></tr></thead>
        <tbody>${(queue.data?.commands ?? []).map(
          (c) => html`<tr data-command=${c.commandId}>
            <td><code>${c.commandId}</code></td><td>${c.action}</td><td>${c.store}:${c.target}</td><td>${c.explanation ?? ''}</td>
            <td>${fmtDateTime(c.createdAt)}</td>
            <td class="actions">
              <button class="approve" disabled=${!operator || act.busy !== null} aria-label=${`Approve ${c.commandId}`}
                onClick=${() => act.run(c.commandId, `/api/commands/${encodeURIComponent(c.commandId)}/approve`, `Approved ${c.commandId}`)}>Approve</button>
              <button class="deny" disabled=${!operator || act.busy !== null} aria-label=${`Deny ${c.commandId}`}
                onClick=${() => act.run(c.commandId, `/api/commands/${encodeURIComponent(c.commandId)}/deny`, `Denied ${c.commandId}`)}>Deny</button>
            </td></tr>`,
        )}</tbody></table></div>
    <//>
    <h2>Recent commands</h2>
    <${Loaded} state=${recent} isEmpty=${(d) => d.commands.length === 0} empty="The executor's ledger is empty: no command has arrived yet.">
      <div class="scroll"><table class="grid" id="recent-commands"><caption>The last 25 commands in the executor's ledger</caption>
        <thead><tr><th scope="col">command</th><th scope="col">action</th><th scope="col">target</th><th scope="col">status</th><th scope="col">progress / outcome</th><th scope="col">updated</th><th scope="col"><span class="sr-only">stop</span></th></tr></thead>
        <tbody>${(recent.data?.commands ?? []).map(
          (c) => html`<tr data-command=${c.commandId}>
            <td><code>${c.commandId}</code></td><td>${c.action}</td><td>${c.store}:${c.target}</td>
            <td><span class=${`status s-${c.status.toLowerCase()}`}>${c.status}</span>${c.approval ? html` <small>(${c.approval}${c.approvedBy ? ` by ${c.approvedBy}` : ''})</small>` : null}</td>
            <td>${c.outcome ? (c.outcome.reason ?? c.outcome.status) : (c.progress.phase ?? (c.waitingForApproval ? 'waiting for approval' : '–'))}</td>
            <td>${fmtDateTime(c.updatedAt)}</td>
            <td>${
              c.status === 'RUNNING' && !c.stopRequestedBy
                ? html`<button class="stop" disabled=${!operator || act.busy !== null} aria-label=${`Stop ${c.commandId}`}
                    onClick=${() => act.run(c.commandId, `/api/commands/${encodeURIComponent(c.commandId)}/stop`, `Stop requested for ${c.commandId}`)}>Stop</button>`
                : c.stopRequestedBy
                  ? html`<small>stop asked by ${c.stopRequestedBy}</small>`
                  : null
            }</td></tr>`,
        )}</tbody></table></div>
    <//>
  </section>`;
}
