/**
 * Record positions in the sink's tables. The sink commits a batch's offsets only after its
 * insert succeeded, so a crash between the two makes Kafka deliver the batch again. ReplacingMergeTree
 * would fold the second copy away at some later merge, but until then plain reads count it twice,
 * and the rollup views, which see inserts and never merges, count it twice for good. Each row
 * therefore carries the position of its record; after every (re)assignment the sink asks which
 * positions at or past the group's committed offset a table already holds, and skips those.
 *
 * ClickHouse's own insert deduplication does not fit: the Debian server (18.16) has no
 * `insert_deduplication_token`, and block hashes do not survive a batch cut at other offsets.
 * Literals are quoted tokens, not query parameters, which 18.16 lacks.
 */
import type { ClickHouseClient } from '../stores/clickhouse/client.js';
import { quoteQualified, quoteToken } from '../stores/identifiers.js';
import { ADDED_COLUMNS, TABLES } from './schema.js';

/** Where a row's record sat in Kafka. */
export interface RecordPosition {
  topic: string;
  partition: number;
  offset: string;
}

export function positionColumns(p: RecordPosition) {
  return { kafka_topic: p.topic, kafka_partition: p.partition, kafka_offset: p.offset };
}

async function rowsOf<T>(ch: ClickHouseClient, query: string): Promise<T[]> {
  return (await (await ch.query({ query, format: 'JSONEachRow' })).json()) as T[];
}

const COLUMNS: [string, string][] = [
  ['kafka_topic', 'String'],
  ['kafka_partition', 'UInt32'],
  ['kafka_offset', 'UInt64'],
];

/**
 * Adds the columns that sink tables made by an earlier release lack: the position columns, and
 * the later ones of ADDED_COLUMNS (18.16 has no ADD COLUMN IF NOT EXISTS).
 */
export async function ensureAddedColumns(ch: ClickHouseClient, db: string): Promise<void> {
  const have = await rowsOf<{ table: string; name: string }>(
    ch,
    `SELECT table, name FROM system.columns WHERE database = ${quoteToken(db)}`,
  );
  const present = new Set(have.map((c) => `${c.table}.${c.name}`));
  const wanted = [...TABLES.filter((t) => t.positioned).map((t) => ({ table: t.name, columns: COLUMNS })), ...ADDED_COLUMNS];
  for (const { table, columns } of wanted)
    for (const [name, type] of columns) {
      if (present.has(`${table}.${name}`)) continue;
      await ch.command({ query: `ALTER TABLE ${quoteQualified(db, table)} ADD COLUMN ${name} ${type}` });
    }
}

/**
 * Offsets of `topic`'s partitions, at or past `from[partition]`, that `table` already holds.
 * Keys are `partition:offset`. The committed window is a few batches long, so the answer is small.
 */
export async function storedPositions(
  ch: ClickHouseClient,
  db: string,
  table: string,
  topic: string,
  from: ReadonlyMap<number, bigint>,
): Promise<Set<string>> {
  if (from.size === 0) return new Set();
  const clauses = [...from].map(([p, o]) => `(kafka_partition = ${Number(p)} AND kafka_offset >= ${BigInt(o).toString()})`);
  const rows = await rowsOf<{ p: number; o: string }>(
    ch,
    `SELECT DISTINCT kafka_partition AS p, toString(kafka_offset) AS o FROM ${quoteQualified(db, table)}
     WHERE kafka_topic = ${quoteToken(topic)} AND (${clauses.join(' OR ')})`,
  );
  return new Set(rows.map((r) => `${r.p}:${r.o}`));
}
