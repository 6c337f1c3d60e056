// The key-space heatmap of one table, in the manner of a key visualizer: time across, key ranges
// down, traffic as colour; the forecast continues to the right, paler where it is less certain;
// decisions are drawn where and when they acted. Hover shows the numbers.
import { useMemo, useState } from 'preact/hooks';
import { Chart, fmtNum, fmtTime, html, Loaded, TablePicker, useApi, useHashParam, useLiveTick } from '../components.js';

const MEASURES = { both: 'reads + writes', reads: 'reads', writes: 'writes' };

export function keyspaceOption(v, measure) {
  const times = [...new Set([...v.cells.map((c) => c.t), ...v.forecast.map((f) => f.t)])].sort((a, b) => a - b);
  const x = new Map(times.map((t, i) => [t, i]));
  const y = new Map(v.buckets.map((b, i) => [b, i]));
  const val = (c) => (measure === 'reads' ? c.reads : measure === 'writes' ? c.writes : c.reads + c.writes);
  const observed = v.cells.map((c) => ({
    value: [x.get(c.t), y.get(c.bucket), val(c)],
    reads: c.reads,
    writes: c.writes,
    t: c.t,
    bucket: c.bucket,
  }));
  // the forecast is of queries (reads + writes); its colour fades as its interval widens
  const forecast = v.forecast.map((f) => {
    const spread = (f.upper - f.lower) / Math.max(1, f.predicted);
    return {
      value: [x.get(f.t), y.get(f.bucket), f.predicted],
      itemStyle: { opacity: Math.max(0.25, 0.85 - spread * 0.6), borderColor: '#fff', borderWidth: 1, borderType: 'dashed' },
      f,
    };
  });
  const lastObserved = v.cells.length ? Math.max(...v.cells.map((c) => c.t)) : null;
  const max = Math.max(1, ...observed.map((d) => d.value[2]), ...forecast.map((d) => d.value[2]));
  // a decision on a known key range is a pin on it; one on a whole partition or node, a line across
  const placed = v.decisions.filter((d) => times.length > 0 && x.has(nearest(times, d.t)));
  const marks = placed
    .filter((d) => d.bucket !== null && y.has(d.bucket))
    .map((d) => ({ value: [x.get(nearest(times, d.t)), y.get(d.bucket)], d }));
  const lines = placed
    .filter((d) => d.bucket === null || !y.has(d.bucket))
    .map((d) => ({ xAxis: x.get(nearest(times, d.t)), d, label: { formatter: `${d.action} ${d.partition}`, position: 'insideStartTop' } }));
  return {
    animation: false,
    grid: { left: 64, right: 24, top: 24, bottom: 96 },
    tooltip: {
      confine: true,
      formatter: (p) => {
        const d = p.data;
        if (p.componentType === 'markLine' && !d.d) return 'the last window observed; the forecast follows';
        if (d.d)
          return `<b>${d.d.action}</b> ${d.d.partition || ''} at ${fmtTime(d.d.t)}<br>${d.d.status ?? 'no result yet'}<br>${escapeHtml(d.d.explanation)}`;
        if (d.f)
          return `<b>${d.f.bucket}</b> forecast for ${fmtTime(d.f.t)}<br>queries ${fmtNum(d.f.predicted)} (interval ${fmtNum(d.f.lower)}–${fmtNum(d.f.upper)})`;
        return `<b>${d.bucket}</b> window ${fmtTime(d.t)}<br>reads ${fmtNum(d.reads, 0)} · writes ${fmtNum(d.writes, 0)}`;
      },
    },
    xAxis: { type: 'category', data: times.map(fmtTime), splitArea: { show: false }, axisLabel: { hideOverlap: true } },
    yAxis: { type: 'category', data: v.buckets, name: 'key range', nameLocation: 'start', inverse: true },
    visualMap: {
      min: 0,
      max,
      calculable: true,
      orient: 'horizontal',
      left: 'center',
      bottom: 8,
      seriesIndex: [0, 1],
      inRange: { color: ['#f7fbff', '#6baed6', '#08519c', '#fd8d3c', '#bd0026'] },
      text: [`${fmtNum(max, 0)} per window`, '0'],
    },
    series: [
      {
        name: MEASURES[measure],
        type: 'heatmap',
        data: observed,
        emphasis: { itemStyle: { borderColor: '#000', borderWidth: 1 } },
        markLine: {
          symbol: 'none',
          lineStyle: { color: '#111', type: 'solid', width: 2 },
          data: [
            ...lines,
            ...(lastObserved === null
              ? []
              : [
                  {
                    xAxis: x.get(lastObserved) + 0.5,
                    label: { formatter: 'now → forecast', position: 'insideEndTop' },
                    lineStyle: { color: '#333', type: 'dashed', width: 1 },
                  },
                ]),
          ],
        },
      },
      { name: 'forecast', type: 'heatmap', data: forecast },
      {
        name: 'decisions',
        type: 'scatter',
        data: marks,
        symbol: 'pin',
        symbolSize: 28,
        itemStyle: { color: '#111' },
        label: { show: true, formatter: (p) => p.data.d.action.slice(0, 1).toUpperCase(), color: '#fff', fontSize: 11 },
        z: 10,
      },
    ],
  };
}

