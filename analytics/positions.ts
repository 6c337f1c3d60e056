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
import { TABLES } from './schema.js';

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

/** Adds the position columns to sink tables made before they existed (18.16 has no ADD COLUMN IF NOT EXISTS). */
export async function ensurePositionColumns(ch: ClickHouseClient, db: string): Promise<void> {
  const have = await rowsOf<{ table: string; name: string }>(
    ch,
    `SELECT table, name FROM system.columns WHERE database = ${quoteToken(db)}`,
  );
  const present = new Set(have.map((c) => `${c.table}.${c.name}`));
  for (const t of TABLES) {
    if (!t.positioned) continue;
    for (const [name, type] of COLUMNS) {
      if (present.has(`${t.name}.${name}`)) continue;
      await ch.command({ query: `ALTER TABLE ${quoteQualified(db, t.name)} ADD COLUMN ${name} ${type}` });
    }
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
