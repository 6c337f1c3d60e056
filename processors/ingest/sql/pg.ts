/**
 * Compiles a PostgreSQL statement with PostgreSQL's own grammar (libpg_query, WASM build) into a
 * CompiledTemplate. Literals in the parse tree are tied to the scanner's literals by their
 * position (libpg_query reports byte offsets); a literal that cannot be tied makes the template
 * `volatile` (re-parsed on each hit) rather than ever reusing a stale value.
 *
 * One walk over libpg_query's tree (expressions, FROM items, statements) sharing one context;
 * generic.ts is the same walk over node-sql-parser's tree. pgTree.ts reads the tree's nodes.
 */
import * as pg from 'libpg-query';
import { errorLine } from '../../../lib/errors.js';
import { pgColumnOf as columnOf, pgFunctionOfColumn } from './columns.js';
import { pgShape } from './shape.js';
import type { Operation } from '../../../schemas/types.js';
import type { ScannedLiteral } from './scanner.js';
import { byteOffsets, constValue, inner, kindOf, type Node, opOf } from './pgTree.js';
import {
  ANY,
  andOf,
  classify,
  normOp,
  orOf,
  uniq,
  type BoolIR,
  type CompiledTemplate,
  type PredIR,
  type PredOp,
  type ScopeIR,
  type Slot,
  addPredicate,
  resolveColumnTable,
  type ScopeNames,
} from './ir.js';

interface Ctx {
  sql: string;
  byteToLit: Map<number, number>;
  lits: ScannedLiteral[];
  preds: PredIR[];
  scopes: ScopeIR[];
  tables: string[];
  joins: Set<string>;
  ctes: Set<string>;
  volatile: boolean;
}

/** A slot for a value node, or undefined when the node is not a constant. */
function slotOf(node: Node | undefined, ctx: Ctx): Slot | undefined {
  if (!node) return undefined;
  const k = kindOf(node);
  const n = inner(node);
  if (k === 'TypeCast') return slotOf(n.arg, ctx);
  if (k === 'ParamRef') return { text: `$${n.number ?? 0}` };
  if (k !== 'A_Const') return undefined;
  const val = constValue(n);
  if (val === null) return { text: n.isnull ? 'NULL' : '' };
  if (n.boolval !== undefined) return { text: val.v };
  const idx = ctx.byteToLit.get(n.location ?? -1);
  const lit = idx === undefined ? undefined : ctx.lits[idx];
  if (idx !== undefined && lit && (val.num ? Number(lit.value) === Number(val.v) : lit.value === val.v)) return idx;
  ctx.volatile = true;
  return { text: val.v };
}

function addPred(ctx: Ctx, scope: ScopeNames, c: { q: string | null; col: string }, op: PredOp, slots: Slot[]): BoolIR {
  return addPredicate(ctx.preds, scope, c, op, slots);
}

function joinKey(a: string, b: string): string {
  return a < b ? `${a}=${b}` : `${b}=${a}`;
}

