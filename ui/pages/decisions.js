// The decision timeline: every command the decide stage issued, newest first, with its evidence
// (current load, forecast peak and interval), the cost model's benefit and cost, and its outcome
// (status, rows copied, verified).
import { fmtDateTime, fmtNum, html, Loaded, useApi, useLiveTick } from '../components.js';

export function DecisionsPage() {
  const tick = useLiveTick('command');
  const state = useApi('/api/analytics/decisions?limit=100', [tick], 15_000);
  return html`<section aria-labelledby="h-decisions">
    <h1 id="h-decisions">Decisions</h1>
    <p class="lead">What was decided, on what evidence, and how it turned out (from ClickHouse; the newest first).</p>
    <${Loaded} state=${state} isEmpty=${(d) => d.rows.length === 0}
      empty=${html`No decisions recorded yet. The decide stage issues commands once forecasts cross its limits; the sink copies them to ClickHouse.`}>
      <ol class="timeline">${(state.data?.rows ?? []).map(
        (r) => html`<li>
          <div class="when">${fmtDateTime(Number(r.issued_at_ms))}</div>
          <div class="what"><b>${r.action}</b> ${r.table_name}${r.partition_id ? `/${r.partition_id}` : ''}
            <span class=${`status s-${String(r.status ?? 'none').toLowerCase()}`}>${r.status || 'no result yet'}</span></div>
          <p>${r.explanation}</p>
          <dl class="facts">
            <dt>load now</dt><dd>${fmtNum(r.current_load)}</dd>
            <dt>forecast peak</dt><dd>${fmtNum(r.forecast_peak)} (${fmtNum(r.forecast_lower)}–${fmtNum(r.forecast_upper)})</dd>
            <dt>benefit / cost</dt><dd>${fmtNum(r.expected_benefit, 2)} / ${fmtNum(r.expected_cost, 2)}</dd>
            <dt>rows copied</dt><dd>${fmtNum(r.rows_copied, 0)}</dd>
            <dt>verified</dt><dd>${r.verified === null || r.verified === undefined ? '–' : Number(r.verified) ? 'yes' : 'no'}</dd>
          </dl>
          ${r.reason ? html`<p class="reason">${r.reason}</p>` : null}
        </li>`,
      )}</ol>
    <//>
  </section>`;
}
