/**
 * Questions the catalog answers (the `shardcast catalog` command and the decide pipeline):
 *   resolve   a name → the tables/topics it may mean (id, `db.name`, name)
 *   whereKey  where key K of table T lives: the partition whose range holds it (exactly, on the
 *             decimal bounds), the Kafka partition the default partitioner picks, or the
 *             ClickHouse partition whose value is K; with its primary and replica nodes
 *   hot       series by their latest window's load, and the partitions they fall on
 *   dependents what is derived from T, transitively (views, materialized views, MV targets)
 * Only objects not marked vanished are answered with. The planner's questions (placement,
 * co-access, command outcomes) are in placement.ts.
 */
import kafkajs from '../lib/kafkajs.js';
import neo4j from 'neo4j-driver';
import type { Driver } from './neo4j.js';

const { Partitioners } = kafkajs;

export interface CatalogObject {
  label: 'Table' | 'Topic';
  id: string;
  name: string;
  source: string;
  database: string | null;
  kind: string;
}

export async function resolve(driver: Driver, ref: string): Promise<CatalogObject[]> {
  const { records } = await driver.executeQuery(
    `CALL {
       MATCH (t:Table) WHERE t.vanishedAt IS NULL AND (t.id = $ref OR t.name = $ref OR t.database + '.' + t.name = $ref)
       RETURN 'Table' AS label, t.id AS id, t.name AS name, t.source AS source, t.database AS database, coalesce(t.kind, 'table') AS kind
       UNION
       MATCH (t:Topic) WHERE t.vanishedAt IS NULL AND (t.id = $ref OR t.name = $ref)
       RETURN 'Topic' AS label, t.id AS id, t.name AS name, t.source AS source, null AS database, 'topic' AS kind
     }
     RETURN label, id, name, source, database, kind ORDER BY id`,
    { ref },
  );
  return records.map((r) => ({
    label: r.get('label') as 'Table' | 'Topic',
    id: r.get('id') as string,
    name: r.get('name') as string,
    source: r.get('source') as string,
    database: r.get('database') as string | null,
    kind: r.get('kind') as string,
  }));
}

export interface Located {
  partition: string;
  partitionId: string;
  kind: string;
  lo: string | null;
  hi: string | null;
  value: string | null;
  rows: number | null;
  nodes: { node: string; role: string }[];
}

export interface WhereAnswer {
  object: CatalogObject;
  key: string;
  /** How the partition was found: range | hash (murmur2) | value | whole | none. */
  by: string;
  partitions: Located[];
  note?: string;
}

interface PartRow extends Omit<Located, 'nodes'> {
  loNum: number | null;
  hiNum: number | null;
  bucket: number | null;
  modulus: number | null;
  nodes: { node: string | null; role: string | null }[];
}

async function partitionsOf(driver: Driver, o: CatalogObject): Promise<PartRow[]> {
  // The label is one of two constants (CatalogObject.label), never input.
  const { records } = await driver.executeQuery(
    `MATCH (t:${o.label} {id: $id})-[:HAS_PARTITION]->(p:Partition) WHERE p.vanishedAt IS NULL
     OPTIONAL MATCH (p)-[r:PLACED_ON]->(n:Node)
     WITH p, collect({node: n.name, role: r.role}) AS nodes
     RETURN p.name AS partition, p.id AS partitionId, coalesce(p.kind, 'range') AS kind, p.lo AS loNum, p.hi AS hiNum,
            coalesce(p.loText, toString(toInteger(p.lo))) AS lo, coalesce(p.hiText, toString(toInteger(p.hi))) AS hi,
            p.value AS value, p.rows AS rows, p.bucket AS bucket, p.modulus AS modulus, nodes
     ORDER BY p.lo, p.bucket, p.name`,
    { id: o.id },
  );
  return records.map((r) => ({
    partition: r.get('partition') as string,
    partitionId: r.get('partitionId') as string,
    kind: r.get('kind') as string,
    loNum: r.get('loNum') as number | null,
    hiNum: r.get('hiNum') as number | null,
    lo: r.get('lo') as string | null,
    hi: r.get('hi') as string | null,
    value: r.get('value') as string | null,
    rows: r.get('rows') as number | null,
    bucket: r.get('bucket') as number | null,
    modulus: r.get('modulus') as number | null,
    nodes: r.get('nodes') as PartRow['nodes'],
  }));
}

