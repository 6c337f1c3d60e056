/**
 * Compiles MySQL, ClickHouse and generic SQL with node-sql-parser (a maintained multi-dialect
 * parser). node-sql-parser has no ClickHouse grammar, so ClickHouse statements have their
 * ClickHouse-only clauses (FINAL, SAMPLE, PREWHERE, SETTINGS, FORMAT, GLOBAL) rewritten to the
 * MySQL grammar, which is closest; generic SQL is tried as MySQL, then PostgreSQL.
 *
 * node-sql-parser does not report where a literal was, so every scanned literal is replaced by
 * a unique numeric marker before parsing; markers found in the tree are the slots. When the
 * marked statement does not parse (a literal where only a string is allowed, e.g. DATE '…'),
 * the original is parsed and the template is marked volatile.
 *
 * One unit above 400 lines: one walk over node-sql-parser's tree (expressions, FROM items,
 * statements) sharing one context; pg.ts is the same walk over PostgreSQL's tree.
 */
import { genericColumnOf as columnOf, colName } from './columns.js';
import { genericShape } from './shape.js';
import NSP from 'node-sql-parser';
import type { Dialect, Operation } from '../../../schemas/types.js';
import type { ScannedLiteral } from './scanner.js';
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
import { errorLine } from '../../../lib/errors.js';

const parser = new NSP.Parser();
const MARK = 900_000_000;

// biome-ignore lint/suspicious/noExplicitAny: the parser returns untyped JSON; the walker checks shapes as it goes
type Node = Record<string, any>;

interface Ctx {
  preds: PredIR[];
  scopes: ScopeIR[];
  joins: Set<string>;
  ctes: Set<string>;
  marked: boolean;
  nLits: number;
}

function clickhouseToMysql(sql: string): string {
  let s = sql
    .replace(/\bFINAL\b/gi, '')
    .replace(/\b(count|uniq|now|today|rand)\(\s*\)/gi, (_m, f: string) => (f.toLowerCase() === 'count' ? 'count(*)' : `${f}()`))
    .replace(/\bGLOBAL\s+(NOT\s+)?IN\b/gi, (_m, not) => `${not ?? ''}IN`)
    .replace(/\bSAMPLE\s+[\d.]+(\s*\/\s*[\d.]+)?(\s+OFFSET\s+[\d.]+)?/gi, '')
    .replace(/\bSETTINGS\b[\s\S]*$/i, '')
    .replace(/\bFORMAT\s+\w+\s*;?\s*$/i, '');
  if (/\bPREWHERE\b/i.test(s)) {
    s = /\bWHERE\b/i.test(s.replace(/\bPREWHERE\b/gi, ''))
      ? s.replace(/\bWHERE\b/i, 'AND').replace(/\bPREWHERE\b/i, 'WHERE')
      : s.replace(/\bPREWHERE\b/i, 'WHERE');
  }
  return s;
}

function grammars(dialect: Dialect): string[] {
  if (dialect === 'postgres') return ['postgresql'];
  if (dialect === 'generic') return ['mysql', 'postgresql'];
  return ['mysql'];
}

// biome-ignore lint/suspicious/noExplicitAny: the parser returns untyped JSON; the walker checks shapes as it goes
function tryParse(sql: string, dialect: Dialect): { ast: any; tableList: string[] } {
  const text = dialect === 'clickhouse' ? clickhouseToMysql(sql) : sql;
  let first: unknown;
  for (const database of grammars(dialect)) {
    try {
      const r = parser.parse(text, { database });
      return { ast: r.ast, tableList: r.tableList };
    } catch (err) {
      first ??= err;
    }
  }
  throw first;
}

const STRING_TYPES = new Set([
  'string',
  'single_quote_string',
  'double_quote_string',
  'natural_string',
  'hex_string',
  'full_hex_string',
  'bit_string',
  'backticks_quote_string',
  'regex_string',
]);

