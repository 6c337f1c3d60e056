/**
 * Writes and reads of the federation graph:
 *   (DataSource)-[:HAS_DATABASE]->(Database)-[:HAS_TABLE]->(Table)-[:HAS_PARTITION]->(Partition)
 *   (Partition)-[:PLACED_ON {role:'primary'|'replica'}]->(Node)<-[:HAS_NODE]-(DataSource)
 *   (Command)-[:CHANGED]->(Table|Partition)   (Table)-[:DERIVED_FROM]->(Table)
 * Every write is a MERGE keyed by `id`, so applying the same fact twice changes nothing.
 */
import type { Driver } from './neo4j.js';

export type SourceKind = 'warehouse' | 'oltp' | 'lake' | 'streaming' | 'edge';

export interface SourceFact {
  id: string;
  kind: SourceKind;
  engine: string;
  endpoint: string;
  costPerGbMonth?: number;
  latencyMs?: number;
}

export interface TableFact {
  source: string;
  database: string;
  name: string;
  partitionKey?: string | null;
  rows?: number;
  bytes?: number;
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
}

export const tableId = (t: { source: string; database: string; table?: string; name?: string }) =>
  `${t.source}/${t.database}/${t.table ?? t.name}`;
export const partitionId = (p: PartitionFact | { source: string; database: string; table: string; name: string }) =>
  `${tableId(p)}/${p.name}`;
export const nodeId = (source: string, node: string) => `${source}/${node}`;

export async function upsertSource(driver: Driver, s: SourceFact): Promise<void> {
  await driver.executeQuery(
    `MERGE (s:DataSource {id: $id})
     SET s.kind = $kind, s.engine = $engine, s.endpoint = $endpoint,
         s.costPerGbMonth = $cost, s.latencyMs = $latency, s.seenAt = timestamp()`,
    { id: s.id, kind: s.kind, engine: s.engine, endpoint: s.endpoint, cost: s.costPerGbMonth ?? null, latency: s.latencyMs ?? null },
  );
}

export async function upsertNode(driver: Driver, source: string, node: string, props: { endpoint: string; capacity?: number }): Promise<void> {
  await driver.executeQuery(
    `MATCH (s:DataSource {id: $source})
     MERGE (n:Node {id: $id}) SET n.name = $node, n.endpoint = $endpoint, n.capacity = $capacity, n.seenAt = timestamp()
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
      source: t.source, dbId: `${t.source}/${t.database}`, database: t.database, id: tableId(t), name: t.name,
      key: t.partitionKey ?? null, rows: t.rows ?? null, bytes: t.bytes ?? null,
    },
  );
}

/** Creates or updates a partition and makes `node` its only primary placement. */
export async function upsertPartition(driver: Driver, p: PartitionFact): Promise<void> {
  await driver.executeQuery(
    `MATCH (t:Table {id: $tableId})
     MERGE (p:Partition {id: $id})
     SET p.name = $name, p.table = $table, p.lo = $lo, p.hi = $hi, p.rows = $rows, p.bytes = $bytes, p.seenAt = timestamp()
     MERGE (t)-[:HAS_PARTITION]->(p)
     WITH p
     OPTIONAL MATCH (p)-[old:PLACED_ON {role: 'primary'}]->(:Node)
     DELETE old
     WITH p
     MATCH (n:Node {id: $nodeId})
     MERGE (p)-[:PLACED_ON {role: 'primary'}]->(n)`,
    {
      tableId: tableId(p), id: partitionId(p), name: p.name, table: p.table, lo: p.lo, hi: p.hi,
      rows: p.rows ?? null, bytes: p.bytes ?? null, nodeId: nodeId(p.source, p.node),
    },
  );
}

/** Where key `key` of a table lives: the partition whose [lo, hi) holds it, and its nodes. */
export async function locateKey(driver: Driver, table: { source: string; database: string; name: string }, key: number) {
  const { records } = await driver.executeQuery(
    `MATCH (t:Table {id: $tableId})-[:HAS_PARTITION]->(p:Partition)-[r:PLACED_ON]->(n:Node)
     WHERE (p.lo IS NULL OR p.lo <= $key) AND (p.hi IS NULL OR $key < p.hi)
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
