/**
 * Pure validation for PostgreSQL commands: split points, merge adjacency, a rekey's new ranges,
 * column lists, and the
 * fixed whitelists of derived-attribute expressions and precomputation templates. A command's
 * text never becomes SQL: each accepted form is re-rendered here from quoted, catalog-checked
 * column names and a closed set of keywords.
 */
import { DERIVABLE_FUNCTIONS } from '../../schemas/commandParams.js';
import { isPlainIdentifier, quoteIdent } from '../../stores/identifiers.js';
import { HASH_MAX, HASH_MIN } from '../../schemas/keyHash.js';
import type { PrecomputeSpec } from '../../stores/postgres/precomputed.js';

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };
const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const no = <T>(reason: string): Checked<T> => ({ ok: false, reason });

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** An int64 parameter as canonical text. */
export function int64Param(raw: string | undefined, name: string): Checked<string> {
  if (raw === undefined) return no(`missing parameter ${name}`);
  if (!/^-?[0-9]{1,19}$/.test(raw)) return no(`parameter ${name} is not an integer key: ${JSON.stringify(raw)}`);
  const b = BigInt(raw);
  if (b < INT64_MIN || b > INT64_MAX) return no(`parameter ${name} is outside the bigint range: ${raw}`);
  return ok(b.toString());
}

/** The split point must lie strictly inside the shard's range (lo, hi), and for a hashed key inside the hash's range. */
export function checkSplitPoint(raw: string | undefined, lo: string | null, hi: string | null, keyHash = false): Checked<string> {
  const p = int64Param(raw, 'splitAt');
  if (!p.ok) return p;
  const k = BigInt(p.value);
  // a hashed key's ranges cut its int4 hash: a point outside it leaves one side empty forever
  if (keyHash && (k <= BigInt(HASH_MIN) || k > BigInt(HASH_MAX)))
    return no(`splitAt ${p.value} is outside the key hash's range (${HASH_MIN + 1} to ${HASH_MAX})`);
  if (lo !== null && k <= BigInt(lo)) return no(`splitAt ${p.value} is not above the shard's lower bound ${lo}`);
  if (hi !== null && k >= BigInt(hi)) return no(`splitAt ${p.value} is not below the shard's upper bound ${hi}`);
  return p;
}

/** A non-negative integer of milliseconds up to `max`, or `dflt` when absent. */
export function msParam(raw: string | undefined, name: string, dflt: number, max: number): Checked<number> {
  if (raw === undefined) return ok(dflt);
  if (!/^[0-9]{1,10}$/.test(raw)) return no(`parameter ${name} is not a whole number of milliseconds: ${JSON.stringify(raw)}`);
  const v = Number(raw);
  if (v > max) return no(`parameter ${name} ${v} is above the limit ${max}`);
  return ok(v);
}

export interface RangeLike {
  shard: string;
  lo: string | null;
  hi: string | null;
  node: string;
}

/** Two shards can merge when they touch ([a.lo, a.hi) then [b.lo, b.hi)) and share a node. */
export function checkMerge(a: RangeLike, b: RangeLike): Checked<{ lo: string | null; hi: string | null }> {
  if (a.shard === b.shard) return no('a shard cannot merge with itself');
  if (a.node !== b.node) return no(`shards ${a.shard} (${a.node}) and ${b.shard} (${b.node}) are on different nodes; move one first`);
  if (a.hi !== null && b.lo !== null && a.hi === b.lo) return ok({ lo: a.lo, hi: b.hi });
  if (b.hi !== null && a.lo !== null && b.hi === a.lo) return ok({ lo: b.lo, hi: a.hi });
  return no(`shards ${a.shard} and ${b.shard} are not adjacent`);
}

/** A comma-separated list of 1..8 distinct columns, each plain and present in `columns`. */
export function checkColumnList(raw: string | undefined, columns: ReadonlyMap<string, string>): Checked<string[]> {
  if (raw === undefined || raw.trim() === '') return no('missing parameter columns');
  const list = raw.split(',').map((s) => s.trim());
  if (list.length > 8) return no('at most 8 index columns');
  for (const c of list) {
    if (!isPlainIdentifier(c)) return no(`column ${JSON.stringify(c)} is not a plain identifier`);
    if (!columns.has(c)) return no(`column ${c} does not exist`);
  }
  if (new Set(list).size !== list.length) return no('a column appears twice');
  return ok(list);
}

