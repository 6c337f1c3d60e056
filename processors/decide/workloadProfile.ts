/**
 * The physical-design planners' statistics from the live workload: ingest puts each window's
 * template profile on a source's total series (processors/ingest/templateProfile.ts); this keeps
 * the latest window of each and turns them into what the planners read: per table and template
 * its executions per window, the columns it filters on (equality first), its kind and aggregate
 * shape, its mean latency (TemplateStat); and per table and template the set of columns filtered
 * on with its count (PredicateStat, for re-keying).
 *
 * A total series exists per source and node, so one window's profile may come in several parts:
 * the parts of the newest window are summed, older windows are dropped.
 *
 * The forecast stage forecasts each template's executions (processors/forecast/templateSeries.ts):
 * a template whose forecast peak over the horizon is above its newest window's count is planned
 * at the forecast count, so its index or precomputation is in place before the load arrives;
 * one absent from the newest window but forecast to return (a nightly report) is planned at its
 * forecast with the shape it last had.
 */
import { DERIVABLE_FUNCTIONS } from '../../schemas/commandParams.js';
import type { Forecast, TemplateStats, WorkloadAggregate } from '../../schemas/types.js';
import { templateOf } from '../forecast/templateSeries.js';
import type { PredicateStat, TemplateStat } from './state.js';

const RANGE_OPS = new Set(['<', '<=', '>', '>=', 'between']);
/** A predicate "column" that is a derivable function of a column, as ingest names it (`lower(email)`). */
const DERIVABLE = new RegExp(`^(${DERIVABLE_FUNCTIONS.join('|')})\\([a-z_][a-z0-9_]*\\)$`);
const EQUALITY_OPS = new Set(['=', 'in']);

interface Part {
  windowStart: number;
  templates: TemplateStats[];
}

/** A template's shape as last seen: in which source's profile, and in which window. */
interface Shape {
  source: string;
  windowStart: number;
  template: TemplateStats;
}

/** What the store already has on a table (the executor's designs registry). */
export interface ExistingDesigns {
  /** Columns of each composite index, in index order. */
  indexes: readonly (readonly string[])[];
  /** Each precomputation's group-by and summed column (null for a count). */
  precomputed: readonly { groupBy: string; value: string | null }[];
  /** The expressions derived columns hold, written as the workload writes them (`lower(email)`). */
  derived?: readonly string[];
}

export interface StatisticsOptions {
  /** Only this source's series (the planned tables' telemetry source). */
  source?: string;
  /** Per table, what exists: indexed columns are not indexed again, a precomputed aggregate not precomputed again. */
  designs?: ReadonlyMap<string, ExistingDesigns>;
}

/** A template as the planners see it: at its forecast peak when that is higher than what was observed. */
export type PlannedTemplate = TemplateStats & {
  /** The newest window's executions, when the forecast's peak raised `queries` above them (0: absent from it). */
  observed?: number;
};

/** Shapes kept of templates absent from the newest window; past this, the oldest go. */
const MAX_SHAPES = 4096;

export interface WorkloadStatistics {
  templates: TemplateStat[];
  predicates: PredicateStat[];
}

export class WorkloadProfile {
  /** Per total series: its newest window's templates. */
  private readonly parts = new Map<string, Part>();
  /** Per template series: its newest forecast. */
  private readonly ahead = new Map<string, Forecast>();
  /** Per source and template: the shape it had in the newest window it was seen in. */
  private readonly shapes = new Map<string, Shape>();

  /** Keeps a template series' forecast (the newest origin wins). */
  observeForecast(f: Forecast): void {
    const cur = this.ahead.get(f.seriesId);
    if (!cur || cur.originTs <= f.originTs) this.ahead.set(f.seriesId, f);
  }

