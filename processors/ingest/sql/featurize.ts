/**
 * The SQL featurizer: one QueryEvent in, its QueryFeatures out — template and template id,
 * operation, read/write class, tables, predicates, joins, and the key range touched on each
 * table's configured partition key. It is what turns raw statements into a workload signal.
 *
 * Speed comes from the template cache: the statement is scanned (no grammar) into a key with
 * literals removed; the first statement with a given key is parsed with the real parser and
 * compiled (see ir.ts); every later one only re-fills the compiled predicates from its scanned
 * literals. It never throws: an unparseable statement yields features with `parseError` set.
 */
import type { KeyRange, Operation, Predicate, QueryEvent, QueryFeatures, ReadWriteClass } from '../../../schemas/types.js';
import { classify, type CompiledTemplate, type PredIR } from './ir.js';
import { compileTemplate, guessOperation } from './compile.js';
import { ALL, evalWhere, keyRangesFor, num, point, pointsOf, predSet, union, type IntervalSet, type PartitionKeySpec } from './keyrange.js';
import { keyPlansOf, type KeyPlans } from './keyplan.js';
import { loadPg } from './pgTree.js';
import type { TemplateCache } from './templateCache.js';
import { scanSql, type ScannedLiteral } from './scanner.js';
import { templateHash } from './templateId.js';

export type { PartitionKeySpec } from './keyrange.js';

export interface FeaturizeConfig {
  /** Partition key per table name, with the bucket boundaries of its key ranges. */
  partitionKeys: Record<string, PartitionKeySpec>;
  /** Most point keys reported per table per query (for hot keys). Default 16. */
  maxPointKeys?: number;
  /** Statements longer than this are not parsed (features with parseError). Default 100,000. */
  maxSqlLength?: number;
}

/** QueryFeatures plus what the window needs and the Avro record does not carry. */
export interface FeaturesWithKeys extends QueryFeatures {
  /** Partition-key values touched per table, when they are a small set of points. */
  pointKeys: Record<string, string[]>;
}

/** Loads the WASM PostgreSQL parser. Call (and await) once before featurizing postgres SQL. */
export async function initSqlParsers(): Promise<void> {
  await loadPg();
}

const OPS = new Set<Operation>(['select', 'insert', 'update', 'delete', 'ddl', 'other']);

function rwOf(op: Operation): ReadWriteClass {
  return classify(op, false);
}

/**
 * `orders__s1` → `orders`: a shard's physical table (`<table>__<shard>`, executors/postgres/
 * layout.ts) names its logical table when that table has a configured partition key, so
 * statements collected from the shard nodes count on the table the engine plans for. Applied
 * once per compiled template (the cache belongs to one pipeline, hence one config).
 */
function toLogicalTables(c: CompiledTemplate, cfg: FeaturizeConfig): CompiledTemplate {
  const logical = (name: string): string => {
    const i = name.lastIndexOf('__');
    return i > 0 && cfg.partitionKeys[name.slice(0, i)] ? name.slice(0, i) : name;
  };
  if (!c.tables.some((t) => logical(t) !== t)) return c;
  const uniq = (xs: string[]) => [...new Set(xs.map(logical))];
  return {
    ...c,
    tables: uniq(c.tables),
    joins: c.joins.map((j) => (j.split('__').length > 1 ? j.replace(/[A-Za-z_][A-Za-z0-9_]*__[A-Za-z0-9_]+/g, (m) => logical(m)) : j)),
    preds: c.preds.map((p) => ({ ...p, table: p.table === null ? null : logical(p.table), ...(p.cands ? { cands: uniq(p.cands) } : {}) })),
    scopes: c.scopes.map((s) => ({ ...s, tables: uniq(s.tables) })),
  };
}

/** True when the record has at least one own key (without building the array of keys). */
function hasKeys(r: Record<string, string> | null | undefined): r is Record<string, string> {
  if (!r) return false;
  for (const k in r) if (Object.hasOwn(r, k)) return true;
  return false;
}

/** Partition-key value given explicitly by the producer for `table`, if any. */
function explicitKey(ev: QueryEvent, table: string, column: string): string | undefined {
  const kv = ev.keyValues;
  // most events carry no key values: skip building the "table.column" lookup key
  if (!hasKeys(kv)) return undefined;
  return kv[`${table}.${column}`] ?? kv[column];
}