function nearest(times, t) {
  let best = times[0];
  for (const x of times) if (Math.abs(x - t) < Math.abs(best - t)) best = x;
  return best;
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function KeyspacePage() {
  const [table, setTable] = useHashParam('table');
  const [measure, setMeasure] = useState('both');
  const tick = useLiveTick('command');
  const state = useApi(table ? `/api/load/keyspace?table=${encodeURIComponent(table)}` : null, [tick], 15_000);
  const option = useMemo(() => (state.data ? keyspaceOption(state.data, measure) : null), [state.data, measure]);
  return html`<section aria-labelledby="h-keyspace">
    <h1 id="h-keyspace">Key space</h1>
    <p class="lead">Traffic per key range and window over the last 30 minutes; right of the dashed line, the forecast (paler where less certain). Pins mark decisions.</p>
    <div class="toolbar">
      <${TablePicker} value=${table} onChange=${setTable} />
      <fieldset class="segmented"><legend>Colour</legend>
        ${Object.entries(MEASURES).map(
          ([k, label]) => html`<label><input type="radio" name="measure" value=${k} checked=${measure === k}
            onChange=${() => setMeasure(k)} /> ${label}</label>`,
        )}
      </fieldset>
    </div>
    ${
      !table
        ? html`<div class="note empty">Choose a table to see its key space.</div>`
        : html`<${Loaded} state=${state} isEmpty=${(d) => d.cells.length === 0 && d.forecast.length === 0}
            empty=${html`No traffic recorded for <b>${table}</b> in the last 30 minutes. Windows reach ClickHouse when
              <code>shardcast run ingest</code> and <code>run sink</code> are running (or <code>run all</code>).`}>
            <${Chart} option=${option} height=${Math.max(280, 60 + (state.data?.buckets.length ?? 0) * 36)}
              label=${`Heatmap of ${MEASURES[measure]} per key range of ${table} over time, with the forecast and ${state.data?.decisions.length ?? 0} decisions`} />
            <${DecisionList} decisions=${state.data?.decisions ?? []} />
          <//>`
    }
  </section>`;
}

function DecisionList({ decisions }) {
  if (decisions.length === 0) return html`<p class="note">No decisions on this table in this span.</p>`;
  return html`<h2>Decisions drawn</h2>
    <ul class="plain">${decisions.map(
      (d) => html`<li><b>${d.action}</b> ${d.partition} ${d.bucket ? `(range ${d.bucket})` : ''} at ${fmtTime(d.t)}:
        <span class=${`status s-${(d.status ?? 'none').toLowerCase()}`}>${d.status ?? 'no result yet'}</span> — ${d.explanation}</li>`,
    )}</ul>`;
}
