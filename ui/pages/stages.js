// The overview: each pipeline stage's state (running, lag, rate, last error) and the operators'
// controls (pause and resume deciding, approval mode per store).
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { ErrorNote, fmtDateTime, fmtNum, html, Loaded, useApi, useLiveTick, useWho } from '../components.js';

export function StagesPage() {
  const who = useWho();
  const state = useApi('/api/stages', [], 10_000);
  const tick = useLiveTick('controls', 'audit');
  const controls = useApi('/api/controls', [tick]);
  const [error, setError] = useState(null);
  const [store, setStore] = useState('pg-shards');
  const post = async (path, body = {}) => {
    setError(null);
    try {
      await api(path, { method: 'POST', body });
      controls.reload();
    } catch (err) {
      setError(err);
    }
  };
  const c = controls.data;
  return html`<section aria-labelledby="h-stages">
    <h1 id="h-stages">Stages</h1>
    <p class="lead">The pipeline's stages as Kafka and their metrics see them (consumer groups with the prefix <code>shardcast</code>).</p>
    <${Loaded} state=${state}>
      ${state.data && !state.data.metricsReachable ? html`<p class="note">No process serves metrics at ${state.data.metricsUrl}: rates and health are unknown.</p>` : null}
      <div class="scroll"><table class="grid" id="stages"><caption>Stages</caption>
        <thead><tr><th scope="col">stage</th><th scope="col">state</th><th scope="col">consumer lag</th><th scope="col">messages/s</th><th scope="col">health</th><th scope="col">last dead letter</th></tr></thead>
        <tbody>${(state.data?.stages ?? []).map(
          (
            s,
          ) => html`<tr><th scope="row">${s.name}</th><td><span class=${`status s-${s.state}`}>${s.state}</span>${s.members ? html` <small>${s.members} member(s)</small>` : null}</td>
            <td>${s.lag === null ? '–' : fmtNum(s.lag, 0)}</td><td>${fmtNum(s.consumedPerSecond)}</td><td>${s.health ?? '–'}</td>
            <td>${s.lastError ? html`<small>${fmtDateTime(s.lastError.at)}: ${s.lastError.reason}</small>` : '–'}</td></tr>`,
        )}</tbody></table></div>
    <//>
    <h2>Controls</h2>
    <${ErrorNote} error=${error} />
    <${Loaded} state=${controls}>
      ${
        c
          ? html`<div class="controls">
        <p>Deciding is <b id="deciding">${c.deciding}</b>${c.pausedBy ? ` (paused by ${c.pausedBy} at ${fmtDateTime(c.pausedAt)})` : ''}.
          ${
            c.deciding === 'running'
              ? html`<button disabled=${who?.role === 'viewer'} onClick=${() => post('/api/controls/decide/pause')}>Pause deciding</button>`
              : html`<button disabled=${who?.role === 'viewer'} onClick=${() => post('/api/controls/decide/resume')}>Resume deciding</button>`
          }</p>
        <table class="grid"><caption>Approval modes set by operators (other stores keep their configured mode)</caption>
          <thead><tr><th scope="col">store</th><th scope="col">mode</th><th scope="col">set by</th></tr></thead>
          <tbody>${c.approval.length === 0 ? html`<tr><td colspan="3">none set</td></tr>` : c.approval.map((a) => html`<tr><th scope="row">${a.store}</th><td>${a.mode}</td><td>${a.setBy} · ${fmtDateTime(a.setAt)}</td></tr>`)}</tbody></table>
        <form class="picker" onSubmit=${(e) => e.preventDefault()}>
          <label for="mode-store">Store</label><input id="mode-store" value=${store} onInput=${(e) => setStore(e.currentTarget.value)} />
          <button disabled=${who?.role !== 'admin'} onClick=${() => post(`/api/controls/approval/${encodeURIComponent(store)}`, { mode: 'manual' })}>Manual approval</button>
          <button disabled=${who?.role !== 'admin'} onClick=${() => post(`/api/controls/approval/${encodeURIComponent(store)}`, { mode: 'auto' })}>Automatic</button>
          ${who?.role !== 'admin' ? html`<small>approval modes need the admin role</small>` : null}
        </form></div>`
          : null
      }
    <//>
  </section>`;
}
