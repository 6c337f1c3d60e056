// Node load against capacity over time, each node's latest forecast drawn as a band.
import { useMemo } from 'preact/hooks';
import { Chart, fmtNum, fmtTime, html, Loaded, useApi, useHashParam } from '../components.js';

const COLOURS = ['#2f6fb0', '#d9822b', '#3a9d5d', '#b23a48', '#7e57c2', '#00897b', '#6d4c41', '#546e7a'];

export function nodesOption(v, capacity) {
  const series = [];
  v.nodes.forEach((node, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const pts = v.points.filter((p) => p.node === node);
    const fc = v.forecast.filter((f) => f.node === node).sort((a, b) => a.t - b.t);
    series.push({
      name: node,
      type: 'line',
      showSymbol: false,
      color: colour,
      data: pts.map((p) => [p.t, p.queries]),
      markLine: capacity[node]
        ? {
            symbol: 'none',
            lineStyle: { color: colour, type: 'dotted' },
            // labels inside the plot, alternating ends: equal capacities draw one line
            label: { formatter: `${node} capacity`, position: i % 2 ? 'insideStartTop' : 'insideEndTop' },
            data: [{ yAxis: capacity[node] }],
          }
        : undefined,
    });
    // the band: lower bound (invisible) with the interval's width stacked on it
    series.push({
      name: `${node} band`,
      type: 'line',
      stack: `band-${node}`,
      data: fc.map((f) => [f.t, f.lower]),
      lineStyle: { opacity: 0 },
      showSymbol: false,
      tooltip: { show: false },
      silent: true,
    });
    series.push({
      name: `${node} band`,
      type: 'line',
      stack: `band-${node}`,
      data: fc.map((f) => [f.t, f.upper - f.lower]),
      lineStyle: { opacity: 0 },
      areaStyle: { color: colour, opacity: 0.18 },
      showSymbol: false,
      tooltip: { show: false },
      silent: true,
    });
    series.push({
      name: `${node} forecast`,
      type: 'line',
      color: colour,
      lineStyle: { type: 'dashed' },
      showSymbol: false,
      data: fc.map((f) => [f.t, f.predicted, f.lower, f.upper]),
    });
  });
  return {
    animation: false,
    grid: { left: 56, right: 24, top: 48, bottom: 40 },
    legend: { top: 0, data: v.nodes.flatMap((n) => [n, `${n} forecast`]) },
    tooltip: {
      trigger: 'axis',
      confine: true,
      formatter: (ps) =>
        [
          `<b>${fmtTime(ps[0]?.value[0])}</b>`,
          ...ps.map((p) =>
            p.value.length > 2
              ? `${p.seriesName}: ${fmtNum(p.value[1])} (${fmtNum(p.value[2])}–${fmtNum(p.value[3])})`
              : `${p.seriesName}: ${fmtNum(p.value[1], 0)}`,
          ),
        ].join('<br>'),
    },
    xAxis: { type: 'time' },
    // the scale fits what was observed, capacity and the predictions; a wide interval is clipped
    yAxis: {
      type: 'value',
      name: 'queries per window',
      max: Math.ceil(
        1.15 * Math.max(1, ...v.points.map((p) => p.queries), ...v.forecast.map((f) => f.predicted), ...Object.values(capacity)),
      ),
    },
    series,
  };
}

export function NodesPage() {
  const [table] = useHashParam('table');
  const [source] = useHashParam('source');
  const state = useApi(`/api/load/nodes${source ? `?source=${encodeURIComponent(source)}` : ''}`, [], 15_000);
  const placement = useApi(`/api/catalog/placement?table=${encodeURIComponent(table || 'orders')}`);
  const capacity = Object.fromEntries((placement.data?.nodes ?? []).filter((n) => n.capacity).map((n) => [n.name, n.capacity]));
  const option = useMemo(() => (state.data ? nodesOption(state.data, capacity) : null), [state.data, placement.data]);
  return html`<section aria-labelledby="h-nodes">
    <h1 id="h-nodes">Node load</h1>
    <p class="lead">Queries per window on each node over the last 30 minutes, its capacity (dotted, from the catalog) and its latest forecast (dashed, with the interval as a band).</p>
    <${Loaded} state=${state} isEmpty=${(d) => d.points.length === 0 && d.forecast.length === 0}
      empty=${html`No node load recorded in the last 30 minutes. It comes from the ingest windows the sink writes to ClickHouse (<code>shardcast run all</code>).`}>
      <${Chart} option=${option} label=${`Queries per window of ${state.data?.nodes.join(', ')} against capacity, with forecast bands`} />
      <table class="grid"><caption>Latest window and forecast peak per node</caption>
        <thead><tr><th scope="col">node</th><th scope="col">queries (last window)</th><th scope="col">forecast peak</th><th scope="col">capacity</th></tr></thead>
        <tbody>${(state.data?.nodes ?? []).map((n) => {
          const pts = state.data.points.filter((p) => p.node === n);
          const fc = state.data.forecast.filter((f) => f.node === n);
          return html`<tr><th scope="row">${n}</th><td>${fmtNum(pts.at(-1)?.queries, 0)}</td>
            <td>${fc.length ? fmtNum(Math.max(...fc.map((f) => f.predicted))) : '–'}</td><td>${fmtNum(capacity[n], 0)}</td></tr>`;
        })}</tbody>
      </table>
    <//>
  </section>`;
}