function slotOf(node: Node | undefined, ctx: Ctx): Slot | undefined {
  if (!node || typeof node !== 'object') return undefined;
  if (node.type === 'number') {
    const v = Number(node.value);
    if (ctx.marked && Number.isInteger(v) && v >= MARK && v < MARK + ctx.nLits) return v - MARK;
    if (ctx.marked) return undefined;
    return { text: String(node.value) };
  }
  if (STRING_TYPES.has(node.type)) return ctx.marked ? undefined : { text: String(node.value) };
  if (node.type === 'bool' || node.type === 'boolean') return { text: String(node.value) };
  if (node.type === 'null') return { text: 'NULL' };
  if (node.type === 'param' || (node.type === 'origin' && node.value === '?')) return { text: `:${node.value}` };
  if (node.type === 'unary_expr' && node.operator === '-') {
    const s = slotOf(node.expr, ctx);
    // a sign separated from its literal: the slot would lose the sign, so it is not a slot
    return s !== undefined && typeof s === 'object' ? { text: `-${s.text}` } : undefined;
  }
  return undefined;
}

function addPred(ctx: Ctx, scope: ScopeNames, c: { q: string | null; col: string }, op: PredOp, slots: Slot[]): BoolIR {
  return addPredicate(ctx.preds, scope, c, op, slots);
}

const joinKey = (a: string, b: string) => (a < b ? `${a}=${b}` : `${b}=${a}`);

function listItems(node: Node | undefined): Node[] | null {
  if (!node) return null;
  if (node.type === 'expr_list' && Array.isArray(node.value)) return node.value as Node[];
  return null;
}

function expr(node: Node | undefined, ctx: Ctx, scope: ScopeNames): BoolIR {
  if (!node || typeof node !== 'object') return ANY;
  if (node.ast) {
    stmt(node.ast, ctx);
    return ANY;
  }
  if (node.type === 'binary_expr') {
    const op = String(node.operator).toUpperCase();
    if (op === 'AND') return andOf([expr(node.left, ctx, scope), expr(node.right, ctx, scope)]);
    if (op === 'OR') return orOf([expr(node.left, ctx, scope), expr(node.right, ctx, scope)]);
    let l = columnOf(node.left);
    const r = columnOf(node.right);
    if (l && r) {
      const lt = resolveColumnTable(scope, l.q).table;
      const rt = resolveColumnTable(scope, r.q).table;
      if (lt && rt && lt !== rt && op === '=') ctx.joins.add(joinKey(`${lt}.${l.col}`, `${rt}.${r.col}`));
      return ANY;
    }
    let valNode = node.right;
    let flipped = false;
    if (!l && r) {
      l = r;
      valNode = node.left;
      flipped = true;
    }
    if (!l) {
      visit(node.left, ctx);
      visit(node.right, ctx);
      return ANY;
    }
    if (op === 'IN' || op === 'NOT IN') {
      const items = listItems(valNode);
      const slots = (items ?? []).map((x) => slotOf(x, ctx));
      const pop: PredOp = op === 'IN' ? 'in' : 'not in';
      if (!items || slots.some((s) => s === undefined)) {
        visit(valNode, ctx);
        addPred(ctx, scope, l, pop, []);
        return ANY;
      }
      return addPred(ctx, scope, l, pop, slots as Slot[]);
    }
    if (op === 'BETWEEN' || op === 'NOT BETWEEN') {
      const items = listItems(valNode) ?? [];
      const slots = items.map((x) => slotOf(x, ctx));
      const pop: PredOp = op === 'BETWEEN' ? 'between' : 'not between';
      if (slots.length !== 2 || slots.some((s) => s === undefined)) {
        addPred(ctx, scope, l, pop, []);
        return ANY;
      }
      return addPred(ctx, scope, l, pop, slots as Slot[]);
    }
    if (op === 'IS' || op === 'IS NOT') {
      addPred(ctx, scope, l, op === 'IS' ? 'is null' : 'is not null', []);
      return ANY;
    }
    const pop = normOp(op, flipped);
    const s = slotOf(valNode, ctx);
    if (s === undefined) {
      visit(valNode, ctx);
      addPred(ctx, scope, l, pop, []);
      return ANY;
    }
    const b = addPred(ctx, scope, l, pop, [s]);
    return pop === 'like' ? ANY : b;
  }
  visit(node, ctx);
  return ANY;
}

