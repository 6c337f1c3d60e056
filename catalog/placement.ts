/**
 * Questions the planner (the decide pipeline) and the demo report ask the catalog:
 *   placement       partitions and placement of sharded tables, the nodes, recent commands
 *   coAccess        co-access between key buckets of tables since a time
 *   commandOutcomes the last recorded status of commands
 * Only objects not marked vanished are answered with.
 */
import type { Driver } from './neo4j.js';

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
  /** Commands on these tables, and the store's scale commands, with their last status (for cooldowns and what is in flight). */
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
    // Resource commands name no table: scale_out and scale_in of the store's nodes come too.
    `MATCH (c:Command) WHERE (c.table IN $tables OR c.action IN ['scale_out', 'scale_in']) AND c.store = $source
       AND coalesce(c.resultTs, c.issuedAt, 0) >= $since
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
