/**
 * Per-partition schema adaptation and precomputation for hot templates: a composite index for
 * an unindexed multi-column point/range template, a derived (generated) attribute for a
 * template filtering on an expression, a materialized precomputation for a repeated aggregate
 * whose group-by (and summed column) the statistics name: a count_by or sum_by, which the
 * executors take (schemas/commandParams.ts). Without that shape, or without the expression of a
 * derived attribute, nothing is planned: the executor would have nothing to run.
 * Recommendations: benefit = executions per window × latency expected to be saved (ms).
 */
import type { TemplateStat } from '../state.js';
import { type Candidate, type PlanContext, storeKindOf } from './common.js';

const SAVED = { composite_index: 0.8, derived_attribute: 0.6, precompute: 0.9 } as const;

export function templateAction(t: TemplateStat): keyof typeof SAVED | null {
  if (t.kind === 'aggregate') return 'precompute';
  if (t.kind === 'expression') return 'derived_attribute';
  if ((t.kind === 'point' || t.kind === 'range') && t.columns.length >= 2 && !t.indexed) return 'composite_index';
  return null;
}

export function planTemplateAdaptations(ctx: PlanContext): Candidate[] {
  const { state, cfg } = ctx;
  const out: Candidate[] = [];
  const hot = byDesign(state.templates)
    .filter((t) => t.count >= cfg.template.minCount && t.meanLatencyMs >= cfg.template.minLatencyMs)
    .sort((a, b) => b.count * b.meanLatencyMs - a.count * a.meanLatencyMs || (a.templateId < b.templateId ? -1 : 1));
  for (const t of hot) {
    const action = templateAction(t);
    if (!action) continue;
    if (action === 'derived_attribute' && !t.expression) continue;
    if (action === 'precompute' && !t.groupBy) continue;
    const table = state.tableByName.get(t.table);
    const store = table?.store ?? state.nodes[0]?.store ?? 'default';
    const params: Record<string, string> = { templateId: t.templateId };
    const name = `sc_${action === 'composite_index' ? 'idx' : action === 'derived_attribute' ? 'attr' : 'mv'}_${t.templateId
      .replace(/[^a-z0-9_]/gi, '')
      .slice(0, 24)
      .toLowerCase()}`;
    params.name = name;
    if (action === 'composite_index') params.columns = t.columns.join(',');
    if (action === 'derived_attribute') params.expression = t.expression!;
    if (action === 'precompute') {
      params.template = t.sumOf ? 'sum_by' : 'count_by';
      params.groupBy = t.groupBy!;
      if (t.sumOf) params.value = t.sumOf;
    }
    const benefit = t.count * t.meanLatencyMs * SAVED[action];
    const what =
      action === 'composite_index'
        ? `composite index (${t.columns.join(', ')})`
        : action === 'derived_attribute'
          ? `derived attribute for ${params.expression}`
          : `materialized ${t.sumOf ? `sum of ${t.sumOf}` : 'count'} by ${t.groupBy}`;
    out.push({
      action,
      ops: [
        {
          kind: 'partition',
          action,
          store,
          storeKind: storeKindOf(state, store),
          table: t.table,
          partition: null,
          sourceNode: null,
          targetNode: null,
          node: null,
          params,
          bytes: 0,
          durationMs: cfg.stepMs,
          startStep: 0,
          finishStep: 1,
          dependsOn: [],
          target: `${t.table}#${designKey(t)}`,
        },
      ],
      explanation: `${what} on ${t.table} for hot template ${t.templateId}: ${t.count}/window${t.observed !== undefined ? ` forecast (${t.observed} in the last window)` : ''} at ${t.meanLatencyMs.toFixed(0)} ms, ~${Math.round(SAVED[action] * 100)}% of that latency saved`,
      run() {},
      recommendation: { benefit, cost: t.count * 0.01 },
    });
  }
  return out;
}

/** What a template's adaptation would build, whichever template asks for it. */
function designKey(t: TemplateStat): string {
  const action = templateAction(t);
  if (action === 'composite_index') return `idx(${t.columns.join(',')})`;
  if (action === 'derived_attribute') return `attr(${t.expression ?? ''})`;
  if (action === 'precompute') return `mv(${t.sumOf ?? 'count'} by ${t.groupBy ?? ''})`;
  return `template(${t.templateId})`;
}

/**
 * Templates that would get the same design, as one: the same statement on each shard's table is
 * a template per shard (`orders__s0`, `orders__s1`, ...), and one index or precomputation of the
 * logical table serves them all. Counts add up; latency is their count-weighted mean.
 */
function byDesign(templates: readonly TemplateStat[]): TemplateStat[] {
  const merged = new Map<string, TemplateStat>();
  for (const t of templates) {
    const key = `${t.table}#${designKey(t)}`;
    const cur = merged.get(key);
    if (!cur) {
      merged.set(key, { ...t });
      continue;
    }
    const count = cur.count + t.count;
    const latency = count > 0 ? (cur.meanLatencyMs * cur.count + t.meanLatencyMs * t.count) / count : 0;
    // the hotter template names the design
    const lead = t.count > cur.count ? t : cur;
    merged.set(key, { ...lead, count, meanLatencyMs: latency });
  }
  return [...merged.values()];
}
