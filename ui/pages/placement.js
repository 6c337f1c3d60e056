// Placement of a table's partitions and replicas on the nodes, from the catalog.
import { fmtNum, html, Loaded, TablePicker, useApi, useHashParam, useLiveTick } from '../components.js';

/** Partitions in key order: the one unbounded below first (the catalog orders it last). */
const byKey = (a, b) => (a.lo === null ? -1 : b.lo === null ? 1 : Number(a.lo) - Number(b.lo) || String(a.lo).localeCompare(String(b.lo)));

export function PlacementPage() {
  const [table, setTable] = useHashParam('table');
  const tick = useLiveTick('command');
  const state = useApi(table ? `/api/catalog/placement?table=${encodeURIComponent(table)}` : null, [tick]);
  const v = state.data;
  return html`<section aria-labelledby="h-placement">
    <h1 id="h-placement">Placement</h1>
    <p class="lead">Where each partition of a sharded table lives: P the primary, R a replica.</p>
    <div class="toolbar"><${TablePicker} value=${table} onChange=${setTable} /></div>
    ${
      !table
        ? html`<div class="note empty">Choose a table to see its placement.</div>`
        : html`<${Loaded} state=${state} isEmpty=${(d) => d.partitions.length === 0}
            empty=${html`The catalog has no partitions of <b>${table}</b>. Sharded tables are discovered by <code>shardcast run catalog</code> (or the decide stage).`}>
            <div class="scroll"><table class="grid placement">
              <caption>${table}: ${v?.partitions.length} partitions on ${v?.nodes.length} nodes</caption>
              <thead><tr><th scope="col">partition</th><th scope="col">key range</th><th scope="col">rows</th>
                ${(v?.nodes ?? []).map((n) => html`<th scope="col">${n.name}<br /><small>${n.state ?? ''}${n.capacity ? ` · cap ${n.capacity}` : ''}</small></th>`)}</tr></thead>
              <tbody>${[...(v?.partitions ?? [])].sort(byKey).map(
                (p) => html`<tr><th scope="row">${p.partition}</th><td>[${p.lo ?? '−∞'}, ${p.hi ?? '+∞'})</td><td>${fmtNum(p.rows, 0)}</td>
                  ${v.nodes.map((n) => {
                    const role = p.node === n.name ? 'P' : p.replicas.includes(n.name) ? 'R' : '';
                    return html`<td class=${role ? `role-${role}` : ''} aria-label=${role === 'P' ? 'primary' : role === 'R' ? 'replica' : 'none'}>${role}</td>`;
                  })}</tr>`,
              )}</tbody>
            </table></div>
          <//>`
    }
  </section>`;
}