  /**
   * Per template, the most executions a window is forecast to hold over the horizon, from the
   * newest origin (of one source when given), summed over nodes.
   */
  forecastPeaks(source?: string): Map<string, number> {
    const ours = [...this.ahead.values()].filter((f) => !source || f.seriesId.startsWith(`${source}|`));
    const newest = Math.max(...ours.map((f) => f.originTs));
    const perHorizon = new Map<string, number[]>();
    for (const f of ours) {
      if (f.originTs !== newest) continue;
      const id = templateOf(f.seriesId);
      const sums = perHorizon.get(id) ?? [];
      f.points.forEach((p, h) => {
        sums[h] = (sums[h] ?? 0) + Math.max(0, p.predicted);
      });
      perHorizon.set(id, sums);
    }
    return new Map([...perHorizon].map(([id, sums]) => [id, Math.max(...sums)]));
  }

  /** Keeps an aggregate's template profile (aggregates without one are ignored). */
  observe(a: WorkloadAggregate): void {
    if (a.table !== null || !a.templates || a.templates.length === 0) return;
    const cur = this.parts.get(a.seriesId);
    if (!cur || cur.windowStart <= a.windowStart) this.parts.set(a.seriesId, { windowStart: a.windowStart, templates: a.templates });
    for (const t of a.templates) {
      const key = `${a.source}|${t.templateId}`;
      const seen = this.shapes.get(key);
      if (seen && seen.windowStart > a.windowStart) continue;
      this.shapes.delete(key); // re-inserted last: the map's order is the order of last sight
      this.shapes.set(key, { source: a.source, windowStart: a.windowStart, template: t });
    }
    while (this.shapes.size > MAX_SHAPES) this.shapes.delete(this.shapes.keys().next().value!);
  }

  /** The newest window's templates (of one source when given), each summed over its parts, by id. */
  templates(source?: string): TemplateStats[] {
    const ours = (id: string) => !source || id.startsWith(`${source}|`);
    let newest = -Infinity;
    for (const [id, p] of this.parts) if (ours(id)) newest = Math.max(newest, p.windowStart);
    const merged = new Map<string, TemplateStats>();
    for (const [id, p] of this.parts) {
      if (p.windowStart !== newest || !ours(id)) continue;
      for (const t of p.templates) {
        const m = merged.get(t.templateId);
        if (!m) merged.set(t.templateId, { ...t });
        else {
          m.queries += t.queries;
          m.rowsRead += t.rowsRead;
          m.rowsWritten += t.rowsWritten;
          m.latencySumMs += t.latencySumMs;
        }
      }
    }
    return [...merged.values()].sort((a, b) => (a.templateId < b.templateId ? -1 : 1));
  }

  /**
   * The templates to plan for (of one source when given): the newest window's, each at its
   * forecast peak when that is higher, and those absent from it that are forecast to return, at
   * their forecast with the shape they last had.
   */
  templatesAhead(source?: string): PlannedTemplate[] {
    const peaks = this.forecastPeaks(source);
    const observed = this.templates(source);
    const out = observed.map((t) => atPeak(t, peaks.get(t.templateId) ?? 0, t.queries));
    const seen = new Set(observed.map((t) => t.templateId));
    for (const [id, peak] of peaks) {
      if (seen.has(id) || Math.round(peak) < 1) continue;
      const shape = this.shapeOf(id, source);
      if (shape) out.push(atPeak(shape, peak, 0));
    }
    return out;
  }

  /** The newest shape seen of a template (in one source when given). */
  private shapeOf(templateId: string, source?: string): TemplateStats | null {
    let best: Shape | null = null;
    for (const s of this.shapes.values()) {
      if (s.template.templateId !== templateId || (source && s.source !== source)) continue;
      if (!best || s.windowStart > best.windowStart) best = s;
    }
    return best?.template ?? null;
  }

