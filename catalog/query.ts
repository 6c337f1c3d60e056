/**
 * Questions the catalog answers (the `shardcast catalog` command and the decide pipeline):
 *   resolve   a name → the tables/topics it may mean (id, `db.name`, name)
 *   whereKey  where key K of table T lives: the partition whose range holds it (exactly, on the
 *             decimal bounds), the Kafka partition the default partitioner picks, or the
 *             ClickHouse partition whose value is K; with its primary and replica nodes
 *   hot       series by their latest window's load, and the partitions they fall on
 *   dependents what is derived from T, transitively (views, materialized views, MV targets)
 *   placement partitions and placement of sharded tables, the nodes, recent commands
 * Only objects not marked vanished are answered with.
 */
import kafkajs from 'kafkajs';
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

export interface PlacementRow {
  table: string;
  keyColumn: string | null;
  partition: string;
  lo: string | null;
  hi: string | null;
  rows: number | null;
  bytes: number | null;
  node: string | null;
  replicas: string[];
}

export interface PlacementView {
  nodes: { name: string; state: string | null; capacity: number | null; managed?: boolean | null }[];
  partitions: PlacementRow[];
  /** Commands on these tables with their last status (for cooldowns and what is in flight). */
  commands: {
    id: string;
    action: string;
    table: string | null;
    partition: string | null;
    sourceNode: string | null;
    targetNode: string | null;
    status: string;
    issuedAt: number | null;
    resultTs: number | null;
    deadline: number | null;
  }[];
}

/** Partitions and placement of the given sharded tables of a source, its nodes, their commands. */
export async function placement(
  driver: Driver,
  source: string,
  tables: readonly string[],
  opts: { commandsSince?: number } = {},
): Promise<PlacementView> {
  const nodes = await driver.executeQuery(
    `MATCH (:DataSource {id: $source})-[:HAS_NODE]->(n:Node) WHERE n.vanishedAt IS NULL
     RETURN n.name AS name, n.state AS state, n.capacity AS capacity, n.managed AS managed ORDER BY size(n.name), n.name`,
    { source },
  );
  const parts = await driver.executeQuery(
    `MATCH (t:Table)-[:HAS_PARTITION]->(p:Partition)
     WHERE t.source = $source AND t.name IN $tables AND t.kind = 'sharded' AND t.vanishedAt IS NULL AND p.vanishedAt IS NULL
     OPTIONAL MATCH (p)-[r:PLACED_ON]->(n:Node)
     WITH t, p, collect(CASE WHEN r.role = 'primary' THEN n.name END) AS primaries, collect(CASE WHEN r.role = 'replica' THEN n.name END) AS replicas
     RETURN t.name AS table, t.partitionKey AS key, p.name AS partition, p.loText AS lo, p.hiText AS hi, p.rows AS rows, p.bytes AS bytes,
            primaries[0] AS node, replicas
     ORDER BY t.name, p.lo`,
    { source, tables: [...tables] },
  );
  const cmds = await driver.executeQuery(
    `MATCH (c:Command) WHERE c.table IN $tables AND c.store = $source AND coalesce(c.resultTs, c.issuedAt, 0) >= $since
     RETURN c.id AS id, c.action AS action, c.table AS table, c.partition AS partition, c.sourceNode AS sourceNode, c.targetNode AS targetNode,
            c.status AS status, c.issuedAt AS issuedAt, c.resultTs AS resultTs, c.deadline AS deadline`,
    { source, tables: [...tables], since: opts.commandsSince ?? 0 },
  );
  return {
    nodes: nodes.records.map((r) => ({
      name: r.get('name') as string,
      state: r.get('state') as string | null,
      capacity: r.get('capacity') as number | null,
      managed: r.get('managed') as boolean | null,
    })),
    partitions: parts.records.map((r) => ({
      table: r.get('table') as string,
      keyColumn: r.get('key') as string | null,
      partition: r.get('partition') as string,
      lo: r.get('lo') as string | null,
      hi: r.get('hi') as string | null,
      rows: r.get('rows') as number | null,
      bytes: r.get('bytes') as number | null,
      node: r.get('node') as string | null,
      replicas: r.get('replicas') as string[],
    })),
    commands: cmds.records.map((r) => ({
      id: r.get('id') as string,
      action: r.get('action') as string,
      table: r.get('table') as string | null,
      partition: r.get('partition') as string | null,
      sourceNode: r.get('sourceNode') as string | null,
      targetNode: r.get('targetNode') as string | null,
      status: r.get('status') as string,
      issuedAt: r.get('issuedAt') as number | null,
      resultTs: r.get('resultTs') as number | null,
      deadline: r.get('deadline') as number | null,
    })),
  };
}

/** Co-access between key buckets of the given tables, updated since `since`. */
export async function coAccess(
  driver: Driver,
  tables: readonly string[],
  since: number,
): Promise<
  {
    a: { table: string; lo: number | null; hi: number | null };
    b: { table: string; lo: number | null; hi: number | null };
    weight: number;
  }[]
> {
  const { records } = await driver.executeQuery(
    `MATCH (a:Series)-[e:CO_ACCESSED]->(b:Series)
     WHERE a.table IN $tables AND b.table IN $tables AND e.windowStart >= $since
     RETURN a.table AS at, a.lo AS alo, a.hi AS ahi, b.table AS bt, b.lo AS blo, b.hi AS bhi, e.weight AS w`,
    { tables: [...tables], since },
  );
  return records.map((r) => ({
    a: { table: r.get('at') as string, lo: r.get('alo') as number | null, hi: r.get('ahi') as number | null },
    b: { table: r.get('bt') as string, lo: r.get('blo') as number | null, hi: r.get('bhi') as number | null },
    weight: Number(r.get('w')),
  }));
}

export interface CommandOutcome {
  id: string;
  status: string;
  reason: string | null;
  rowsCopied: number | null;
  bytesMoved: number | null;
  verified: boolean | null;
  durationMs: number | null;
}

/** The last recorded status of each command (ISSUED when no executor has reported on it yet). */
export async function commandOutcomes(driver: Driver, ids: readonly string[]): Promise<Map<string, CommandOutcome>> {
  const { records } = await driver.executeQuery(
    `MATCH (c:Command) WHERE c.id IN $ids
     RETURN c.id AS id, coalesce(c.status, 'ISSUED') AS status, c.reason AS reason, c.rowsCopied AS rowsCopied,
            c.bytesMoved AS bytesMoved, c.verified AS verified, c.durationMs AS durationMs`,
    { ids: [...ids] },
  );
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return new Map(
    records.map((r) => [
      r.get('id') as string,
      {
        id: r.get('id') as string,
        status: r.get('status') as string,
        reason: r.get('reason') as string | null,
        rowsCopied: num(r.get('rowsCopied')),
        bytesMoved: num(r.get('bytesMoved')),
        verified: r.get('verified') as boolean | null,
        durationMs: num(r.get('durationMs')),
      },
    ]),
  );
}
