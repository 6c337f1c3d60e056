// The catalog's lineage graph of a table: what it derives from and what derives from it, its
// partitions and their nodes, the commands that acted on them.
import { useMemo } from 'preact/hooks';
import { Chart, html, Loaded, TablePicker, useApi, useHashParam } from '../components.js';

const KINDS = ['Table', 'Partition', 'Node', 'Command'];

export function lineageOption(g) {
  return {
    animation: false,
    legend: { data: KINDS, top: 0 },
    tooltip: {
      formatter: (p) =>
        p.dataType === 'edge'
          ? `${p.data.type}${p.data.role ? ` (${p.data.role})` : ''}`
          : `${p.data.label}: ${p.data.name}${p.data.detail ? ` · ${p.data.detail}` : ''}`,
    },
    series: [
      {
        type: 'graph',
        layout: 'force',
        roam: true,
        draggable: true,
        force: { repulsion: 220, edgeLength: 80 },
        categories: KINDS.map((name) => ({ name })),
        label: { show: true, position: 'right', formatter: (p) => p.data.name },
        edgeSymbol: ['none', 'arrow'],
        data: g.nodes.map((n) => ({
          ...n,
          id: n.id,
          category: Math.max(0, KINDS.indexOf(n.label)),
          symbolSize: n.label === 'Table' ? 26 : 16,
        })),
        links: g.edges.map((e) => ({ ...e, source: e.from, target: e.to })),
      },
    ],
  };
}

export function LineagePage() {
  const [table, setTable] = useHashParam('table');
  const [source, setSource] = useHashParam('store');
  const q = table
    ? `/api/catalog/lineage?table=${encodeURIComponent(table)}${source ? `&source=${encodeURIComponent(source)}` : ''}`
    : null;
  const state = useApi(q);
  const option = useMemo(() => (state.data ? lineageOption(state.data) : null), [state.data]);
  return html`<section aria-labelledby="h-lineage">
    <h1 id="h-lineage">Lineage</h1>
    <p class="lead">The catalog's graph around a table (drag to rearrange, scroll to zoom).</p>
    <div class="toolbar"><${TablePicker} value=${table} onChange=${setTable} />
      <label>Store <select value=${source || 'pg-shards'} onChange=${(e) => setSource(e.currentTarget.value)}>
        <option value="pg-shards">pg-shards</option><option value="clickhouse">clickhouse</option><option value="kafka">kafka</option>
      </select></label></div>
    ${
      !table
        ? html`<div class="note empty">Choose a table to see its lineage.</div>`
        : html`<${Loaded} state=${state}>
            <${Chart} option=${option} height=${440} label=${`Lineage graph of ${table}: ${state.data?.nodes.length} objects, ${state.data?.edges.length} relations`} />
            <details><summary>The relations as text</summary><ul class="plain">
              ${(state.data?.edges ?? []).map((e) => html`<li>${e.from} —${e.type}${e.role ? ` (${e.role})` : ''}→ ${e.to}</li>`)}
            </ul></details>
          <//>`
    }
  </section>`;
}