function visit(node: unknown, ctx: Ctx): void {
  if (!node || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    for (const x of node) visit(x, ctx);
    return;
  }
  const o = node as Node;
  if (o.ast) {
    stmt(o.ast, ctx);
    return;
  }
  if (typeof o.type === 'string' && ['select', 'insert', 'update', 'delete', 'replace'].includes(o.type) && ('from' in o || 'table' in o)) {
    stmt(o, ctx);
    return;
  }
  for (const v of Object.values(o)) if (v && typeof v === 'object') visit(v, ctx);
}

function fromItems(items: Node[] | null | undefined, ctx: Ctx, scope: ScopeNames, quals: BoolIR[]): void {
  let prev: string | null = null;
  for (const f of items ?? []) {
    if (!f || typeof f !== 'object') continue;
    let table: string | null = null;
    if (typeof f.table === 'string') {
      table = !f.db && ctx.ctes.has(f.table) ? null : f.table;
      scope.names.set(f.as ?? f.table, table);
      if (table) scope.tables.push(table);
    } else if (f.expr?.ast) {
      stmt(f.expr.ast, ctx);
      if (f.as) scope.names.set(f.as, null);
    }
    if (f.on) quals.push(expr(f.on, ctx, scope));
    // biome-ignore lint/suspicious/noExplicitAny: the parser returns untyped JSON; the walker checks shapes as it goes
    for (const u of (f.using ?? []) as any[]) {
      const col = colName(u);
      if (col && prev && table && prev !== table) ctx.joins.add(joinKey(`${prev}.${col}`, `${table}.${col}`));
    }
    if (table) prev = table;
  }
}

function opOf(type: string): Operation {
  switch (type) {
    case 'select':
      return 'select';
    case 'insert':
    case 'replace':
      return 'insert';
    case 'update':
      return 'update';
    case 'delete':
      return 'delete';
    case 'create':
    case 'alter':
    case 'drop':
    case 'truncate':
    case 'rename':
      return 'ddl';
    default:
      return 'other';
  }
}

function stmt(ast: Node, ctx: Ctx): { op: Operation; target: string | null } {
  for (const w of (ast.with ?? []) as Node[]) {
    const name = colName(w.name);
    if (name) ctx.ctes.add(name);
  }
  for (const w of (ast.with ?? []) as Node[]) if (w.stmt?.ast) stmt(w.stmt.ast, ctx);
  const op = opOf(String(ast.type));
  const scope: ScopeNames = { names: new Map(), tables: [] };
  const quals: BoolIR[] = [];
  if (op === 'select') {
    fromItems(ast.from, ctx, scope, quals);
    const where = expr(ast.where, ctx, scope);
    visit(ast.columns, ctx);
    visit(ast.having, ctx);
    if (scope.tables.length > 0) ctx.scopes.push({ tables: uniq(scope.tables), where: andOf([...quals, where]) });
    if (ast._next) stmt(ast._next, ctx);
    return { op, target: null };
  }
  if (op === 'update' || op === 'delete') {
    fromItems(ast.table, ctx, scope, quals);
    const target = scope.tables[0] ?? null;
    if (op === 'delete' && Array.isArray(ast.from)) {
      const seen = new Set(scope.tables);
      fromItems(
        (ast.from as Node[]).filter((f) => !(typeof f.table === 'string' && seen.has(f.table))),
        ctx,
        scope,
        quals,
      );
    } else if (Array.isArray(ast.from)) fromItems(ast.from, ctx, scope, quals);
    const where = expr(ast.where, ctx, scope);
    visit(ast.set, ctx);
    ctx.scopes.push({ tables: uniq(scope.tables), where: andOf([...quals, where]) });
    return { op, target };
  }
  if (op === 'insert') {
    fromItems(ast.table, ctx, scope, quals);
    const target = scope.tables[0] ?? null;
    // biome-ignore lint/suspicious/noExplicitAny: the parser returns untyped JSON; the walker checks shapes as it goes
    const cols = ((ast.columns ?? []) as any[]).map(colName);
    const rowsNode = Array.isArray(ast.values) ? ast.values : ast.values?.values;
    let where: BoolIR = ANY;
    if (Array.isArray(rowsNode) && target) {
      const rows = (rowsNode as Node[]).map((r) => listItems(r) ?? []);
      const conj: BoolIR[] = [];
      cols.forEach((col, ci) => {
        const slots = rows.map((r) => slotOf(r[ci], ctx));
        if (col && slots.length > 0 && slots.every((s) => s !== undefined)) {
          conj.push(addPred(ctx, scope, { q: target, col }, slots.length === 1 ? '=' : 'in', slots as Slot[]));
        }
      });
      where = andOf(conj);
    } else if (ast.values?.type === 'select' || ast.select) {
      stmt(ast.values?.type === 'select' ? ast.values : ast.select, ctx);
    }
    if (target) ctx.scopes.push({ tables: [target], where });
    return { op, target };
  }
  return { op, target: null };
}

