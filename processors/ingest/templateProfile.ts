/**
 * What the physical-design planners need from one window of a source's queries: per template its
 * frequency, latency quantiles, rows read and written, the predicates it filters on, its
 * group-by/aggregate shape and joins; per predicate column how many queries filter on it, the
 * rows those queries read (the planner divides by the table's rows for selectivity) and how many
 * distinct values its equality predicates took. It rides on the source's total series, which
 * counts every query once (openWindow.ts).
 *
 * Bounded: at most `templatesTracked` templates and `columnsTracked` columns are counted exactly
 * per window; queries of templates beyond them are counted in `otherQueries` (most workloads
 * repeat a few templates, and a window that sees more says so). Distinct values are counted
 * exactly up to `distinctLimit`, then reported as that lower bound with `distinctCapped` set:
 * the planners only need to tell a handful of values from many.
 */
import type { PredicateColumn, TemplateStats } from '../../schemas/types.js';
import { LatencySketch } from './latencySketch.js';
import type { CompiledTemplate } from './sql/ir.js';

export interface ProfileLimits {
  templatesTracked: number;
  /** Templates reported per window, most frequent first. */
  templatesReported: number;
  columnsTracked: number;
  distinctLimit: number;
  relativeAccuracy: number;
}

export const DEFAULT_PROFILE_LIMITS: ProfileLimits = {
  templatesTracked: 64,
  templatesReported: 16,
  columnsTracked: 64,
  distinctLimit: 256,
  relativeAccuracy: 0.01,
};

/** The longest template text carried (the rest is cut: the id names it exactly). */
const MAX_TEMPLATE_TEXT = 1_000;
/** Latency bins per template: coarser than a series' (there are up to 64 templates per window). */
const TEMPLATE_SKETCH_BINS = 256;

/** Each compiled predicate's values in this statement (asked only when an equality predicate needs them). */
export type PredicateValues = () => readonly (readonly string[])[];

/** What the profile reads of a query's metrics. */
export interface ProfiledMetrics {
  durationMs: number;
  rowsRead: number;
  rowsWritten: number;
}

interface TemplateEntry {
  compiled: CompiledTemplate;
  /** The column entry of each compiled predicate (null beyond the column bound), found once per window. */
  columns: (ColumnEntry | null)[];
  /** Indices into `columns` of each distinct entry once: a query counts once per column. */
  distinctColumns: number[];
  queries: number;
  rowsRead: number;
  rowsWritten: number;
  latencySumMs: number;
  latency: LatencySketch;
}

interface ColumnEntry {
  table: string | null;
  column: string;
  queries: number;
  rowsRead: number;
  distinct: Set<string>;
  capped: boolean;
}

export class TemplateProfile {
  private readonly templates = new Map<string, TemplateEntry>();
  /**
   * The same entries by compiled template: the template cache hands out one object per template,
   * and an identity lookup is cheaper than hashing the id on the ingest hot path.
   */
  private readonly byCompiled = new WeakMap<CompiledTemplate, TemplateEntry>();
  private readonly columns = new Map<string, ColumnEntry>();
  private otherQueries = 0;

  constructor(private readonly limits: ProfileLimits = DEFAULT_PROFILE_LIMITS) {}

  add(c: CompiledTemplate, values: PredicateValues, q: ProfiledMetrics): void {
    const t = this.byCompiled.get(c) ?? this.entryOf(c);
    if (!t) {
      this.otherQueries++;
      return;
    }
    t.queries++;
    t.rowsRead += q.rowsRead || 0;
    t.rowsWritten += q.rowsWritten || 0;
    const d = q.durationMs;
    if (d >= 0 && Number.isFinite(d)) {
      t.latencySumMs += d;
      t.latency.add(d);
    }
    if (t.columns.length > 0) this.countColumns(t, values, q.rowsRead);
  }

