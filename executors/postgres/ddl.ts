/**
 * Reads a shard table's structure from the PostgreSQL catalog and re-creates it under another
 * name or on another node: columns in the same order (so row text, and checksums, compare
 * equal), generated columns, defaults, primary key and secondary indexes.
 */
import { InputError } from '../../lib/errors.js';
import { isPlainIdentifier, quoteIdent } from '../../stores/identifiers.js';
import { keySql } from '../../stores/postgres/keySql.js';
import { shardObjectName } from '../../stores/postgres/keys.js';
import { q, type Queryable } from '../../stores/postgres/nodes.js';

export interface ColumnDesc {
  name: string;
  type: string;
  notNull: boolean;
  /** Expression of a STORED generated column, else null. */
  generated: string | null;
  default: string | null;
}

export interface TableDesc {
  columns: ColumnDesc[];
  primaryKey: string | null;
  indexes: { name: string; def: string }[];
}

export async function tableExists(db: Queryable, physical: string): Promise<boolean> {
  const rows = await q(
    db,
    `SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname = $1`,
    [physical],
  );
  return rows.length > 0;
}

export async function describeTable(db: Queryable, physical: string): Promise<TableDesc> {
  const rel = `public.${quoteIdent(physical)}`;
  const cols = await q<{ name: string; type: string; notnull: boolean; gen: string; expr: string | null }>(
    db,
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS notnull,
            a.attgenerated AS gen, pg_get_expr(d.adbin, d.adrelid) AS expr
     FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [rel],
  );
  const pk = await q<{ def: string }>(
    db,
    `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'`,
    [rel],
  );
  const idx = await q<{ name: string; def: string }>(
    db,
    `SELECT i.relname AS name, pg_get_indexdef(x.indexrelid) AS def FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
     WHERE x.indrelid = $1::regclass AND NOT x.indisprimary AND x.indisvalid ORDER BY i.relname`,
    [rel],
  );
  return {
    columns: cols.map((c) => ({
      name: c.name,
      type: c.type,
      notNull: c.notnull,
      generated: c.gen === 's' ? c.expr : null,
      default: c.gen === 's' ? null : c.expr,
    })),
    primaryKey: pk[0]?.def ?? null,
    indexes: idx,
  };
}

/** Columns a copy writes (generated ones are computed by the target). */
export const insertableColumns = (d: TableDesc): string[] => d.columns.filter((c) => c.generated === null).map((c) => c.name);

/**
 * Upsert of JSON rows (`$1`, as `json_agg` of rows of the same structure) into `rel` (quoted),
 * replacing rows of the same `conflictColumn`; `where` (on the rows' columns) keeps only some.
 */
export function upsertSql(d: TableDesc, rel: string, conflictColumn: string, where?: string): string {
  const cols = insertableColumns(d);
  const list = cols.map(quoteIdent).join(', ');
  const set = cols.filter((c) => c !== conflictColumn).map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`);
  return `INSERT INTO ${rel} (${list}) SELECT ${list} FROM json_populate_recordset(NULL::${rel}, $1::json)${where ? ` WHERE ${where}` : ''}
          ON CONFLICT (${quoteIdent(conflictColumn)}) DO ${set.length ? `UPDATE SET ${set.join(', ')}` : 'NOTHING'}`;
}

/** DDL statements that create `target` with the structure `d` (read from a source table). */
export function renderCreate(d: TableDesc, source: string, target: string): string[] {
  if (!isPlainIdentifier(target)) throw new InputError(`not a plain identifier: ${JSON.stringify(target)}`);
  const cols = d.columns.map((c) => {
    let s = `${quoteIdent(c.name)} ${c.type}`;
    if (c.generated !== null) s += ` GENERATED ALWAYS AS (${c.generated}) STORED`;
    else if (c.default !== null) s += ` DEFAULT ${c.default}`;
    if (c.notNull) s += ' NOT NULL';
    return s;
  });
  if (d.primaryKey) cols.push(d.primaryKey);
  const out = [`CREATE TABLE public.${quoteIdent(target)} (${cols.join(', ')})`];
  for (const ix of d.indexes) {
    const m = /^CREATE (UNIQUE )?INDEX (\S+) ON (\S+) (USING .*)$/.exec(ix.def);
    if (!m) continue;
    const suffix = ix.name.startsWith(`${source}__`) ? ix.name.slice(source.length + 2) : ix.name;
    out.push(`CREATE ${m[1] ?? ''}INDEX ${quoteIdent(shardObjectName(target, suffix))} ON public.${quoteIdent(target)} ${m[4]}`);
  }
  return out;
}

/** Count and checksum (sum of hashtext of each row's text) of the rows of `physical` whose key (or its hash, `keyHash`) is in [lo, hi). */
export async function rangeChecksum(
  db: Queryable,
  physical: string,
  keyColumn: string,
  lo: string | null,
  hi: string | null,
  keyHash = false,
): Promise<{ count: number; checksum: string }> {
  const k = keySql(keyColumn, keyHash);
  const rows = await q<{ n: string; sum: string }>(
    db,
    `SELECT count(*) AS n, coalesce(sum(hashtext(t::text)::bigint), 0)::text AS sum FROM public.${quoteIdent(physical)} t
     WHERE ($1::bigint IS NULL OR ${k} >= $1::bigint) AND ($2::bigint IS NULL OR ${k} < $2::bigint)`,
    [lo, hi],
  );
  return { count: Number(rows[0]!.n), checksum: rows[0]!.sum };
}
