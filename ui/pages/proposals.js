// Proposals: what the decide stage would do now (a dry run of the real engine), with evidence and
// the cost model's scores; an operator can execute one.
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { ErrorNote, fmtNum, fmtTime, html, Loaded, useApi, useWho } from '../components.js';

export function ProposalsPage() {
  const who = useWho();
  const state = useApi('/api/proposals');
  const [error, setError] = useState(null);
  const [sent, setSent] = useState([]);
  const operator = who && who.role !== 'viewer';
  const execute = async (id) => {
    setError(null);
    try {
      await api(`/api/proposals/${encodeURIComponent(id)}/execute`, { method: 'POST', body: {} });
      setSent((s) => [...s, id]);
    } catch (err) {
      setError(err);
    }
  };
  const v = state.data;
  return html`<section aria-labelledby="h-proposals">
    <h1 id="h-proposals">Proposals</h1>
    <p class="lead">What the decide stage would plan from what it knows now. Nothing is sent until you execute a proposal.</p>
    <div class="toolbar"><button onClick=${state.reload} disabled=${state.loading}>${state.loading ? 'Planning…' : 'Plan again'}</button>
      ${v ? html`<span class="note inline">planned ${fmtTime(v.computedAt)} against the ${v.via}${v.paused ? ' · deciding is paused' : ''}${v.strategy ? ` · strategy ${v.strategy}` : ''}</span>` : null}</div>
    <${ErrorNote} error=${error} />
    <${Loaded} state=${state} isEmpty=${(d) => d.proposals.length === 0} empty=${v?.note ?? 'Nothing to propose.'}>
      <div class="scroll"><table class="grid"><caption>Proposed commands</caption>
        <thead><tr><th scope="col">action</th><th scope="col">target</th><th scope="col">evidence</th><th scope="col">benefit / cost</th><th scope="col">approval</th><th scope="col"><span class="sr-only">execute</span></th></tr></thead>
        <tbody>${(v?.proposals ?? []).map(
          (p) => html`<tr><td><b>${p.action}</b><br /><small>${p.explanation}</small></td><td>${p.store}:${p.target}</td>
            <td>now ${fmtNum(p.evidence.currentLoad)} → peak ${fmtNum(p.evidence.forecastPeak)} (${fmtNum(p.evidence.forecastLower)}–${fmtNum(p.evidence.forecastUpper)})${p.evidence.capacity ? ` of ${fmtNum(p.evidence.capacity, 0)}` : ''}${p.evidence.peakAt ? ` at ${fmtTime(p.evidence.peakAt)}` : ''}</td>
            <td>${fmtNum(p.expectedBenefit, 2)} / ${fmtNum(p.expectedCost, 2)}</td><td>${p.requiresApproval ? 'needed' : 'no'}</td>
            <td>${sent.includes(p.commandId) ? 'sent' : html`<button disabled=${!operator} onClick=${() => execute(p.commandId)} aria-label=${`Execute ${p.action} ${p.target}`}>Execute</button>`}</td></tr>`,
        )}</tbody></table></div>
      <h2>Plans scored</h2>
      <table class="grid"><thead><tr><th scope="col">strategy</th><th scope="col">score before</th><th scope="col">score after</th><th scope="col">actions</th><th scope="col">deferred</th></tr></thead>
        <tbody>${(v?.plans ?? []).map((p) => html`<tr><th scope="row">${p.strategy}</th><td>${fmtNum(p.scoreBefore, 2)}</td><td>${fmtNum(p.scoreAfter, 2)}</td><td>${p.actions}</td><td>${p.deferred}</td></tr>`)}</tbody></table>
      <details><summary>The engine's explanations</summary><ul class="plain">${(v?.explanations ?? []).map((e) => html`<li>${e}</li>`)}</ul></details>
    <//>
  </section>`;
}