const located = (p: PartRow): Located => ({
  partition: p.partition,
  partitionId: p.partitionId,
  kind: p.kind,
  lo: p.lo,
  hi: p.hi,
  value: p.value,
  rows: p.rows,
  nodes: p.nodes
    .filter((n): n is { node: string; role: string } => n.node !== null)
    .sort((a, b) => (a.role === b.role ? a.node.localeCompare(b.node) : a.role === 'primary' ? -1 : 1)),
});

/** The Kafka default partitioner's choice for a key (murmur2, as producers of this project use). */
export function kafkaPartitionFor(key: string, partitions: number): number {
  const pick = Partitioners.DefaultPartitioner();
  return pick({
    topic: 'x',
    partitionMetadata: Array.from({ length: partitions }, (_, i) => ({
      partitionErrorCode: 0,
      partitionId: i,
      leader: 0,
      replicas: [0],
      isr: [0],
    })),
    message: { key, value: null },
  });
}

export async function whereKey(driver: Driver, o: CatalogObject, key: string): Promise<WhereAnswer> {
  const parts = await partitionsOf(driver, o);
  if (parts.length === 0) return { object: o, key, by: 'none', partitions: [], note: 'no partitions recorded for it' };
  const ranges = parts.filter((p) => p.kind === 'range' && (p.lo !== null || p.hi !== null || parts.length === 1));
  if (ranges.length > 0) {
    if (!/^-?[0-9]{1,19}$/.test(key.trim()))
      return { object: o, key, by: 'range', partitions: [], note: 'range-partitioned: the key must be an integer' };
    const k = BigInt(key.trim());
    const hit = ranges.filter((p) => (p.lo === null || BigInt(p.lo) <= k) && (p.hi === null || k < BigInt(p.hi)));
    return { object: o, key, by: 'range', partitions: hit.map(located) };
  }
  const hashed = parts.filter((p) => p.kind === 'hash' && p.bucket !== null && p.modulus !== null);
  if (hashed.length > 0 && o.label === 'Topic') {
    const b = kafkaPartitionFor(key, hashed[0]!.modulus!);
    return {
      object: o,
      key,
      by: 'hash',
      partitions: hashed.filter((p) => p.bucket === b).map(located),
      note: `murmur2(key) mod ${hashed[0]!.modulus}`,
    };
  }
  if (hashed.length > 0)
    return { object: o, key, by: 'hash', partitions: hashed.map(located), note: "the store's own hash decides; every bucket listed" };
  const whole = parts.filter((p) => p.kind === 'whole');
  if (whole.length === parts.length) return { object: o, key, by: 'whole', partitions: whole.map(located) };
  const byValue = parts.filter((p) => p.partition === key || p.value === key || p.value === `'${key}'`);
  return {
    object: o,
    key,
    by: 'value',
    partitions: byValue.map(located),
    ...(byValue.length === 0 ? { note: 'no partition has that value' } : {}),
  };
}

export interface HotSeries {
  seriesId: string;
  source: string | null;
  table: string | null;
  bucket: string | null;
  lo: number | null;
  hi: number | null;
  queries: number;
  reads: number;
  writes: number;
  latencyP95Ms: number | null;
  windowStart: number;
  windowEnd: number;
  hotKeys: string[];
  partitions: { id: string; partition: string; node: string | null }[];
}

export interface HotAnswer {
  since: number;
  series: HotSeries[];
  /** Partitions by the load of the series that fall on them (a bucket spanning several counts on each). */
  partitions: { id: string; table: string; partition: string; node: string | null; queries: number; series: number }[];
}

