/**
 * The aggregate shape of a SELECT: the columns it groups by and the aggregate calls it makes
 * (`count(*)`, `sum(amount)`), read from the parser's tree of the first statement. The decide
 * stage precomputes a hot template's aggregate from it (a materialized count or sum by a column).
 * A group-by names a plain column (`region`), or a one-argument function of one (`toYYYYMM(created)`,
 * as written); an alias of the select list is resolved to what it names. A group-by on any other
 * expression leaves `groupBy` empty (nothing could be precomputed from it by column); an aggregate
 * of an expression is not listed.
 */
import { genericColumnOf as genericColumn, pgColumnOf as pgColumn, pgFunctionOfColumn } from './columns.js';

export interface QueryShape {
  groupBy: string[];
  /** `fn(column)` or `count(*)`, lower case, in select-list order. */
  aggregates: string[];
}

export const NO_SHAPE: QueryShape = { groupBy: [], aggregates: [] };

const AGGREGATES = new Set(['count', 'sum', 'avg', 'min', 'max']);

// biome-ignore lint/suspicious/noExplicitAny: the parsers return untyped JSON; the readers check shapes as they go
type Node = Record<string, any>;

/** The shape of a libpg-query statement node (`{ SelectStmt: … }`); NO_SHAPE for anything else. */
export function pgShape(stmt: Node | undefined): QueryShape {
  const sel = stmt?.SelectStmt as Node | undefined;
  if (!sel || (sel.op && sel.op !== 'SETOP_NONE')) return NO_SHAPE;
  const targets = ((sel.targetList ?? []) as Node[]).map((t) => t.ResTarget?.val as Node | undefined);
  const aliases = new Map<string, Node | undefined>();
  ((sel.targetList ?? []) as Node[]).forEach((t, i) => {
    if (typeof t.ResTarget?.name === 'string') aliases.set(t.ResTarget.name, targets[i]);
  });
  const aggregates: string[] = [];
  for (const v of targets) {
    const call = v?.FuncCall as Node | undefined;
    if (!call) continue;
    const names = ((call.funcname ?? []) as Node[]).map((f) => String(f.String?.sval ?? ''));
    const fn = names.at(-1)?.toLowerCase() ?? '';
    if (!AGGREGATES.has(fn)) continue;
    if (call.agg_star) aggregates.push(`${fn}(*)`);
    else {
      const col = pgColumn((call.args ?? [])[0] as Node | undefined);
      if (col) aggregates.push(`${fn}(${col.col})`);
    }
  }
  const groupBy: string[] = [];
  for (const g of (sel.groupClause ?? []) as Node[]) {
    const ordinal = g.A_Const?.ival?.ival as number | undefined;
    let node = ordinal !== undefined ? targets[ordinal - 1] : g;
    const bare = pgColumn(node);
    if (bare && bare.q === null && aliases.has(bare.col)) node = aliases.get(bare.col);
    const name = pgGroupName(node);
    if (!name) return { groupBy: [], aggregates };
    groupBy.push(name);
  }
  return { groupBy, aggregates };
}

/** A libpg-query group-by node as a column or a one-argument function of one; null otherwise. */
function pgGroupName(node: Node | undefined): string | null {
  const col = pgColumn(node);
  if (col) return col.col;
  const f = pgFunctionOfColumn(node);
  return f ? `${f.fn}(${f.arg.col})` : null;
}

/** A node-sql-parser group-by node as a column or a one-argument function of one; null otherwise. */
function genericGroupName(node: Node | undefined): string | null {
  const col = genericColumn(node);
  if (col) return col.col;
  if (node?.type !== 'function') return null;
  const args = (node.args?.value ?? []) as Node[];
  const fn = ((node.name?.name ?? []) as Node[]).map((n) => String(n.value ?? '')).at(-1);
  const arg = args.length === 1 ? genericColumn(args[0]) : null;
  return fn && arg ? `${fn}(${arg.col})` : null;
}

/**
 * The shape of a node-sql-parser statement; NO_SHAPE for anything but a plain SELECT.
 * `literal` maps a number in the parsed text back to the statement's (the generic compiler
 * parses a copy with its literals marked), so `GROUP BY 2` is still an ordinal.
 */
export function genericShape(ast: Node | undefined, literal: (n: number) => number = (n) => n): QueryShape {
  if (ast?.type !== 'select' || ast._next) return NO_SHAPE;
  const columns = Array.isArray(ast.columns) ? (ast.columns as Node[]) : [];
  const aggregates: string[] = [];
  for (const c of columns) {
    const e = c?.expr as Node | undefined;
    if (e?.type !== 'aggr_func') continue;
    const fn = String(e.name ?? '').toLowerCase();
    if (!AGGREGATES.has(fn)) continue;
    const arg = e.args?.expr as Node | undefined;
    if (arg?.type === 'star' || arg?.value === '*') aggregates.push(`${fn}(*)`);
    else {
      const col = genericColumn(arg);
      if (col) aggregates.push(`${fn}(${col.col})`);
    }
  }
  const items = (Array.isArray(ast.groupby) ? ast.groupby : (ast.groupby?.columns ?? [])) as Node[];
  const groupBy: string[] = [];
  const aliases = new Map<string, Node | undefined>();
  for (const c of columns) if (typeof c?.as === 'string') aliases.set(c.as, c.expr);
  for (const g of items) {
    const ordinal = g?.type === 'number' ? literal(Number(g.value)) : undefined;
    let node = ordinal !== undefined ? columns[ordinal - 1]?.expr : g;
    const bare = genericColumn(node);
    if (bare && bare.q === null && aliases.has(bare.col)) node = aliases.get(bare.col);
    const name = genericGroupName(node);
    if (!name) return { groupBy: [], aggregates };
    groupBy.push(name);
  }
  return { groupBy, aggregates };
}