  /** Templates most frequent first (ties by id), the columns filtered on, and queries not profiled. */
  stats(): { templates: TemplateStats[]; predicateColumns: PredicateColumn[]; otherTemplateQueries: number } {
    const templates = [...this.templates.values()]
      .sort((a, b) => b.queries - a.queries || (a.compiled.templateId < b.compiled.templateId ? -1 : 1))
      .slice(0, this.limits.templatesReported)
      .map(toStats);
    const predicateColumns = [...this.columns.values()]
      .sort((a, b) => b.queries - a.queries || `${a.table}.${a.column}`.localeCompare(`${b.table}.${b.column}`))
      .map((c) => ({
        table: c.table,
        column: c.column,
        queries: c.queries,
        rowsRead: c.rowsRead,
        distinctValues: c.distinct.size,
        distinctCapped: c.capped,
      }));
    return { templates, predicateColumns, otherTemplateQueries: this.otherQueries };
  }

  /** The template's entry (made on its first query), or null when the bound is reached. */
  private entryOf(c: CompiledTemplate): TemplateEntry | null {
    let t = this.templates.get(c.templateId);
    if (!t) {
      if (this.templates.size >= this.limits.templatesTracked) return null;
      const columns = c.preds.map((p) => this.columnOf(p.table, p.column));
      t = {
        compiled: c,
        columns,
        distinctColumns: columns.flatMap((col, i) => (col !== null && columns.indexOf(col) === i ? [i] : [])),
        queries: 0,
        rowsRead: 0,
        rowsWritten: 0,
        latencySumMs: 0,
        latency: new LatencySketch(this.limits.relativeAccuracy, TEMPLATE_SKETCH_BINS),
      };
      this.templates.set(c.templateId, t);
    }
    this.byCompiled.set(c, t);
    return t;
  }

  private columnOf(table: string | null, column: string): ColumnEntry | null {
    const key = `${table ?? ''}\u0000${column}`;
    let col = this.columns.get(key);
    if (!col) {
      if (this.columns.size >= this.limits.columnsTracked) return null;
      col = { table, column, queries: 0, rowsRead: 0, distinct: new Set(), capped: false };
      this.columns.set(key, col);
    }
    return col;
  }

  private countColumns(t: TemplateEntry, predicateValues: PredicateValues, rowsRead: number): void {
    for (const i of t.distinctColumns) {
      const col = t.columns[i]!;
      col.queries++;
      col.rowsRead += rowsRead || 0;
    }
    const preds = t.compiled.preds;
    let values: readonly (readonly string[])[] | null = null;
    for (let i = 0; i < preds.length; i++) {
      const col = t.columns[i];
      const op = preds[i]!.op;
      if (!col || col.capped || (op !== '=' && op !== 'in')) continue;
      values ??= predicateValues();
      for (const v of values[i] ?? []) {
        if (col.distinct.has(v)) continue;
        if (col.distinct.size >= this.limits.distinctLimit) {
          col.capped = true;
          break;
        }
        col.distinct.add(v);
      }
    }
  }
}

function toStats(t: TemplateEntry): TemplateStats {
  const c = t.compiled;
  const q = (p: number) => {
    const x = t.latency.quantile(p);
    return x === null ? null : Math.round(x * 1000) / 1000;
  };
  const predicates: TemplateStats['predicates'] = [];
  for (const p of c.preds) {
    if (!predicates.some((x) => x.table === p.table && x.column === p.column && x.op === p.op))
      predicates.push({ table: p.table, column: p.column, op: p.op });
  }
  return {
    templateId: c.templateId,
    template: c.template === null ? null : c.template.slice(0, MAX_TEMPLATE_TEXT),
    operation: c.operation,
    tables: [...c.tables],
    queries: t.queries,
    rowsRead: t.rowsRead,
    rowsWritten: t.rowsWritten,
    latencySumMs: Math.round(t.latencySumMs * 1000) / 1000,
    latencyP50Ms: q(0.5),
    latencyP95Ms: q(0.95),
    predicates,
    groupBy: [...(c.shape?.groupBy ?? [])],
    aggregates: [...(c.shape?.aggregates ?? [])],
    joins: [...c.joins],
  };
}
