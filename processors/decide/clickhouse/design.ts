/**
 * ClickHouse decisions from its own workload (the query-log collector's telemetry, profiled by
 * ingest): precompute a hot aggregate as a SummingMergeTree fed by a materialized view, and
 * repartition a table by the date column most of its queries filter on by range, so its
 * partitions prune them. The executors are executors/clickhouse/{precompute,repartition}.ts.
 *
 * A precomputation answers a template only when the template filters on nothing but its group:
 * `count(*)`/`sum(v)` by a column (count_by, sum_by), or `sum(v)` by a day or month of a date
 * column (daily_sum, from which months are sums of days). A repartition is a rewrite of the
 * whole table: it always waits for approval, and goes before the table's new precomputations
 * (they depend on it); a table that has precomputations is not repartitioned (its views would keep
 * reading the old table, and the executor refuses it). Pure: the tables' state and the time are arguments.
 */
import type { AnyCommand, TemplateStats } from '../../../schemas/types.js';
import { commandId, stableHash } from '../ids.js';
import type { PlannedTemplate } from '../workloadProfile.js';

/** What the planner needs of one ClickHouse table (system.tables, system.columns). */
export interface ChTableState {
  database: string;
  table: string;
  partitionKey: string;
  /** Column → ClickHouse type. */
  columns: ReadonlyMap<string, string>;
  rows: number;
  /** Names of the precomputations that exist on it (`<table>__pc_<name>`). */
  precomputed: readonly string[];
}

export interface ChPlanConfig {
  store: string;
  /** Executions per window before a template counts as hot. */
  minCount: number;
  /** Mean latency (ms) before a hot template is worth precomputing. */
  minLatencyMs: number;
  /** Share of a table's queries that must filter one date column by range to repartition by it. */
  repartitionMinShare: number;
  /** A target given a command is not planned again for this long (ms). */
  cooldownMs: number;
  windowMs: number;
  /** The operators' approval mode of the store: manual holds every command. */
  manual: boolean;
  policy: string;
}

export const DEFAULT_CH_PLAN: Omit<ChPlanConfig, 'store' | 'windowMs' | 'manual'> = {
  minCount: 20,
  minLatencyMs: 5,
  repartitionMinShare: 0.5,
  cooldownMs: 600_000,
  policy: 'shardcast-workload',
};

export interface ChPlan {
  commands: AnyCommand[];
  explanations: string[];
}