/** Converts an expression to BoolIR, collecting predicates, joins and nested scopes. */
function expr(node: Node | undefined, ctx: Ctx, scope: ScopeNames): BoolIR {
  if (!node) return ANY;
  const k = kindOf(node);
  const n = inner(node);
  if (k === 'BoolExpr') {
    const args = ((n.args ?? []) as Node[]).map((a) => expr(a, ctx, scope));
    if (n.boolop === 'AND_EXPR') return andOf(args);
    if (n.boolop === 'OR_EXPR') return orOf(args);
    return ANY; // NOT: predicates recorded, no constraint derived
  }
  if (k === 'A_Expr') {
    const kind = String(n.kind);
    const name = String(n.name?.[0]?.String?.sval ?? '');
    let l = columnOf(n.lexpr);
    const r = columnOf(n.rexpr);
    if (kind === 'AEXPR_OP') {
      if (l && r) {
        const lt = resolveColumnTable(scope, l.q).table;
        const rt = resolveColumnTable(scope, r.q).table;
        if (lt && rt && lt !== rt && name === '=') ctx.joins.add(joinKey(`${lt}.${l.col}`, `${rt}.${r.col}`));
        return ANY;
      }
      let flipped = false;
      let valNode = n.rexpr;
      if (!l && r) {
        l = r;
        flipped = true;
        valNode = n.lexpr;
      }
      // a one-argument function of a column against a value (`lower(email) = $1`): the expression
      // is what is filtered on, which a derived attribute can answer
      const fl = l ? null : pgFunctionOfColumn(n.lexpr);
      const fr = l || fl ? null : pgFunctionOfColumn(n.rexpr);
      if (fl || fr) {
        const f = (fl ?? fr)!;
        l = { q: f.arg.q, col: `${f.fn}(${f.arg.col})` };
        flipped = !fl;
        valNode = fl ? n.rexpr : n.lexpr;
      }
      if (!l) {
        visit(n.lexpr, ctx);
        visit(n.rexpr, ctx);
        return ANY;
      }
      const s = slotOf(valNode, ctx);
      if (s === undefined) {
        visit(valNode, ctx);
        addPred(ctx, scope, l, normOp(name, flipped), []);
        return ANY;
      }
      return addPred(ctx, scope, l, normOp(name, flipped), [s]);
    }
    if (kind === 'AEXPR_IN' && l) {
      const items = n.rexpr?.List?.items as Node[] | undefined;
      const slots = (items ?? []).map((x) => slotOf(x, ctx));
      const op: PredOp = name === '<>' ? 'not in' : 'in';
      if (!items || slots.some((s) => s === undefined)) {
        visit(n.rexpr, ctx);
        addPred(ctx, scope, l, op, []);
        return ANY;
      }
      return addPred(ctx, scope, l, op, slots as Slot[]);
    }
    if (
      (kind === 'AEXPR_BETWEEN' || kind === 'AEXPR_NOT_BETWEEN' || kind === 'AEXPR_BETWEEN_SYM' || kind === 'AEXPR_NOT_BETWEEN_SYM') &&
      l
    ) {
      const items = (n.rexpr?.List?.items ?? []) as Node[];
      const slots = items.map((x) => slotOf(x, ctx));
      const op: PredOp = kind === 'AEXPR_BETWEEN' ? 'between' : kind === 'AEXPR_NOT_BETWEEN' ? 'not between' : 'other';
      if (slots.length !== 2 || slots.some((s) => s === undefined)) {
        addPred(ctx, scope, l, op, []);
        return ANY;
      }
      return addPred(ctx, scope, l, op, slots as Slot[]);
    }
    if ((kind === 'AEXPR_LIKE' || kind === 'AEXPR_ILIKE') && l) {
      const s = slotOf(n.rexpr, ctx);
      addPred(ctx, scope, l, 'like', s === undefined ? [] : [s]);
      return ANY;
    }
    visit(n.lexpr, ctx);
    visit(n.rexpr, ctx);
    return ANY;
  }
  if (k === 'NullTest') {
    const c = columnOf(n.arg);
    if (c) addPred(ctx, scope, c, n.nulltesttype === 'IS_NULL' ? 'is null' : 'is not null', []);
    return ANY;
  }
  visit(node, ctx);
  return ANY;
}

/** Finds nested statements (sub-selects) anywhere below `node` and compiles them as scopes. */
function visit(node: unknown, ctx: Ctx): void {
  if (!node || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    for (const x of node) visit(x, ctx);
    return;
  }
  const k = kindOf(node as Node);
  if (k === 'SelectStmt' || k === 'InsertStmt' || k === 'UpdateStmt' || k === 'DeleteStmt') {
    stmt(node as Node, ctx);
    return;
  }
  for (const v of Object.values(node as Node)) if (v && typeof v === 'object') visit(v, ctx);
}

/** Adds a FROM item to a scope; returns the tables it contributes (for join naming). */
function fromItem(item: Node, ctx: Ctx, scope: ScopeNames, quals: BoolIR[]): string[] {
  const k = kindOf(item);
  const n = inner(item);
  if (k === 'RangeVar') {
    const name = String(n.relname);
    const alias = n.alias?.aliasname as string | undefined;
    const isCte = !n.schemaname && ctx.ctes.has(name);
    const table = isCte ? null : name;
    scope.names.set(alias ?? name, table);
    if (table) {
      scope.tables.push(table);
      ctx.tables.push(table);
    }
    return table ? [table] : [];
  }
  if (k === 'JoinExpr') {
    const lt = fromItem(n.larg, ctx, scope, quals);
    const rt = fromItem(n.rarg, ctx, scope, quals);
    if (n.quals) quals.push(expr(n.quals, ctx, scope));
    for (const u of (n.usingClause ?? []) as Node[]) {
      const col = u.String?.sval;
      const a = lt[lt.length - 1];
      const b = rt[0];
      if (col && a && b && a !== b) ctx.joins.add(joinKey(`${a}.${col}`, `${b}.${col}`));
    }
    return [...lt, ...rt];
  }
  if (k === 'RangeSubselect') {
    visit(n.subquery, ctx);
    const alias = n.alias?.aliasname as string | undefined;
    if (alias) scope.names.set(alias, null);
    return [];
  }
  visit(item, ctx);
  return [];
}

