/**
 * Pure validation for ClickHouse commands. A command's text never becomes SQL: the new
 * partition key is rendered from a closed set of templates (params.partitionBy, partitionColumn,
 * partitionN) over a column that exists in system.columns; the shadow table's engine clause is
 * re-rendered from system.tables' structured fields, and only when every piece is a plain
 * column name, a number or a known keyword. What cannot be re-rendered that way is refused.
 */
import { createHash } from 'node:crypto';
import { isPlainIdentifier, quoteIdent } from '../../stores/identifiers.js';

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };
const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const no = <T>(reason: string): Checked<T> => ({ ok: false, reason });

// ---------------------------------------------------------------------------------------------
// Column types (ClickHouse type names as system.columns writes them)

const INT = /^U?Int(8|16|32|64|128|256)$/;
const DATE = /^(Date|Date32|DateTime|DateTime\('[A-Za-z0-9_/+-]*'\)|DateTime64\([0-9]{1,2}(, '[A-Za-z0-9_/+-]*')?\))$/;
const FLOAT = /^(Float32|Float64|Decimal(32|64|128|256)?\([0-9, ]+\))$/;
const KEYABLE = /^(String|FixedString\([0-9]+\)|LowCardinality\(String\)|UUID|Bool|Enum(8|16)\(.*\))$/;

export const isIntType = (t: string) => INT.test(t);
export const isDateType = (t: string) => DATE.test(t);
export const isNumericType = (t: string) => INT.test(t) || FLOAT.test(t);
/** Types a partition key or a precomputation may group by: no Nullable, Float, Array, Map… */
export const isGroupableType = (t: string) => INT.test(t) || DATE.test(t) || KEYABLE.test(t);

// ---------------------------------------------------------------------------------------------
// The new partition key

export const PARTITION_TEMPLATES = ['column', 'toYYYYMM', 'toYYYYMMDD', 'toDate', 'toMonday', 'intDiv', 'hashMod', 'none'] as const;
export type PartitionTemplate = (typeof PARTITION_TEMPLATES)[number];

export interface PartitionKey {
  template: PartitionTemplate;
  column: string | null;
  n: number | null;
  /** The expression for PARTITION BY, from quoted identifiers and fixed function names only. */
  sql: string;
  /** The same expression as system.tables.partition_key writes it, to compare. */
  canonical: string;
}

/**
 * The whitelist of partition keys (params.partitionBy, params.partitionColumn, params.partitionN):
 *   column      col                      col Int*, Date*, String, FixedString, Enum, UUID, Bool
 *   toYYYYMM    toYYYYMM(col)            col Date / DateTime / DateTime64
 *   toYYYYMMDD  toYYYYMMDD(col)          idem
 *   toDate      toDate(col)              idem
 *   toMonday    toMonday(col)            idem
 *   intDiv      intDiv(col, N)           col Int*, 1 <= N <= 10^12
 *   hashMod     cityHash64(col) % N      any groupable col, 2 <= N <= 1024
 *   none        tuple()                  one partition
 * Nullable columns are refused (a nullable partition key is not allowed on current releases).
 */
export function checkPartitionKey(params: Record<string, string>, columns: ReadonlyMap<string, string>): Checked<PartitionKey> {
  const template = params.partitionBy;
  if (!(PARTITION_TEMPLATES as readonly string[]).includes(template ?? '')) {
    return no(`partitionBy ${JSON.stringify(template ?? null)} is not one of ${PARTITION_TEMPLATES.join(', ')}`);
  }
  const t = template as PartitionTemplate;
  if (t === 'none') return ok({ template: t, column: null, n: null, sql: 'tuple()', canonical: '' });
  const c = params.partitionColumn;
  if (!isPlainIdentifier(c)) return no(`partitionColumn ${JSON.stringify(c ?? null)} is not a plain column name`);
  const type = columns.get(c);
  if (type === undefined) return no(`column ${c} does not exist`);
  if (type.startsWith('Nullable(')) return no(`column ${c} is ${type}; a partition key cannot be nullable`);
  const q = quoteIdent(c);
  const nParam = (lo: number, hi: number): Checked<number> => {
    const raw = params.partitionN;
    if (raw === undefined || !/^[0-9]{1,13}$/.test(raw)) return no(`partitionN ${JSON.stringify(raw ?? null)} is not a whole number`);
    const n = Number(raw);
    if (n < lo || n > hi) return no(`partitionN ${n} is outside ${lo}..${hi}`);
    return ok(n);
  };
  switch (t) {
    case 'column':
      if (!isGroupableType(type)) return no(`column ${c} of type ${type} cannot be a partition key`);
      return ok({ template: t, column: c, n: null, sql: q, canonical: c });
    case 'toYYYYMM':
    case 'toYYYYMMDD':
    case 'toDate':
    case 'toMonday':
      if (!isDateType(type)) return no(`${t}() needs a Date or DateTime column, ${c} is ${type}`);
      return ok({ template: t, column: c, n: null, sql: `${t}(${q})`, canonical: `${t}(${c})` });
    case 'intDiv': {
      if (!isIntType(type)) return no(`intDiv() needs an integer column, ${c} is ${type}`);
      const n = nParam(1, 1e12);
      if (!n.ok) return n;
      return ok({ template: t, column: c, n: n.value, sql: `intDiv(${q}, ${n.value})`, canonical: `intDiv(${c}, ${n.value})` });
    }
    case 'hashMod': {
      if (!isGroupableType(type)) return no(`column ${c} of type ${type} cannot be hashed into a partition key`);
      const n = nParam(2, 1024);
      if (!n.ok) return n;
      return ok({ template: t, column: c, n: n.value, sql: `cityHash64(${q}) % ${n.value}`, canonical: `cityHash64(${c}) % ${n.value}` });
    }
  }
}