const TEXTY = new Set(['text', 'character varying', 'varchar']);
const INTY = new Set(['bigint', 'integer', 'smallint']);
const CONCATABLE = new Set([...TEXTY, ...INTY, 'numeric', 'boolean']);
const TRUNC_UNITS = new Set(['minute', 'hour', 'day', 'week', 'month', 'year']);

export interface DerivedExpr {
  /** SQL built from quoted identifiers and fixed keywords only. */
  sql: string;
  /** Result type of the generated column. */
  type: string;
  /** Columns the expression reads. */
  uses: string[];
}

const baseType = (t: string) => t.replace(/\(.*\)$/, '').trim();

/**
 * The whitelist of derived-attribute expression templates:
 *   lower(col) | upper(col) | length(col)            col text
 *   date_trunc('<unit>', col)                        col timestamptz/timestamp, unit minute..year (UTC)
 *   col1 || ':' || col2                              text/integer/numeric/boolean columns, separator ':' '-' '/' '|' or '_'
 *   col % N                                          integer col, 1 <= N <= 1000000 (a bucket)
 * Anything else is rejected.
 */
export function parseDerivedExpression(raw: string | undefined, columns: ReadonlyMap<string, string>): Checked<DerivedExpr> {
  if (raw === undefined || raw.trim() === '') return no('missing parameter expression');
  const s = raw.trim();
  if (s.length > 200) return no('expression too long');
  const col = (name: string): Checked<string> => {
    if (!isPlainIdentifier(name)) return no(`${JSON.stringify(name)} is not a plain column name`);
    const t = columns.get(name);
    return t === undefined ? no(`column ${name} does not exist`) : ok(baseType(t));
  };
  let m = new RegExp(`^(${DERIVABLE_FUNCTIONS.join('|')})\\(\\s*([a-z_][a-z0-9_]*)\\s*\\)$`).exec(s);
  if (m) {
    const t = col(m[2]!);
    if (!t.ok) return t;
    if (!TEXTY.has(t.value)) return no(`${m[1]}() needs a text column, ${m[2]} is ${t.value}`);
    return ok({ sql: `${m[1]}(${quoteIdent(m[2]!)})`, type: m[1] === 'length' ? 'integer' : 'text', uses: [m[2]!] });
  }
  m = /^date_trunc\(\s*'([a-z]+)'\s*,\s*([a-z_][a-z0-9_]*)\s*\)$/.exec(s);
  if (m) {
    if (!TRUNC_UNITS.has(m[1]!)) return no(`date_trunc unit ${JSON.stringify(m[1])} is not one of ${[...TRUNC_UNITS].join(', ')}`);
    const t = col(m[2]!);
    if (!t.ok) return t;
    if (t.value === 'timestamp with time zone') {
      return ok({
        sql: `date_trunc('${m[1]}', (${quoteIdent(m[2]!)} AT TIME ZONE 'UTC'))`,
        type: 'timestamp without time zone',
        uses: [m[2]!],
      });
    }
    if (t.value === 'timestamp without time zone') {
      return ok({ sql: `date_trunc('${m[1]}', ${quoteIdent(m[2]!)})`, type: 'timestamp without time zone', uses: [m[2]!] });
    }
    return no(`date_trunc needs a timestamp column, ${m[2]} is ${t.value}`);
  }
  m = /^([a-z_][a-z0-9_]*)\s*\|\|\s*'([:\-/|_])'\s*\|\|\s*([a-z_][a-z0-9_]*)$/.exec(s);
  if (m) {
    for (const c of [m[1]!, m[3]!]) {
      const t = col(c);
      if (!t.ok) return t;
      if (!CONCATABLE.has(t.value)) return no(`cannot concatenate ${c} of type ${t.value}`);
    }
    return ok({ sql: `(${quoteIdent(m[1]!)}::text || '${m[2]}' || ${quoteIdent(m[3]!)}::text)`, type: 'text', uses: [m[1]!, m[3]!] });
  }
  m = /^([a-z_][a-z0-9_]*)\s*%\s*([0-9]{1,7})$/.exec(s);
  if (m) {
    const t = col(m[1]!);
    if (!t.ok) return t;
    if (!INTY.has(t.value)) return no(`% needs an integer column, ${m[1]} is ${t.value}`);
    const n = Number(m[2]);
    if (n < 1 || n > 1_000_000) return no(`bucket count ${n} must be in 1..1000000`);
    return ok({ sql: `(${quoteIdent(m[1]!)} % ${n})`, type: t.value, uses: [m[1]!] });
  }
  return no(
    `expression ${JSON.stringify(s.slice(0, 60))} is not one of the allowed templates (lower(col), upper(col), length(col), date_trunc('unit', col), col || ':' || col, col % N)`,
  );
}