export async function hot(driver: Driver, opts: { limit?: number; sinceMs?: number; now?: number } = {}): Promise<HotAnswer> {
  const since = (opts.now ?? Date.now()) - (opts.sinceMs ?? 15 * 60_000);
  const { records } = await driver.executeQuery(
    `MATCH (s:Series)
     WHERE s.windowEnd >= $since AND s.queries > 0 AND s.table IS NOT NULL AND NOT s.table IN ['*', '~other']
     WITH s ORDER BY s.queries DESC, s.id LIMIT $limit
     OPTIONAL MATCH (t:Table)-[:HAS_PARTITION]->(p:Partition)
     WHERE t.name = s.table AND t.vanishedAt IS NULL AND p.vanishedAt IS NULL
       AND (s.partition IS NULL OR s.partition = '' OR p.name = s.partition)
       AND (s.hi IS NULL OR p.lo IS NULL OR p.lo < s.hi) AND (s.lo IS NULL OR p.hi IS NULL OR p.hi > s.lo)
     OPTIONAL MATCH (p)-[:PLACED_ON {role: 'primary'}]->(n:Node)
     WITH s, collect(CASE WHEN p IS NULL THEN null ELSE {id: p.id, partition: p.name, node: n.name} END) AS parts
     RETURN s, parts ORDER BY s.queries DESC, s.id`,
    { since, limit: neo4j.int(Math.max(1, Math.floor(opts.limit ?? 20))) }, // LIMIT takes an integer, JS numbers travel as floats
  );
  const series: HotSeries[] = records.map((r) => {
    const s = (r.get('s') as { properties: Record<string, unknown> }).properties;
    return {
      seriesId: s.id as string,
      source: (s.source as string) ?? null,
      table: (s.table as string) ?? null,
      bucket: (s.bucket as string) ?? null,
      lo: (s.lo as number) ?? null,
      hi: (s.hi as number) ?? null,
      queries: Number(s.queries ?? 0),
      reads: Number(s.reads ?? 0),
      writes: Number(s.writes ?? 0),
      latencyP95Ms: (s.latencyP95Ms as number) ?? null,
      windowStart: Number(s.windowStart),
      windowEnd: Number(s.windowEnd),
      hotKeys: (s.hotKeys as string[]) ?? [],
      partitions: (r.get('parts') as HotSeries['partitions']).filter((x) => x !== null),
    };
  });
  const byPart = new Map<string, HotAnswer['partitions'][number]>();
  for (const s of series) {
    for (const p of s.partitions) {
      const cur = byPart.get(p.id) ?? { id: p.id, table: s.table ?? '', partition: p.partition, node: p.node, queries: 0, series: 0 };
      cur.queries += s.queries;
      cur.series++;
      byPart.set(p.id, cur);
    }
  }
  return { since, series, partitions: [...byPart.values()].sort((a, b) => b.queries - a.queries || a.id.localeCompare(b.id)) };
}

export interface Dependent {
  label: string;
  id: string;
  name: string;
  kind: string;
  depth: number;
  /** How the object nearest to it on the shortest path derives from its parent. */
  via: string;
  path: string[];
}

/** Everything derived from `o`, transitively (up to 10 steps), nearest first. */
export async function dependents(driver: Driver, o: CatalogObject): Promise<Dependent[]> {
  // o.label is one of two constants, never input.
  const { records } = await driver.executeQuery(
    `MATCH (root:${o.label} {id: $id})
     MATCH path = (d)-[:DERIVED_FROM*1..10]->(root)
     WHERE d.vanishedAt IS NULL AND all(x IN nodes(path) WHERE x.vanishedAt IS NULL)
     WITH d, path ORDER BY length(path)
     WITH d, collect(path)[0] AS p
     RETURN labels(d)[0] AS label, d.id AS id, d.name AS name, coalesce(d.kind, 'topic') AS kind, length(p) AS depth,
            relationships(p)[0].via AS via, [x IN reverse(nodes(p)) | x.id] AS path
     ORDER BY depth, id`,
    { id: o.id },
  );
  return records.map((r) => ({
    label: r.get('label') as string,
    id: r.get('id') as string,
    name: r.get('name') as string,
    kind: r.get('kind') as string,
    depth: r.get('depth') as number,
    via: (r.get('via') as string | null) ?? '',
    path: r.get('path') as string[],
  }));
}