/** system.tables.partition_key as comparable text (quotes and spaces dropped). */
export const normalizeKey = (k: string) => k.replace(/[`"\s]/g, '');

// ---------------------------------------------------------------------------------------------
// The shadow table's engine clause

export interface TableMeta {
  engine: string;
  engineFull: string;
  partitionKey: string;
  sortingKey: string;
  primaryKey: string;
  samplingKey: string;
}

const ENGINES = new Set(['MergeTree', 'ReplacingMergeTree', 'SummingMergeTree', 'CollapsingMergeTree', 'VersionedCollapsingMergeTree']);

/** `a, b` (a key as system.tables writes it) → column names, or null when any part is an expression. */
function keyColumns(key: string, columns: ReadonlyMap<string, string>): string[] | null {
  if (key.trim() === '') return [];
  const parts = key.split(',').map((s) => s.trim().replace(/^`(.*)`$/, '$1'));
  return parts.every((p) => isPlainIdentifier(p) && columns.has(p)) ? parts : null;
}

/**
 * `ENGINE = … ORDER BY … [PRIMARY KEY …] [SAMPLE BY …] [SETTINGS …]` for a copy of `meta`'s
 * table with PARTITION BY `partitionSql`. Engine parameters must be column names, keys plain
 * column lists, settings `name = number`; tables with TTL, replication or old-style syntax are
 * refused, since re-rendering them from structured fields would not be faithful.
 */
export function renderEngine(meta: TableMeta, columns: ReadonlyMap<string, string>, partitionSql: string): Checked<string> {
  if (!ENGINES.has(meta.engine)) return no(`engine ${meta.engine} is not supported (MergeTree family without replication only)`);
  const full = meta.engineFull;
  if (!full.startsWith(meta.engine)) return no('engine_full does not start with the engine name');
  let rest = full.slice(meta.engine.length);
  let params: string[] = [];
  const m = /^\(([^()]*)\)/.exec(rest);
  if (m) {
    params = m[1]!.trim() === '' ? [] : m[1]!.split(',').map((s) => s.trim());
    rest = rest.slice(m[0].length);
  } else if (rest.startsWith('(')) {
    return no(`engine parameters of ${meta.engine} are not a plain column list`);
  }
  for (const p of params) {
    if (!isPlainIdentifier(p) || !columns.has(p))
      return no(`engine parameter ${JSON.stringify(p)} is not a column (old-style MergeTree syntax is not supported)`);
  }
  if (/\sTTL\s/.test(rest)) return no('tables with a TTL are not supported');
  const order = keyColumns(meta.sortingKey, columns);
  if (!order) return no(`sorting key ${JSON.stringify(meta.sortingKey)} is not a plain column list`);
  const primary = keyColumns(meta.primaryKey, columns);
  if (!primary) return no(`primary key ${JSON.stringify(meta.primaryKey)} is not a plain column list`);
  if (primary.some((c, i) => order[i] !== c)) return no('primary key is not a prefix of the sorting key');
  const sample = keyColumns(meta.samplingKey, columns);
  if (!sample || sample.length > 1) return no(`sampling key ${JSON.stringify(meta.samplingKey)} is not a single column`);
  const settings: string[] = [];
  const s = /\sSETTINGS\s(.*)$/.exec(rest);
  if (s) {
    for (const kv of s[1]!.split(',').map((x) => x.trim())) {
      const e = /^([a-z_][a-z0-9_]*) = ([0-9]{1,18})$/.exec(kv);
      if (!e) return no(`table setting ${JSON.stringify(kv.slice(0, 60))} is not of the form name = number`);
      settings.push(`${e[1]} = ${e[2]}`);
    }
  }
  const list = (cols: string[]) =>
    cols.length === 0 ? 'tuple()' : cols.length === 1 ? quoteIdent(cols[0]!) : `(${cols.map(quoteIdent).join(', ')})`;
  let sql = `${meta.engine}(${params.map(quoteIdent).join(', ')}) PARTITION BY ${partitionSql} ORDER BY ${list(order)}`;
  if (primary.length !== order.length && primary.length > 0) sql += ` PRIMARY KEY ${list(primary)}`;
  if (sample.length === 1) sql += ` SAMPLE BY ${quoteIdent(sample[0]!)}`;
  if (settings.length > 0) sql += ` SETTINGS ${settings.join(', ')}`;
  return ok(sql);
}

// ---------------------------------------------------------------------------------------------
// Names of the objects a command creates

/**
 * Deterministic names for a command's shadow (`n`), fenced original (`o`) and read gate (`g`):
 * a restarted executor finds what an earlier run of the same command left behind.
 */
export function workNames(table: string, commandId: string): { shadow: string; old: string; gate: string } {
  const h = createHash('sha1').update(commandId).digest('hex').slice(0, 8);
  const base = table.slice(0, 40);
  return { shadow: `${base}__scn_${h}`, old: `${base}__sco_${h}`, gate: `${base}__scg_${h}` };
}

/** Does `name` look like one of the work tables above (never a command's target)? */
export const isWorkName = (name: string) => /__sc[nog]_[0-9a-f]{8}$/.test(name);

// ---------------------------------------------------------------------------------------------
// Precomputation templates

export interface PrecomputeSpec {
  template: 'count_by' | 'sum_by' | 'daily_sum';
  name: string;
  groupBy: string;
  value: string | null;
  valueIsInt: boolean;
}

/**
 * The whitelist of precomputations (a SummingMergeTree target fed by a materialized view):
 *   count_by:  sc_grp = col,          sc_n = count()                        (params.groupBy)
 *   sum_by:    sc_grp = col,          sc_n = count(), sc_total = sum(value) (params.groupBy, params.value)
 *   daily_sum: sc_grp = toDate(col),  sc_n = count(), sc_total = sum(value) (groupBy Date/DateTime)
 * Output columns carry an `sc_` prefix so no alias can equal a source column (ClickHouse 18.16
 * resolves such aliases ambiguously); sources with sc_* columns are refused.
 */
export function checkPrecompute(params: Record<string, string>, columns: ReadonlyMap<string, string>): Checked<PrecomputeSpec> {
  const template = params.template;
  if (template !== 'count_by' && template !== 'sum_by' && template !== 'daily_sum') {
    return no(`template ${JSON.stringify(template ?? null)} is not one of count_by, sum_by, daily_sum`);
  }
  const g = params.groupBy;
  if (!isPlainIdentifier(g) || !columns.has(g)) return no(`groupBy ${JSON.stringify(g ?? null)} is not a column`);
  const name = params.name ?? `${template}_${g}`;
  if (!isPlainIdentifier(name) || name.length > 30)
    return no(`name ${JSON.stringify(name)} is not a plain identifier of at most 30 characters`);
  for (const c of ['sc_grp', 'sc_n', 'sc_total'])
    if (columns.has(c)) return no(`the table has a column ${c}, which the precomputation uses as an output name`);
  const gt = columns.get(g)!;
  if (template === 'daily_sum' ? !isDateType(gt) : !isGroupableType(gt))
    return no(`groupBy column ${g} of type ${gt} cannot be grouped by ${template}`);
  let value: string | null = null;
  let valueIsInt = false;
  if (template !== 'count_by') {
    const v = params.value;
    if (!isPlainIdentifier(v) || !columns.has(v)) return no(`value ${JSON.stringify(v ?? null)} is not a column`);
    const vt = columns.get(v)!;
    if (!isNumericType(vt)) return no(`value column ${v} is ${vt}, not numeric`);
    value = v;
    valueIsInt = isIntType(vt);
  }
  return ok({ template, name, groupBy: g, value, valueIsInt });
}

/** The SELECT list and GROUP BY of a precomputation, from quoted identifiers only. */
export function renderPrecompute(spec: PrecomputeSpec): string {
  const g = quoteIdent(spec.groupBy);
  const grp = spec.template === 'daily_sum' ? `toDate(${g})` : g;
  const total = spec.value === null ? '' : `, sum(${spec.valueIsInt ? 'toInt64' : 'toFloat64'}(${quoteIdent(spec.value)})) AS sc_total`;
  return `${grp} AS sc_grp, count() AS sc_n${total}`;
}

/** Target table and view names of a precomputation on `table`. */
export function precomputeNames(table: string, name: string): Checked<{ target: string; view: string }> {
  const target = `${table}__pc_${name}`;
  const view = `${target}_mv`;
  if (!isPlainIdentifier(view)) return no(`table name plus precomputation name is too long for ${view}`);
  return ok({ target, view });
}
