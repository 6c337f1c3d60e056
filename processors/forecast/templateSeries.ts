/**
 * Template executions as forecast series, so decide plans indexes and precomputations for the
 * load a template is heading to, not only for the last window's. Each template in the profile
 * of a source's total series becomes the series `<source>|#template|<templateId>|<node>`, whose
 * value in a window is the template's executions there. `#template` cannot be a table (ingest's
 * tables are identifiers), and the first three parts name the template over every node, as
 * `src|table|bucket` names a bucket (processors/decide/series.ts folds by them).
 * A window where the template was not among the profiled (most frequent) ones is a gap.
 */
import type { WorkloadAggregate } from '../../schemas/types.js';
import type { Observation } from './rounds.js';

const TEMPLATE_PART = '#template';

export const templateSeriesId = (source: string, templateId: string, node: string | null) =>
  `${source}|${TEMPLATE_PART}|${templateId}|${node ?? ''}`;

/** Whether a (forecast) series counts a template's executions rather than a table's queries. */
export const isTemplateSeries = (seriesId: string) => seriesId.split('|')[1] === TEMPLATE_PART;

/** The template a template series counts. */
export const templateOf = (seriesId: string) => seriesId.split('|')[2] ?? '';

/** The template observations an aggregate's profile holds (none for a table's series). */
export function templateObservations(a: WorkloadAggregate): Observation[] {
  if (a.table !== null || !a.templates?.length) return [];
  return a.templates.map((t) => ({
    source: a.source,
    seriesId: templateSeriesId(a.source, t.templateId, a.node),
    windowStart: a.windowStart,
    queries: t.queries,
  }));
}

/** Aggregates and, after each, its template observations: what the forecast rounds observe. */
export const withTemplateObservations = (as: readonly WorkloadAggregate[]): Observation[] =>
  as.flatMap((a) => [a, ...templateObservations(a)]);