const DATE_TYPE = /^(Nullable\()?(Date|Date32|DateTime|DateTime64)\b/;
/** Group-by functions of a date whose groups are unions of days: a daily precomputation answers them. */
const DAY_OR_COARSER = new Set([
  'toDate',
  'toStartOfDay',
  'toYYYYMMDD',
  'toYYYYMM',
  'toStartOfMonth',
  'toMonday',
  'toStartOfWeek',
  'toYear',
]);
const RANGE_OPS = new Set(['<', '<=', '>', '>=', 'between']);

/** What a command's cooldown is kept under: the table for a repartition, table#name for a precomputation. */
export function planTarget(c: Pick<AnyCommand, 'action' | 'params'> & { table?: string }): string {
  return c.action === 'precompute' ? `${c.table}#${c.params.name}` : (c.table ?? '');
}

/** `db.table` or `table` as the planner's table name (the collector's database is the default). */
export function chTableName(name: string, database: string): string {
  return name.startsWith(`${database}.`) ? name.slice(database.length + 1) : name;
}

interface PrecomputeChoice {
  template: 'count_by' | 'sum_by' | 'daily_sum';
  groupBy: string;
  value: string | null;
}

/** The precomputation that answers `t` on `table`, or null. */
function precomputeFor(t: TemplateStats, table: ChTableState): PrecomputeChoice | null {
  if (t.operation !== 'select' || t.tables.length !== 1 || t.groupBy.length !== 1 || t.joins.length > 0) return null;
  const sums = t.aggregates.filter((a) => /^sum\(.+\)$/.test(a)).map((a) => a.slice(4, -1));
  const others = t.aggregates.filter((a) => a !== 'count(*)' && !/^sum\(.+\)$/.test(a));
  if (others.length > 0 || sums.length > 1 || t.aggregates.length === 0) return null;
  const g = t.groupBy[0]!;
  const fn = /^(\w+)\((\w+)\)$/.exec(g);
  const groupCol = fn ? fn[2]! : g;
  if (!table.columns.has(groupCol) || (sums[0] && !table.columns.has(sums[0]))) return null;
  if (t.predicates.some((p) => p.column !== groupCol)) return null;
  if (fn) {
    if (!DAY_OR_COARSER.has(fn[1]!) || !DATE_TYPE.test(table.columns.get(groupCol)!) || !sums[0]) return null;
    return { template: 'daily_sum', groupBy: groupCol, value: sums[0] };
  }
  return sums[0] ? { template: 'sum_by', groupBy: g, value: sums[0] } : { template: 'count_by', groupBy: g, value: null };
}

/** The precomputation's name: readable, a plain identifier of at most 30 characters. */
export function precomputeName(c: PrecomputeChoice): string {
  const base = `${c.template}_${c.groupBy}${c.value ? `_${c.value}` : ''}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return base.length <= 30 ? base : `${base.slice(0, 21)}_${stableHash(base, 8)}`;
}

export function planClickHouseDesign(
  templates: readonly PlannedTemplate[],
  tables: readonly ChTableState[],
  recent: ReadonlyMap<string, number>,
  now: number,
  cfg: ChPlanConfig,
): ChPlan {
  const commands: AnyCommand[] = [];
  const explanations: string[] = [];
  const cooling = (target: string) => {
    const last = recent.get(target);
    return last !== undefined && now - last < cfg.cooldownMs;
  };
  for (const table of tables) {
    const mine = templates.filter((t) => t.tables.length === 1 && chTableName(t.tables[0]!, table.database) === table.table);
    const total = mine.reduce((a, t) => a + t.queries, 0);
    if (total === 0) continue;
    const observedOf = (ts: readonly PlannedTemplate[]) => ts.reduce((a, t) => a + (t.observed ?? t.queries), 0);

    // the date column the most queries filter by range: partitions on it prune them
    const byColumn = new Map<string, number>();
    for (const t of mine) {
      for (const c of rangeColumns(t)) if (DATE_TYPE.test(table.columns.get(c) ?? '')) byColumn.set(c, (byColumn.get(c) ?? 0) + t.queries);
    }
    const [column, queries] = [...byColumn].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0] ?? [null, 0];
    let repartition: AnyCommand | null = null;
    const wanted =
      column !== null &&
      queries >= cfg.minCount &&
      queries / total >= cfg.repartitionMinShare &&
      !new RegExp(`\\b${column}\\b`).test(table.partitionKey);
    // precomputations commanded and not built yet will read it too (their commands did not wait for a repartition)
    const commanded = [...recent.keys()]
      .filter((k) => k.startsWith(`${table.table}#`) && cooling(k))
      .map((k) => k.slice(table.table.length + 1));
    const reading = [...new Set([...table.precomputed, ...commanded])];
    if (wanted && reading.length > 0)
      explanations.push(
        `${table.database}.${table.table}: ${Math.round((100 * queries) / total)}% of its queries filter ${column} by range, but its precomputations (${reading.join(', ')}) read it: not repartitioned`,
      );
    else if (wanted && !cooling(table.table)) {
      const observed = observedOf(mine);
      const explanation = `repartition ${table.database}.${table.table} by toYYYYMM(${column}) (now ${table.partitionKey || 'none'}): ${Math.round((100 * queries) / total)}% of its ${total} queries/window${forecastNote(total, observed)} filter ${column} by range`;
      repartition = command(cfg, now, table, 'repartition', table.table, explanation, {
        params: { partitionBy: 'toYYYYMM', partitionColumn: column, database: table.database },
        queries,
        observed: observedOf(mine.filter((t) => rangeColumns(t).has(column))),
        benefit: queries,
        cost: table.rows / 1e6,
        approval: true,
      });
      commands.push(repartition);
      explanations.push(explanation);
    }

    for (const t of mine) {
      const mean = t.queries > 0 ? t.latencySumMs / t.queries : 0;
      if (t.queries < cfg.minCount || mean < cfg.minLatencyMs) continue;
      const choice = precomputeFor(t, table);
      if (!choice) continue;
      const name = precomputeName(choice);
      const target = planTarget({ action: 'precompute', table: table.table, params: { name } });
      if (table.precomputed.includes(name) || cooling(target)) continue;
      const what = `${choice.template === 'count_by' ? 'count' : `sum of ${choice.value}`} by ${choice.template === 'daily_sum' ? `day of ${choice.groupBy}` : choice.groupBy}`;
      const explanation = `precompute ${what} on ${table.database}.${table.table} for hot template ${t.templateId}: ${t.queries}/window${forecastNote(t.queries, t.observed ?? t.queries)} at ${mean.toFixed(0)} ms (${t.rowsRead} rows read)`;
      commands.push(
        command(cfg, now, table, 'precompute', target, explanation, {
          params: {
            template: choice.template,
            groupBy: choice.groupBy,
            ...(choice.value ? { value: choice.value } : {}),
            name,
            database: table.database,
            templateId: t.templateId,
            // a table's views keep reading the table they were made on: its repartition goes first
            ...(repartition ? { dependsOn: repartition.commandId } : {}),
          },
          queries: t.queries,
          observed: t.observed ?? t.queries,
          benefit: t.queries * mean * 0.9,
          cost: table.rows / 1e6,
          approval: cfg.manual,
        }),
      );
      explanations.push(explanation);
    }
  }
  return { commands, explanations };
}

/** The columns a template filters by range. */
const rangeColumns = (t: TemplateStats) => new Set(t.predicates.filter((p) => RANGE_OPS.has(p.op)).map((p) => p.column));

/** What an explanation adds when the forecast raised a count above the newest window's. */
const forecastNote = (planned: number, observed: number) => (planned > observed ? ` forecast (${observed} in the last window)` : '');

function command(
  cfg: ChPlanConfig,
  now: number,
  table: ChTableState,
  action: 'precompute' | 'repartition',
  target: string,
  explanation: string,
  o: { params: Record<string, string>; queries: number; observed: number; benefit: number; cost: number; approval: boolean },
): AnyCommand {
  return {
    kind: 'partition',
    commandId: commandId(action, `${cfg.store}/${target}`, now, cfg.windowMs),
    issuedAt: now,
    deadline: now + cfg.cooldownMs,
    store: cfg.store,
    storeKind: 'clickhouse',
    table: table.table,
    partition: null,
    action,
    params: o.params,
    // the templates' newest window, raised to their forecast peak where that is higher
    evidence: {
      seriesId: null,
      currentLoad: o.observed,
      forecastPeak: o.queries,
      forecastLower: o.queries,
      forecastUpper: o.queries,
      peakAt: null,
      capacity: null,
      model: o.queries > o.observed ? 'template-forecast' : 'observed',
    },
    expectedBenefit: o.benefit,
    expectedCost: o.cost,
    estimatedDurationMs: Math.max(1_000, Math.ceil(table.rows / 100)),
    requiresApproval: o.approval,
    policy: cfg.policy,
    explanation,
  };
}
