/**
 * Reading libpg_query's parse tree (untyped JSON): loading the WASM module, node kinds, constant
 * values, the operation a statement kind stands for, and the byte offsets the tree reports for
 * the scanner's literals. pg.ts walks the tree with these.
 */
import * as pg from 'libpg-query';
import type { Operation } from '../../../schemas/types.js';
import type { ScannedLiteral } from './scanner.js';

let loaded: Promise<void> | null = null;
let ready = false;

/** Loads the WASM module once; every sync call below needs it. */
export function loadPg(): Promise<void> {
  loaded ??= pg.loadModule().then(() => {
    ready = true;
  });
  return loaded;
}

export function pgReady(): boolean {
  return ready;
}

// biome-ignore lint/suspicious/noExplicitAny: the parser returns untyped JSON; the walker checks shapes as it goes
export type Node = Record<string, any>;

export const kindOf = (n: Node): string => Object.keys(n)[0] ?? '';
// biome-ignore lint/suspicious/noExplicitAny: the parser returns untyped JSON; the walker checks shapes as it goes
export const inner = (n: Node): any => n[kindOf(n)];

export function opOf(stmtKind: string): Operation {
  switch (stmtKind) {
    case 'SelectStmt':
      return 'select';
    case 'InsertStmt':
      return 'insert';
    case 'UpdateStmt':
    case 'MergeStmt':
      return 'update';
    case 'DeleteStmt':
      return 'delete';
    default:
      return /^(Create|Alter|Drop|Truncate|Index|Rename|Comment|Grant|Revoke|ViewStmt|CompositeType)/.test(stmtKind) ? 'ddl' : 'other';
  }
}

/** Literal value of an A_Const, as text, or null when it is NULL. */
// biome-ignore lint/suspicious/noExplicitAny: the parser returns untyped JSON; the walker checks shapes as it goes
export function constValue(c: any): { v: string; num: boolean } | null {
  if (c.isnull) return null;
  if (c.ival !== undefined) return { v: String(c.ival.ival ?? 0), num: true };
  if (c.fval !== undefined) return { v: String(c.fval.fval), num: true };
  if (c.sval !== undefined) return { v: String(c.sval.sval ?? ''), num: false };
  if (c.boolval !== undefined) return { v: String(c.boolval.boolval ?? false), num: false };
  if (c.bsval !== undefined) return { v: String(c.bsval.bsval), num: false };
  return null;
}

/** Scanner literal index by the byte offset libpg_query reports for it. */
export function byteOffsets(sql: string, lits: ScannedLiteral[]): Map<number, number> {
  const m = new Map<number, number>();
  const ascii = Buffer.byteLength(sql) === sql.length;
  for (const [i, l] of lits.entries()) m.set(ascii ? l.start : Buffer.byteLength(sql.slice(0, l.start)), i);
  return m;
}
