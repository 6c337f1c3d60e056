/**
 * The federation graph's facts and single-object writes:
 *   (DataSource)-[:HAS_DATABASE]->(Database)-[:HAS_TABLE]->(Table)-[:HAS_PARTITION]->(Partition)
 *   (DataSource)-[:HAS_TOPIC]->(Topic)-[:HAS_PARTITION]->(Partition)
 *   (Partition)-[:PLACED_ON {role:'primary'|'replica'}]->(Node)<-[:HAS_NODE]-(DataSource)
 *   (Database)-[:ON_NODE]->(Node)             a node-local database (PostgreSQL shard node)
 *   (Table|Topic)-[:DERIVED_FROM {via}]->(Table|Topic)   lineage: views, materialized views, MV targets
 *   (Command)-[:TARGETS]->(Table|Topic|Partition)   (Command)-[:CHANGED|CREATED]->(Table|Topic|Partition)
 *   (Series)-[:CO_ACCESSED {weight}]->(Series)      load and co-access from the ingest stage
 * Every write is a MERGE keyed by `id`, so applying the same fact twice changes nothing.
 * Whole-source discovery writes go through snapshot.ts; commands and load through sync.ts.
 */
import type { Driver } from './neo4j.js';

export type SourceKind = 'warehouse' | 'oltp' | 'lake' | 'streaming' | 'edge';

export interface SourceFact {
  id: string;
  kind: SourceKind;
  engine: string;
  endpoint: string;
  version?: string;
  costPerGbMonth?: number;
  /** Measured round trip of a trivial query, ms. */
  latencyMs?: number;
}

/**
 * Where a discovered object came from inside its source, as a path prefix ("route/orders/",
 * "node/node1/", "ch/", "kafka/topic/"): a snapshot that observed a prefix completely marks
 * what it no longer saw there as vanished, and leaves every other prefix alone.
 */
export type Scope = string;

export interface NodeFact {
  name: string;
  endpoint: string;
  state?: string;
  capacity?: number | null;
  latencyMs?: number | null;
  /** Started by a resource adapter (scale_out), so one can stop it; configured nodes are not. */
  managed?: boolean;
  scope: Scope;
}

export interface DatabaseFact {
  name: string;
  /** Set for a database that lives on one node (a shard node's own database). */
  node?: string | null;
  scope: Scope;
}

export type TableKind = 'table' | 'sharded' | 'partitioned' | 'view' | 'materialized_view';
export type PartitionKind = 'range' | 'hash' | 'value' | 'list' | 'whole';

export interface TableFact {
  source: string;
  database: string;
  name: string;
  partitionKey?: string | null;
  rows?: number;
  bytes?: number;
  kind?: TableKind;
  engine?: string | null;
  scope?: Scope;
}

export interface PartitionFact {
  source: string;
  database: string;
  table: string;
  name: string;
  /** Inclusive lower and exclusive upper key bound; null = unbounded. */
  lo: number | null;
  hi: number | null;
  node: string;
  rows?: number;
  bytes?: number;
  /** Set for a topic partition: its parent is the Topic, not a Table. */
  topic?: string;
  kind?: PartitionKind;
  /** Exact decimal bounds (lo/hi are doubles in the graph, exact only below 2^53). */
  loText?: string | null;
  hiText?: string | null;
  /** Hash partitions: bucket number of `modulus`. */
  bucket?: number | null;
  modulus?: number | null;
  /** Value/list partitions: the partition value as the store prints it. */
  value?: string | null;
  physical?: string | null;
  state?: string | null;
  replicas?: string[];
  scope?: Scope;
}

export interface TopicFact {
  name: string;
  partitions: number;
  replicationFactor: number;
  messages?: number;
  compacted?: boolean;
  scope: Scope;
}

/** `from` is derived from `to` (a view from its table, an MV target from its view). */
export interface LineageFact {
  from: { label: 'Table' | 'Topic'; id: string };
  to: { label: 'Table' | 'Topic'; id: string };
  via: string;
}

export const tableId = (t: { source: string; database: string; table?: string; name?: string }) =>
  `${t.source}/${t.database}/${t.table ?? t.name}`;
export const topicId = (source: string, topic: string) => `${source}/${topic}`;
export const partitionId = (p: PartitionFact | { source: string; database: string; table: string; name: string; topic?: string }) =>
  'topic' in p && p.topic !== undefined ? `${topicId(p.source, p.topic)}/${p.name}` : `${tableId(p)}/${p.name}`;
export const databaseId = (source: string, database: string) => `${source}/${database}`;
export const nodeId = (source: string, node: string) => `${source}/${node}`;