function stmt(node: Node, ctx: Ctx): { op: Operation; target: string | null } {
  const k = kindOf(node);
  const n = inner(node) ?? {};
  for (const cte of (n.withClause?.ctes ?? []) as Node[]) {
    const c = cte.CommonTableExpr;
    if (c?.ctename) ctx.ctes.add(String(c.ctename));
  }
  for (const cte of (n.withClause?.ctes ?? []) as Node[]) visit(cte.CommonTableExpr?.ctequery, ctx);
  const scope: ScopeNames = { names: new Map(), tables: [] };
  const quals: BoolIR[] = [];
  if (k === 'SelectStmt') {
    if (n.op && n.op !== 'SETOP_NONE') {
      if (n.larg) stmt({ SelectStmt: n.larg }, ctx);
      if (n.rarg) stmt({ SelectStmt: n.rarg }, ctx);
      return { op: 'select', target: null };
    }
    for (const f of (n.fromClause ?? []) as Node[]) fromItem(f, ctx, scope, quals);
    const where = expr(n.whereClause, ctx, scope);
    visit(n.targetList, ctx);
    visit(n.havingClause, ctx);
    visit(n.valuesLists, ctx);
    if (scope.tables.length > 0) ctx.scopes.push({ tables: uniq(scope.tables), where: andOf([...quals, where]) });
    return { op: 'select', target: null };
  }
  if (k === 'UpdateStmt' || k === 'DeleteStmt') {
    const target = fromItem({ RangeVar: n.relation }, ctx, scope, quals)[0] ?? null;
    for (const f of (n.fromClause ?? n.usingClause ?? []) as Node[]) fromItem(f, ctx, scope, quals);
    const where = expr(n.whereClause, ctx, scope);
    visit(n.targetList, ctx);
    visit(n.returningList, ctx);
    ctx.scopes.push({ tables: uniq(scope.tables), where: andOf([...quals, where]) });
    return { op: k === 'UpdateStmt' ? 'update' : 'delete', target };
  }
  if (k === 'InsertStmt') {
    const target = fromItem({ RangeVar: n.relation }, ctx, scope, quals)[0] ?? null;
    const sel = n.selectStmt?.SelectStmt;
    const cols = ((n.cols ?? []) as Node[]).map((c) => String(c.ResTarget?.name ?? ''));
    let where: BoolIR = ANY;
    if (sel?.valuesLists && target) {
      const rows = (sel.valuesLists as Node[]).map((r) => (r.List?.items ?? []) as Node[]);
      const conj: BoolIR[] = [];
      cols.forEach((col, ci) => {
        const slots = rows.map((r) => slotOf(r[ci], ctx));
        if (col && slots.length > 0 && slots.every((s) => s !== undefined)) {
          conj.push(addPred(ctx, scope, { q: target, col }, slots.length === 1 ? '=' : 'in', slots as Slot[]));
        }
      });
      where = andOf(conj);
      visit(sel.valuesLists, ctx);
    } else if (n.selectStmt) {
      visit(n.selectStmt, ctx);
    }
    if (target) ctx.scopes.push({ tables: [target], where });
    visit(n.onConflictClause, ctx);
    visit(n.returningList, ctx);
    return { op: 'insert', target };
  }
  // DDL and everything else: tables are every relation named anywhere.
  collectRangeVars(n, ctx);
  return { op: opOf(k), target: null };
}

function collectRangeVars(node: unknown, ctx: Ctx): void {
  if (!node || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    for (const x of node) collectRangeVars(x, ctx);
    return;
  }
  const o = node as Node;
  if (typeof o.relname === 'string') ctx.tables.push(o.relname);
  for (const v of Object.values(o)) if (v && typeof v === 'object') collectRangeVars(v, ctx);
}

/** Compiles `sql` (never throws: a parse failure is returned as `parseError`). */
export function compilePg(
  sql: string,
  lits: ScannedLiteral[],
): Omit<CompiledTemplate, 'templateId' | 'template'> & { templateId: string | null; template: string | null } {
  const ctx: Ctx = {
    sql,
    byteToLit: byteOffsets(sql, lits),
    lits,
    preds: [],
    scopes: [],
    tables: [],
    joins: new Set(),
    ctes: new Set(),
    volatile: false,
  };
  // biome-ignore lint/suspicious/noExplicitAny: the parser returns untyped JSON; the walker checks shapes as it goes
  let tree: any;
  try {
    tree = pg.parseSync(sql);
  } catch (err) {
    return {
      templateId: null,
      template: null,
      operation: 'other',
      readWrite: 'read',
      tables: [],
      joins: [],
      preds: [],
      scopes: [],
      parseError: errorLine(err),
      volatile: false,
    };
  }
  let operation = 'other' as Operation;
  let writes = false;
  let readsOthers = false;
  const stmts = (tree.stmts ?? []) as Node[];
  stmts.forEach((s, i) => {
    const node = s.stmt as Node | undefined;
    if (!node) return;
    const before = ctx.tables.length;
    const r = stmt(node, ctx);
    if (i === 0) operation = r.op;
    if (r.op === 'insert' || r.op === 'update' || r.op === 'delete') {
      writes = true;
      if (ctx.tables.slice(before).some((t) => t !== r.target)) readsOthers = true;
    }
  });
  let templateId: string | null = null;
  let template: string | null = null;
  try {
    templateId = pg.fingerprintSync(sql);
    template = pg.normalizeSync(sql);
  } catch {
    /* fall back to the scanner key (caller) */
  }
  const rw = operation === 'ddl' ? 'ddl' : writes ? classify('update', readsOthers) : 'read';
  return {
    templateId,
    template,
    operation,
    readWrite: rw,
    tables: uniq(ctx.tables),
    joins: [...ctx.joins].sort(),
    preds: ctx.preds,
    scopes: ctx.scopes,
    parseError: null,
    volatile: ctx.volatile,
    shape: pgShape(stmts[0]?.stmt as Node | undefined),
  };
}