/** One compiled predicate's values, filled from this statement's literals. */
function fillPred(p: PredIR, lits: readonly ScannedLiteral[]): string[] {
  const slots = p.slots;
  const vs: string[] = new Array(slots.length);
  for (let j = 0; j < slots.length; j++) {
    const s = slots[j]!;
    vs[j] = typeof s === 'number' ? (lits[s]?.value ?? '') : s.text;
  }
  return vs;
}

/** Each compiled predicate's values, filled from this statement's literals. */
function fillValues(preds: readonly PredIR[], lits: readonly ScannedLiteral[]): string[][] {
  const out: string[][] = new Array(preds.length);
  for (let i = 0; i < preds.length; i++) out[i] = fillPred(preds[i]!, lits);
  return out;
}

/**
 * The key set one planned predicate admits in this statement. An `=` on a numeric literal (the
 * usual case) is answered without filling the predicate's values.
 */
function plannedSet(p: PredIR, lits: readonly ScannedLiteral[]): IntervalSet {
  const s0 = p.slots[0];
  if (p.op === '=' && p.slots.length === 1 && typeof s0 === 'number') {
    const x = num(lits[s0]?.value ?? '');
    if (x !== null) return [point(x)];
  }
  return predSet(p.op, fillPred(p, lits)) ?? ALL;
}

/**
 * Hot keys when the key set is not a few points (non-numeric keys): the values of the `=` and
 * IN predicates on the key column, if there are at most `max` of them.
 */
function equalityKeys(
  preds: readonly PredIR[],
  table: string,
  column: string,
  lits: readonly ScannedLiteral[],
  max: number,
): string[] | null {
  const eq: string[] = [];
  for (const p of preds) {
    if (p.column === column && (p.table === table || p.table === null) && (p.op === '=' || p.op === 'in')) eq.push(...fillPred(p, lits));
  }
  return eq.length > 0 && eq.length <= max ? eq : null;
}

/**
 * What featurizing one event finds, before any record is built: the compiled template, each of
 * its predicates' values in this statement, the key ranges touched and the point keys. The
 * ingest hot path reads this directly (the window needs neither the predicate records nor a
 * copy of the event's fields); `featurize` turns it into the full record.
 */
export interface Analysis {
  compiled: CompiledTemplate;
  /**
   * values[i]: the filled values of compiled.preds[i]; null when the key plans did not need them
   * (`valuesOf` fills them on demand).
   */
  values: string[][] | null;
  /** This statement's scanned literals (what `values` are filled from). */
  literals: ScannedLiteral[];
  keyRanges: KeyRange[];
  /** Partition-key values touched per table, when they are a small set of points. */
  pointKeys: Record<string, string[]>;
}

/**
 * Features of one event. `cache` is shared across calls (one per pipeline). Never throws.
 */
export function featurize(ev: QueryEvent, cfg: FeaturizeConfig, cache: TemplateCache): FeaturesWithKeys {
  return featuresOf(ev, analyze(ev, cfg, cache));
}

/** Each predicate's values in this statement (filled now if the analysis did not need them). */
export function valuesOf(a: Analysis): string[][] {
  a.values ??= fillValues(a.compiled.preds, a.literals);
  return a.values;
}

/** The full features record of an analysed event. */
export function featuresOf(ev: QueryEvent, a: Analysis): FeaturesWithKeys {
  const c = a.compiled;
  const values = valuesOf(a);
  const predicates: Predicate[] = new Array(c.preds.length);
  for (let i = 0; i < c.preds.length; i++) {
    const p = c.preds[i]!;
    predicates[i] = { table: p.table, column: p.column, op: p.op, values: values[i]! };
  }
  return {
    eventId: ev.eventId,
    ts: ev.ts,
    source: ev.source,
    templateId: c.templateId,
    template: c.template,
    operation: c.operation,
    readWrite: c.readWrite,
    tables: c.tables,
    predicates,
    keyRanges: a.keyRanges,
    joins: c.joins,
    parseError: c.parseError,
    pointKeys: a.pointKeys,
  };
}

