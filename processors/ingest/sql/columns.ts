/**
 * The column a parser's node names, for both parsers' trees: libpg-query (`ColumnRef` with its
 * fields) and node-sql-parser (`column_ref`). Shared by the compilers and the shape reader.
 */

// biome-ignore lint/suspicious/noExplicitAny: the parsers return untyped JSON; the readers check shapes as they go
type Node = Record<string, any>;

export interface ColumnName {
  /** The qualifier (table or alias) as written, if any. */
  q: string | null;
  col: string;
}

/** A libpg-query `ColumnRef` → its column and qualifier; null for anything else or `*`. */
export function pgColumnOf(node: Node | undefined): ColumnName | null {
  if (!node || Object.keys(node)[0] !== 'ColumnRef') return null;
  const fields = (node.ColumnRef.fields ?? []) as Node[];
  const names = fields.map((f) => (Object.keys(f)[0] === 'String' ? String(f.String.sval) : '*'));
  if (names.length === 0 || names[names.length - 1] === '*') return null;
  const col = names[names.length - 1]!;
  const q = names.length >= 2 ? names[names.length - 2]! : null;
  return { q, col };
}

/** A libpg-query one-argument function call of a column (`lower(email)`) → the function and the column; null otherwise. */
export function pgFunctionOfColumn(node: Node | undefined): { fn: string; arg: ColumnName } | null {
  const call = node?.FuncCall as Node | undefined;
  const args = (call?.args ?? []) as Node[];
  if (!call || args.length !== 1 || call.agg_star || call.over) return null;
  const fn = ((call.funcname ?? []) as Node[]).map((f) => String(f.String?.sval ?? '')).at(-1);
  const arg = pgColumnOf(args[0]);
  return fn && arg ? { fn, arg } : null;
}

// biome-ignore lint/suspicious/noExplicitAny: the parser returns untyped JSON; the walker checks shapes as it goes
export function colName(c: any): string | null {
  if (typeof c === 'string') return c;
  if (c && typeof c === 'object') {
    if (typeof c.expr?.value === 'string') return c.expr.value;
    if (typeof c.value === 'string') return c.value;
  }
  return null;
}

/** A node-sql-parser `column_ref` → its column and qualifier; null for anything else or `*`. */
export function genericColumnOf(node: Node | undefined): ColumnName | null {
  if (node?.type !== 'column_ref') return null;
  const col = colName(node.column);
  if (!col || col === '*') return null;
  return { q: typeof node.table === 'string' ? node.table : null, col };
}