  /** The statistics of the newest window seen and the forecasts, for the tables named (others are not planned). */
  statistics(tables: readonly string[], opts: StatisticsOptions = {}): WorkloadStatistics {
    const planned = new Set(tables);
    const templates: TemplateStat[] = [];
    const predicates: PredicateStat[] = [];
    for (const t of this.templatesAhead(opts.source)) {
      for (const table of t.tables) {
        if (!planned.has(table)) continue;
        const preds = t.predicates.filter((p) => p.table === table || (p.table === null && t.tables.length === 1));
        // expressions are not columns an index or a key can lead with
        const columns = orderedColumns(preds).filter((c) => !c.includes('('));
        if (columns.length > 0) predicates.push({ table, columns, count: t.queries });
        // a template over several tables is a join: its shape is not one table's to adapt
        if (t.tables.length !== 1 || t.operation !== 'select') continue;
        const stat = templateStat(t, table, preds, columns, opts.designs?.get(table));
        if (stat) templates.push(t.observed === undefined ? stat : { ...stat, observed: t.observed });
      }
    }
    return { templates, predicates };
  }
}

/**
 * `shape` planned at `peak` executions when that is above the `observed` ones (mean latency and
 * rows read per execution stay the shape's); else as observed.
 */
function atPeak(shape: TemplateStats, peak: number, observed: number): PlannedTemplate {
  const n = Math.round(peak);
  if (n <= observed) return shape;
  const per = (total: number) => (shape.queries > 0 ? (total * n) / shape.queries : 0);
  return { ...shape, queries: n, latencySumMs: per(shape.latencySumMs), rowsRead: Math.round(per(shape.rowsRead)), observed };
}

/** Columns filtered on, each once: equality predicates first, then ranges and the rest. */
function orderedColumns(preds: TemplateStats['predicates']): string[] {
  const eq = preds.filter((p) => EQUALITY_OPS.has(p.op)).map((p) => p.column);
  const rest = preds.filter((p) => !EQUALITY_OPS.has(p.op)).map((p) => p.column);
  return [...new Set([...eq, ...rest])];
}

/** Whether one of the indexes leads with exactly these columns (in any order). */
function coveredBy(indexes: ExistingDesigns['indexes'], columns: readonly string[]): boolean {
  return indexes.some((ix) => ix.length >= columns.length && columns.every((c) => ix.slice(0, columns.length).includes(c)));
}

/** The planner's view of one template on one table; null when what it would plan exists already. */
function templateStat(
  t: TemplateStats,
  table: string,
  preds: TemplateStats['predicates'],
  columns: string[],
  designs: ExistingDesigns | undefined,
): TemplateStat | null {
  const sums = t.aggregates.filter((x) => /^sum\(.+\)$/.test(x)).map((x) => x.slice(4, -1));
  const counts = t.aggregates.includes('count(*)');
  // a precomputation is a count or a sum by one column (what the executors take, commandParams.ts),
  // and it answers the template only when the template filters on nothing but that column
  const aggregate =
    t.groupBy.length === 1 && !t.groupBy[0]!.includes('(') && (sums.length > 0 || counts) && preds.every((p) => p.column === t.groupBy[0]);
  // a filter on a function of a column that a derived attribute can hold (`lower(email) = $1`)
  const expression = aggregate ? null : (preds.map((p) => p.column).find((c) => DERIVABLE.test(c)) ?? null);
  const kind: TemplateStat['kind'] = aggregate
    ? 'aggregate'
    : expression
      ? 'expression'
      : preds.some((p) => RANGE_OPS.has(p.op))
        ? 'range'
        : 'point';
  if (aggregate && designs?.precomputed.some((d) => d.groupBy === t.groupBy[0] && d.value === (sums[0] ?? null))) return null;
  if (expression && designs?.derived?.includes(expression)) return null;
  return {
    table,
    templateId: t.templateId,
    count: t.queries,
    columns,
    kind,
    indexed: columns.length > 0 && coveredBy(designs?.indexes ?? [], columns),
    meanLatencyMs: t.queries > 0 ? t.latencySumMs / t.queries : 0,
    ...(aggregate ? { groupBy: t.groupBy[0]!, sumOf: sums[0] ?? null } : {}),
    ...(expression ? { expression } : {}),
  };
}