function tablesFromList(list: string[], ctes: Set<string>): string[] {
  const out: string[] = [];
  for (const e of list) {
    const parts = e.split('::');
    const t = parts[2];
    if (t && t !== 'null' && !(parts[1] === 'null' && ctes.has(t))) out.push(t);
  }
  return uniq(out);
}

export type GenericCompiled = Omit<CompiledTemplate, 'templateId' | 'template'>;

export function compileGeneric(sql: string, lits: ScannedLiteral[], dialect: Dialect): GenericCompiled {
  let marked = '';
  let at = 0;
  lits.forEach((l, i) => {
    marked += sql.slice(at, l.start) + String(MARK + i);
    at = l.end;
  });
  marked += sql.slice(at);
  const ctx: Ctx = { preds: [], scopes: [], joins: new Set(), ctes: new Set(), marked: true, nLits: lits.length };
  // biome-ignore lint/suspicious/noExplicitAny: the parser returns untyped JSON; the walker checks shapes as it goes
  let parsed: { ast: any; tableList: string[] };
  let volatile = false;
  try {
    parsed = tryParse(marked, dialect);
  } catch {
    try {
      parsed = tryParse(sql, dialect);
      ctx.marked = false;
      volatile = true;
    } catch (err) {
      return {
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
  }
  const asts = (Array.isArray(parsed.ast) ? parsed.ast : [parsed.ast]) as Node[];
  let operation = 'other' as Operation;
  let writes = false;
  let readsOthers = false;
  asts.forEach((a, i) => {
    if (!a) return;
    const r = stmt(a, ctx);
    if (i === 0) operation = r.op;
    if (r.op === 'insert' || r.op === 'update' || r.op === 'delete') writes = true;
  });
  const tables = tablesFromList(parsed.tableList, ctx.ctes);
  if (writes) {
    const written = new Set(parsed.tableList.filter((e) => /^(insert|update|delete|replace)::/.test(e)).map((e) => e.split('::')[2]));
    readsOthers = tables.some((t) => !written.has(t));
  }
  return {
    operation,
    readWrite: operation === 'ddl' ? 'ddl' : writes ? classify('update', readsOthers) : 'read',
    tables,
    joins: [...ctx.joins].sort(),
    preds: ctx.preds,
    scopes: ctx.scopes,
    parseError: null,
    volatile: volatile || ctx.preds.some((p) => p.slots.some((s) => typeof s === 'object' && !ctx.marked)),
    shape: genericShape(asts[0], (n) => (ctx.marked && n >= MARK && n < MARK + lits.length ? Number(lits[n - MARK]?.value) : n)),
  };
}
