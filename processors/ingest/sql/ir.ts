/**
 * The compiled form of one statement template: what the real parser found, with every literal
 * replaced by a slot that points into the scanner's literal list. Compiling happens once per
 * template (cache miss); filling the slots from freshly scanned literals is all a cache hit costs.
 */
import type { Operation, ReadWriteClass } from '../../../schemas/types.js';

/** A predicate value: the n-th scanned literal, or fixed text (a $1 parameter, NULL, ...). */
export type Slot = number | { text: string };

/** Comparison operators kept in features; only the first seven constrain key ranges. */
export type PredOp =
  | '='
  | '<'
  | '<='
  | '>'
  | '>='
  | 'in'
  | 'between'
  | '<>'
  | 'not in'
  | 'not between'
  | 'like'
  | 'is null'
  | 'is not null'
  | 'other';

export interface PredIR {
  /** Resolved table name (alias resolved), null when ambiguous. */
  table: string | null;
  column: string;
  op: PredOp;
  slots: Slot[];
  /** For an unqualified column in a multi-table scope: the tables it may belong to. */
  cands?: string[];
}

/** Boolean structure of a WHERE clause over predicate indices; 'any' = unknown / no constraint. */
export type BoolIR = { t: 'and'; c: BoolIR[] } | { t: 'or'; c: BoolIR[] } | { t: 'pred'; i: number } | { t: 'any' };

/** One SELECT/UPDATE/DELETE/INSERT scope: the tables it ranges over and what constrains them. */
export interface ScopeIR {
  tables: string[];
  where: BoolIR;
}

import type { QueryShape } from './shape.js';
import type { TableKey } from '../../../schemas/keyBuckets.js';

export interface CompiledTemplate {
  templateId: string;
  template: string | null;
  operation: Operation;
  readWrite: ReadWriteClass;
  tables: string[];
  joins: string[];
  preds: PredIR[];
  scopes: ScopeIR[];
  parseError: string | null;
  /** True when literals could not be mapped to slots reliably: re-parse on every hit. */
  volatile: boolean;
  /** Group-by columns and aggregate calls of a SELECT (shape.ts); absent: none known. */
  shape?: QueryShape;
  /** Key plans for the pipeline's key config, memoised on the cached template (keyplan.ts). */
  keyPlans?: KeyPlans;
}

export const ANY: BoolIR = { t: 'any' };

export function andOf(c: BoolIR[]): BoolIR {
  const k = c.filter((x) => x.t !== 'any');
  if (k.length === 0) return ANY;
  if (k.length === 1) return k[0]!;
  return { t: 'and', c: k };
}

export function orOf(c: BoolIR[]): BoolIR {
  if (c.length === 0 || c.some((x) => x.t === 'any')) return ANY;
  if (c.length === 1) return c[0]!;
  return { t: 'or', c };
}

/** Read/write class of an operation given whether it reads tables other than its target. */
export function classify(op: Operation, readsOthers: boolean): ReadWriteClass {
  if (op === 'ddl') return 'ddl';
  if (op === 'insert' || op === 'update' || op === 'delete') return readsOthers ? 'mixed' : 'write';
  return 'read';
}

/** Normalizes an operator spelling to a PredOp, flipping it when the column is on the right. */
export function normOp(op: string, flipped: boolean): PredOp {
  const o = op.toLowerCase();
  const flip: Record<string, PredOp> = { '<': '>', '<=': '>=', '>': '<', '>=': '<=' };
  switch (o) {
    case '=':
    case '==':
      return '=';
    case '<':
    case '<=':
    case '>':
    case '>=':
      return flipped ? flip[o]! : (o as PredOp);
    case '<>':
    case '!=':
      return '<>';
    case 'in':
      return 'in';
    case 'not in':
      return 'not in';
    case 'between':
      return 'between';
    case 'not between':
      return 'not between';
    case 'like':
    case 'ilike':
    case '~~':
    case '~~*':
      return 'like';
    default:
      return 'other';
  }
}

export function uniq<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

/** The names visible in one FROM scope: alias or table name -> table (null for subqueries / CTEs). */
export interface ScopeNames {
  names: Map<string, string | null>;
  tables: string[];
}

/** The table a (possibly qualified) column belongs to; candidates when unqualified and ambiguous. */
export function resolveColumnTable(scope: ScopeNames, q: string | null): { table: string | null; cands?: string[] } {
  if (q !== null) return { table: scope.names.get(q) ?? (scope.names.has(q) ? null : q) };
  if (scope.tables.length === 1) return { table: scope.tables[0]! };
  return { table: null, cands: scope.tables.slice() };
}

/** Records a predicate on a column of `scope` and returns its node in the WHERE structure. */
export function addPredicate(preds: PredIR[], scope: ScopeNames, c: { q: string | null; col: string }, op: PredOp, slots: Slot[]): BoolIR {
  const r = resolveColumnTable(scope, c.q);
  const p: PredIR = { table: r.table, column: c.col, op, slots };
  if (r.cands) p.cands = r.cands;
  preds.push(p);
  return { t: 'pred', i: preds.length - 1 };
}

/** A table's partition key and its key-range bucket boundaries (schemas/keyBuckets.ts names the buckets). */
export type PartitionKeySpec = TableKey;

/**
 * `pred`: index of the one predicate on the key column (it constrains this table, and lies on
 * an AND-only path of the table's one scope); -1 when no predicate of the template names the
 * key column, so the key is unconstrained.
 */
export interface KeyPlan {
  pred: number;
}

/** Plans per table of a compiled template (`byTable[i]` for `tables[i]`), for one key config. */
export interface KeyPlans {
  partitionKeys: Record<string, PartitionKeySpec>;
  byTable: (KeyPlan | null)[];
}
