/**
 * The workload's statement templates in the catalog: ingest's template profile (on each source's
 * total series) → (Template) nodes with their newest window's figures, and (Template)-[:READS]->
 * (Table) for each table of the source they name. Older windows than the one recorded change
 * nothing, so a redelivered aggregate is harmless.
 */
import type { WorkloadAggregate } from '../schemas/types.js';
import type { Driver } from './neo4j.js';

/** The catalog id of a template: template ids are per source. */
export const templateNodeId = (source: string, templateId: string) => `${source}|${templateId}`;

export async function recordTemplates(driver: Driver, aggs: readonly WorkloadAggregate[]): Promise<void> {
  // the newest window of each (source, template)
  const latest = new Map<string, { a: WorkloadAggregate; t: NonNullable<WorkloadAggregate['templates']>[number] }>();
  for (const a of aggs)
    for (const t of a.templates ?? []) {
      const id = templateNodeId(a.source, t.templateId);
      const cur = latest.get(id);
      if (!cur || cur.a.windowStart <= a.windowStart) latest.set(id, { a, t });
    }
  if (latest.size === 0) return;
  const rows = [...latest].map(([id, { a, t }]) => ({
    id,
    source: a.source,
    templateId: t.templateId,
    text: t.template,
    operation: t.operation,
    tables: t.tables,
    windowStart: a.windowStart,
    queries: t.queries,
    latencyMeanMs: t.queries > 0 ? t.latencySumMs / t.queries : null,
    latencyP95Ms: t.latencyP95Ms,
    rowsRead: t.rowsRead,
    rowsWritten: t.rowsWritten,
    predicateColumns: [...new Set(t.predicates.map((p) => p.column))],
    groupBy: t.groupBy,
    aggregates: t.aggregates,
  }));
  await driver.executeQuery(
    `UNWIND $rows AS r
     MERGE (t:Template {id: r.id})
     WITH t, r WHERE t.windowStart IS NULL OR r.windowStart >= t.windowStart
     SET t.source = r.source, t.templateId = r.templateId, t.text = r.text, t.operation = r.operation, t.tables = r.tables,
         t.windowStart = r.windowStart, t.queries = r.queries, t.latencyMeanMs = r.latencyMeanMs,
         t.latencyP95Ms = r.latencyP95Ms, t.rowsRead = r.rowsRead, t.rowsWritten = r.rowsWritten,
         t.predicateColumns = r.predicateColumns, t.groupBy = r.groupBy, t.aggregates = r.aggregates
     WITH t, r
     UNWIND r.tables AS name
     MATCH (tb:Table {source: r.source, name: name}) WHERE tb.vanishedAt IS NULL
     MERGE (t)-[:READS]->(tb)`,
    { rows },
  );
}