export async function upsertSource(driver: Driver, s: SourceFact): Promise<void> {
  await driver.executeQuery(
    `MERGE (s:DataSource {id: $id})
     SET s.kind = $kind, s.engine = $engine, s.endpoint = $endpoint, s.version = coalesce($version, s.version),
         s.costPerGbMonth = coalesce($cost, s.costPerGbMonth), s.latencyMs = coalesce($latency, s.latencyMs), s.seenAt = timestamp()`,
    {
      id: s.id,
      kind: s.kind,
      engine: s.engine,
      endpoint: s.endpoint,
      version: s.version ?? null,
      cost: s.costPerGbMonth ?? null,
      latency: s.latencyMs ?? null,
    },
  );
}

export async function upsertNode(
  driver: Driver,
  source: string,
  node: string,
  props: { endpoint: string; capacity?: number },
): Promise<void> {
  await driver.executeQuery(
    `MATCH (s:DataSource {id: $source})
     MERGE (n:Node {id: $id}) SET n.name = $node, n.source = $source, n.endpoint = $endpoint, n.capacity = $capacity, n.seenAt = timestamp()
     MERGE (s)-[:HAS_NODE]->(n)`,
    { source, id: nodeId(source, node), node, endpoint: props.endpoint, capacity: props.capacity ?? null },
  );
}

export async function upsertTable(driver: Driver, t: TableFact): Promise<void> {
  await driver.executeQuery(
    `MATCH (s:DataSource {id: $source})
     MERGE (d:Database {id: $dbId}) SET d.name = $database
     MERGE (s)-[:HAS_DATABASE]->(d)
     MERGE (t:Table {id: $id}) SET t.name = $name, t.source = $source, t.database = $database,
       t.partitionKey = $key, t.rows = $rows, t.bytes = $bytes, t.seenAt = timestamp()
     MERGE (d)-[:HAS_TABLE]->(t)`,
    {
      source: t.source,
      dbId: `${t.source}/${t.database}`,
      database: t.database,
      id: tableId(t),
      name: t.name,
      key: t.partitionKey ?? null,
      rows: t.rows ?? null,
      bytes: t.bytes ?? null,
    },
  );
}

/** Creates or updates a partition and makes `node` its only primary placement. */
export async function upsertPartition(driver: Driver, p: PartitionFact): Promise<void> {
  await driver.executeQuery(
    `MATCH (t:Table {id: $tableId})
     MERGE (p:Partition {id: $id})
     SET p.name = $name, p.table = $table, p.source = $source, p.kind = 'range', p.node = $node, p.lo = $lo, p.hi = $hi,
         p.rows = $rows, p.bytes = $bytes, p.seenAt = timestamp()
     MERGE (t)-[:HAS_PARTITION]->(p)
     WITH p
     OPTIONAL MATCH (p)-[old:PLACED_ON {role: 'primary'}]->(:Node)
     DELETE old
     WITH p
     MATCH (n:Node {id: $nodeId})
     MERGE (p)-[:PLACED_ON {role: 'primary'}]->(n)`,
    {
      tableId: tableId(p),
      id: partitionId(p),
      name: p.name,
      table: p.table,
      source: p.source,
      node: p.node,
      lo: p.lo,
      hi: p.hi,
      rows: p.rows ?? null,
      bytes: p.bytes ?? null,
      nodeId: nodeId(p.source, p.node),
    },
  );
}

/** Where key `key` of a table lives: the partition whose [lo, hi) holds it, and its nodes. */
export async function locateKey(driver: Driver, table: { source: string; database: string; name: string }, key: number) {
  const { records } = await driver.executeQuery(
    `MATCH (t:Table {id: $tableId})-[:HAS_PARTITION]->(p:Partition)-[r:PLACED_ON]->(n:Node)
     WHERE p.vanishedAt IS NULL AND (p.lo IS NULL OR p.lo <= $key) AND (p.hi IS NULL OR $key < p.hi)
     RETURN p.name AS partition, n.name AS node, r.role AS role ORDER BY role`,
    { tableId: tableId(table), key },
  );
  return records.map((r) => ({ partition: r.get('partition') as string, node: r.get('node') as string, role: r.get('role') as string }));
}

/** Records a command and what it changed, for lineage ("what changed table T, and why"). */
export async function recordCommand(
  driver: Driver,
  c: { commandId: string; action: string; status: string; explanation: string; tableId?: string },
): Promise<void> {
  await driver.executeQuery(
    `MERGE (c:Command {id: $id}) SET c.action = $action, c.status = $status, c.explanation = $explanation, c.updatedAt = timestamp()
     WITH c
     OPTIONAL MATCH (t:Table {id: $tableId})
     FOREACH (_ IN CASE WHEN t IS NULL THEN [] ELSE [1] END | MERGE (c)-[:CHANGED]->(t))`,
    { id: c.commandId, action: c.action, status: c.status, explanation: c.explanation, tableId: c.tableId ?? '' },
  );
}