/** Template, predicate values, key ranges and point keys of one event. Never throws. */
export function analyze(ev: QueryEvent, cfg: FeaturizeConfig, cache: TemplateCache): Analysis {
  const maxPoints = cfg.maxPointKeys ?? 16;
  let c: CompiledTemplate;
  let values: string[][] | null = [];
  let lits: ScannedLiteral[] = [];
  /** Key plans, for a template that came out of the cache (worked out once per template). */
  let plans: KeyPlans | null = null;
  if (ev.sql === null || ev.sql === undefined || ev.sql.trim() === '') {
    const operation = ev.operation && OPS.has(ev.operation) ? ev.operation : 'other';
    const tables = [...new Set(ev.tables ?? [])];
    c = {
      templateId: ev.fingerprint ?? templateHash(`fp\n${operation}\n${[...tables].sort().join(',')}`),
      template: null,
      operation,
      readWrite: rwOf(operation),
      tables,
      joins: [],
      preds: [],
      scopes: [],
      parseError: null,
      volatile: false,
    };
  } else if (ev.sql.length > (cfg.maxSqlLength ?? 100_000)) {
    const operation = guessOperation(ev.sql.slice(0, 64));
    c = {
      templateId: templateHash(`long\n${ev.sql.slice(0, 256)}`),
      template: null,
      operation,
      readWrite: rwOf(operation),
      tables: [...new Set(ev.tables ?? [])],
      joins: [],
      preds: [],
      scopes: [],
      parseError: `statement too long to parse (${ev.sql.length} chars)`,
      volatile: false,
    };
  } else {
    const sql = ev.sql;
    let scanned: ReturnType<typeof scanSql>;
    try {
      scanned = scanSql(sql, ev.dialect);
    } catch {
      // the scanner takes any text; were it ever to throw, the statement is its own key (parsed once, like a new template)
      scanned = { key: sql, literals: [] };
    }
    lits = scanned.literals;
    const hit = cache.get(ev.dialect, scanned.key);
    if (hit && !hit.volatile) {
      cache.stats.hits++;
      c = hit;
      plans = keyPlansOf(c, cfg.partitionKeys);
      values = null;
    } else {
      if (hit) cache.stats.volatileHits++;
      else cache.stats.misses++;
      c = toLogicalTables(compileTemplate(sql, ev.dialect, scanned.key, lits), cfg);
      if (!hit) cache.set(ev.dialect, scanned.key, c);
      values = fillValues(c.preds, lits);
    }
    if (c.parseError !== null && c.tables.length === 0 && ev.tables.length > 0) {
      c = { ...c, tables: [...new Set(ev.tables)] };
      plans = null;
      values ??= fillValues(c.preds, lits);
    }
  }

  let keyRanges: KeyRange[] = [];
  const pointKeys: Record<string, string[]> = {};
  const tables = c.tables;
  for (let t = 0; t < tables.length; t++) {
    const table = tables[t]!;
    const spec = cfg.partitionKeys[table];
    if (!spec) continue;
    const given = explicitKey(ev, table, spec.column);
    let set: IntervalSet | null = null;
    if (given !== undefined) {
      const x = num(given);
      set = x === null ? null : [point(x)];
      pointKeys[table] = [x === null ? given : String(x)];
      if (set === null) {
        keyRanges.push({ table, column: spec.column, lo: null, hi: null, bucket: '*' });
        continue;
      }
    } else {
      const plan = plans?.byTable[t];
      if (plan) {
        // the one predicate on the key (or none): what the general path finds, without the others
        set = plan.pred === -1 ? ALL : plannedSet(c.preds[plan.pred]!, lits);
      } else {
        values ??= fillValues(c.preds, lits);
        for (const s of c.scopes) {
          if (!s.tables.includes(table)) continue;
          const part = evalWhere(s.where, c.preds, values, table, spec.column);
          set = set === null ? part : union(set, part);
        }
        if (set === null) set = ALL;
      }
      const keys = pointsOf(set, maxPoints) ?? equalityKeys(c.preds, table, spec.column, lits, maxPoints);
      if (keys) pointKeys[table] = keys;
    }
    const krs = keyRangesFor(table, spec, set);
    if (keyRanges.length === 0) keyRanges = krs;
    else for (const kr of krs) keyRanges.push(kr);
  }
  // tables without a configured key: explicit keyValues still name hot keys
  if (hasKeys(ev.keyValues)) {
    for (const table of c.tables) {
      if (pointKeys[table] || cfg.partitionKeys[table]) continue;
      const ks = Object.entries(ev.keyValues).filter(([k]) => !k.includes('.') || k.startsWith(`${table}.`));
      if (ks.length > 0)
        pointKeys[table] = ks.slice(0, maxPoints).map(([k, v]) => `${k.includes('.') ? k.slice(table.length + 1) : k}=${v}`);
    }
  }

  return { compiled: c, values, literals: lits, keyRanges, pointKeys };
}

/** The Avro record only (drops `pointKeys`), for the optional features topic. */
export function toQueryFeatures(f: FeaturesWithKeys): QueryFeatures {
  const { pointKeys: _drop, ...rest } = f;
  void _drop;
  return rest;
}