const NUMERIC = new Set(['numeric', 'bigint', 'integer', 'smallint', 'double precision', 'real']);

/**
 * The whitelist of precomputation templates (each a materialized view per shard):
 *   count_by: SELECT g, count(*) AS n GROUP BY g                         (params.groupBy)
 *   sum_by:   SELECT g, count(*) AS n, sum(v) AS total GROUP BY g        (params.groupBy, params.value)
 *   daily_sum: SELECT date_trunc('day', ts) AS day, count(*), sum(v)     (params.groupBy = timestamptz column, params.value)
 */
export function checkPrecompute(params: Record<string, string>, columns: ReadonlyMap<string, string>): Checked<PrecomputeSpec> {
  const template = params.template;
  if (template !== 'count_by' && template !== 'sum_by' && template !== 'daily_sum') {
    return no(`template ${JSON.stringify(template ?? null)} is not one of count_by, sum_by, daily_sum`);
  }
  const name = params.name ?? `${template}_${params.groupBy ?? ''}`;
  if (!isPlainIdentifier(name) || name.length > 30)
    return no(`name ${JSON.stringify(name)} is not a plain identifier of at most 30 characters`);
  const g = params.groupBy;
  if (!isPlainIdentifier(g) || !columns.has(g)) return no(`groupBy ${JSON.stringify(g ?? null)} is not a column`);
  const gt = baseType(columns.get(g)!);
  if (template === 'daily_sum' && gt !== 'timestamp with time zone')
    return no(`daily_sum needs a timestamptz groupBy column, ${g} is ${gt}`);
  let value: string | null = null;
  if (template !== 'count_by') {
    const v = params.value;
    if (!isPlainIdentifier(v) || !columns.has(v)) return no(`value ${JSON.stringify(v ?? null)} is not a column`);
    if (!NUMERIC.has(baseType(columns.get(v)!))) return no(`value column ${v} is not numeric`);
    value = v;
  }
  return ok({ template, name, groupBy: g, value });
}

/**
 * Split points of a rekey's new ranges: from each old shard's quantiles of the new key (each
 * weighted by that shard's rows), up to `n - 1` strictly increasing bounds so the `n` ranges hold
 * about equal rows; fewer when the key has fewer distinct values.
 */
export function rangeBounds(quantiles: readonly { values: readonly string[]; rows: number }[], n: number): string[] {
  const samples = quantiles
    .flatMap((q) => q.values.map((v) => ({ v: BigInt(v), w: q.rows })))
    .sort((a, b) => (a.v < b.v ? -1 : a.v > b.v ? 1 : 0));
  const total = samples.reduce((a, x) => a + x.w, 0);
  const bounds: bigint[] = [];
  let acc = 0;
  for (const x of samples) {
    acc += x.w;
    if (bounds.length >= n - 1 || acc < ((bounds.length + 1) * total) / n) continue;
    if (bounds.length === 0 || bounds.at(-1)! < x.v) bounds.push(x.v);
  }
  return bounds.map(String);
}
