/**
 * Keeping the graph current from the flow's topics:
 *   commands  → (Command {status:'ISSUED'})-[:TARGETS]->(Table|Topic|Partition)
 *   results   → the command's status, reason and outcome; a SUCCEEDED change names what to
 *               rediscover (`rediscoveryFor`), after which `linkOutcome` adds
 *               (Command)-[:CHANGED]->(Table|Topic|Partition) and -[:CREATED]->(new Partition)
 *   aggregates → (Series) nodes with the latest window's load, and CO_ACCESSED edges between
 *               series weighted by the window's co-access counts
 * Every write is keyed (command id, series id, window start), so a redelivered record changes
 * nothing; an older window or an earlier result never overwrites a newer one.
 */
import type { AnyCommand, CommandResult, WorkloadAggregate } from '../schemas/types.js';
import { commandPlace } from '../schemas/commandPlace.js';
import { bucketBounds, type TableKey } from '../schemas/keyBuckets.js';
import type { Driver } from './neo4j.js';
import type { DiscoveryTarget, SourceDiscovery } from './discover.js';

const TERMINAL = ['SUCCEEDED', 'FAILED', 'ROLLED_BACK', 'REJECTED'];

export interface StoreNames {
  /** Catalog source ids of the store kinds (commands name stores by these ids). */
  postgres: string;
  clickhouse: string;
  kafka: string;
  /** The database a ClickHouse command means when it names none. */
  clickhouseDatabase: string;
}

/** Topic name a Kafka command means (the adapter's rule: params.topic, else the table). */
export const topicOf = (c: { table?: string; params: Record<string, string> }) => c.params.topic ?? c.table ?? null;

export async function recordCommands(driver: Driver, cmds: readonly AnyCommand[], names: StoreNames): Promise<void> {
  if (cmds.length === 0) return;
  const rows = cmds.map((c) => {
    const place = commandPlace(c);
    return {
      id: c.commandId,
      kind: c.kind,
      action: c.action,
      store: c.store,
      storeKind: c.storeKind,
      ...place,
      issuedAt: c.issuedAt,
      deadline: c.deadline,
      explanation: c.explanation,
      params: JSON.stringify(c.params),
      policy: c.policy,
      seriesId: c.evidence.seriesId,
      peakAt: c.evidence.peakAt,
      forecastPeak: c.evidence.forecastPeak,
      capacity: c.evidence.capacity,
      expectedBenefit: c.expectedBenefit,
      expectedCost: c.expectedCost,
      // what the command aims at, in catalog terms
      database: c.storeKind === 'clickhouse' ? (c.params.database ?? names.clickhouseDatabase) : null,
      topic: c.storeKind === 'kafka' ? topicOf({ table: place.table ?? undefined, params: c.params }) : null,
    };
  });
  await driver.executeQuery(
    `UNWIND $rows AS r
     MERGE (c:Command {id: r.id})
     ON CREATE SET c.status = 'ISSUED'
     SET c.kind = r.kind, c.action = r.action, c.store = r.store, c.storeKind = r.storeKind, c.table = r.table,
         c.partition = r.partition, c.sourceNode = r.sourceNode, c.targetNode = r.targetNode, c.issuedAt = r.issuedAt,
         c.deadline = r.deadline, c.explanation = r.explanation, c.params = r.params, c.policy = r.policy,
         c.seriesId = r.seriesId, c.peakAt = r.peakAt, c.forecastPeak = r.forecastPeak, c.capacity = r.capacity,
         c.expectedBenefit = r.expectedBenefit, c.expectedCost = r.expectedCost, c.database = r.database
     WITH c, r
     CALL {
       WITH c, r
       OPTIONAL MATCH (t:Table)
       WHERE r.table IS NOT NULL AND r.topic IS NULL AND t.source = r.store AND t.name = r.table AND t.vanishedAt IS NULL
         AND (r.database IS NULL OR t.database = r.database)
       OPTIONAL MATCH (t)-[:HAS_PARTITION]->(p:Partition {name: r.partition})
       WHERE p.vanishedAt IS NULL
       FOREACH (_ IN CASE WHEN t IS NULL THEN [] ELSE [1] END | MERGE (c)-[:TARGETS]->(t))
       FOREACH (_ IN CASE WHEN p IS NULL THEN [] ELSE [1] END | MERGE (c)-[:TARGETS]->(p))
     }
     CALL {
       WITH c, r
       OPTIONAL MATCH (tp:Topic {id: r.store + '/' + r.topic})
       FOREACH (_ IN CASE WHEN tp IS NULL THEN [] ELSE [1] END | MERGE (c)-[:TARGETS]->(tp))
     }`,
    { rows },
  );
}

/** What the graph knows of a command when its result arrives. */
export interface CommandInfo {
  commandId: string;
  status: string;
  action: string;
  store: string;
  storeKind: string | null;
  kind: string | null;
  table: string | null;
  partition: string | null;
  topic: string | null;
  database: string | null;
  resultTs: number;
  details: Record<string, string>;
}

/**
 * Records results (the latest per command wins; a terminal status is never replaced by a
 * progress report) and returns the commands whose outcome this batch made SUCCEEDED.
 */
export async function recordResults(driver: Driver, results: readonly CommandResult[]): Promise<CommandInfo[]> {
  const latest = new Map<string, CommandResult>();
  for (const r of results) {
    const cur = latest.get(r.commandId);
    // An outcome beats progress; a REJECTED that follows an outcome is the ledger refusing a
    // redelivered id, not the command's outcome.
    const rank = (x: CommandResult) => (x.status === 'REJECTED' ? 1 : TERMINAL.includes(x.status) ? 2 : 0);
    if (!cur || rank(r) > rank(cur) || (rank(r) === rank(cur) && r.ts >= cur.ts)) latest.set(r.commandId, r);
  }
  if (latest.size === 0) return [];
  const rows = [...latest.values()].map((r) => ({
    id: r.commandId,
    ts: r.ts,
    status: r.status,
    reason: r.reason,
    store: r.store,
    action: r.action,
    topic: r.topic,
    rowsCopied: r.rowsCopied,
    bytesMoved: r.bytesMoved,
    verified: r.verified,
    durationMs: r.durationMs,
    executor: r.executor,
    details: JSON.stringify(r.details),
    terminal: TERMINAL.includes(r.status),
  }));
  const { records } = await driver.executeQuery(
    `UNWIND $rows AS r
     MERGE (c:Command {id: r.id})
     ON CREATE SET c.store = r.store, c.action = r.action, c.commandTopic = r.topic
     WITH c, r, c.status AS before
     WHERE c.resultTs IS NULL
        OR (NOT c.status IN $terminal AND (r.terminal OR r.ts >= c.resultTs))
        OR (c.status IN $terminal AND r.terminal AND r.status <> 'REJECTED' AND r.ts >= c.resultTs)
     SET c.status = r.status, c.reason = r.reason, c.resultTs = r.ts, c.rowsCopied = r.rowsCopied, c.bytesMoved = r.bytesMoved,
         c.verified = r.verified, c.durationMs = r.durationMs, c.executor = r.executor, c.details = r.details,
         c.finishedAt = CASE WHEN r.terminal THEN r.ts ELSE c.finishedAt END
     WITH c, r, before WHERE r.status = 'SUCCEEDED' AND coalesce(before, '') <> 'SUCCEEDED'
     RETURN c.id AS id, c.status AS status, c.action AS action, c.store AS store, c.storeKind AS storeKind, c.kind AS kind,
            c.table AS table, c.partition AS partition, c.database AS database, c.params AS params, r.details AS details, r.ts AS ts`,
    { rows, terminal: TERMINAL },
  );
  return records.map((r) => {
    const params = JSON.parse((r.get('params') as string | null) ?? '{}') as Record<string, string>;
    const table = r.get('table') as string | null;
    return {
      commandId: r.get('id') as string,
      status: r.get('status') as string,
      action: r.get('action') as string,
      store: r.get('store') as string,
      storeKind: r.get('storeKind') as string | null,
      kind: r.get('kind') as string | null,
      table,
      partition: r.get('partition') as string | null,
      database: r.get('database') as string | null,
      topic: params.topic ?? null,
      resultTs: r.get('ts') as number,
      details: JSON.parse(r.get('details') as string) as Record<string, string>,
    };
  });
}

const TABLE_ACTIONS = new Set([
  'split',
  'merge',
  'move',
  'replicate',
  'dereplicate',
  'colocate',
  'composite_index',
  'derived_attribute',
  'precompute',
  'rekey',
]);

/**
 * Which source (and which part of it) a succeeded command changed, so that part is discovered
 * again. PostgreSQL table commands: that sharded table; node changes (scale_out/in): the whole
 * federation; ClickHouse: the server (two queries); Kafka: the topic.
 */
export function rediscoveryFor(
  c: CommandInfo,
  sources: readonly SourceDiscovery[],
  names: StoreNames,
): { source: SourceDiscovery; target?: DiscoveryTarget } | null {
  const kind = c.storeKind ?? (c.store === names.clickhouse ? 'clickhouse' : c.store === names.kafka ? 'kafka' : 'postgres');
  const src = sources.find((s) => s.kind === kind);
  if (!src) return null;
  if (kind === 'postgres') {
    return c.table && TABLE_ACTIONS.has(c.action) ? { source: src, target: { table: c.table } } : { source: src };
  }
  if (kind === 'kafka') {
    const topic = c.details.topic ?? c.topic ?? c.table;
    return topic ? { source: src, target: { topic } } : { source: src };
  }
  return { source: src };
}

/** Partition names a succeeded command touched, from its own fields and its result's details. */
export function touchedPartitions(c: CommandInfo): { changed: string[]; created: string[] } {
  const changed = new Set<string>();
  const created = new Set<string>();
  if (c.partition) changed.add(c.partition);
  if (c.details.shard) changed.add(c.details.shard);
  const target = c.details.target?.split('/')[1];
  if (target) (c.action === 'split' ? created : changed).add(target);
  return { changed: [...changed], created: [...created].filter((x) => !changed.has(x)) };
}

/** (Command)-[:CHANGED]->(its table/topic and the partitions it touched), -[:CREATED]->(new ones). */
export async function linkOutcome(driver: Driver, c: CommandInfo, extra: { createdIds?: string[] } = {}): Promise<void> {
  const { changed, created } = touchedPartitions(c);
  const isTopic = c.storeKind === 'kafka';
  await driver.executeQuery(
    `MATCH (c:Command {id: $id})
     CALL {
       WITH c
       OPTIONAL MATCH (t:Table)
       WHERE NOT $isTopic AND $table IS NOT NULL AND t.source = $store AND t.name = $table AND t.vanishedAt IS NULL
         AND ($database IS NULL OR t.database = $database)
       OPTIONAL MATCH (tp:Topic {id: $topicId})
       WITH c, [x IN collect(t) + collect(tp) WHERE x IS NOT NULL] AS parents
       FOREACH (x IN parents | MERGE (c)-[:CHANGED]->(x))
       WITH c, parents
       UNWIND parents AS parent
       MATCH (parent)-[:HAS_PARTITION]->(p:Partition)
       WHERE p.vanishedAt IS NULL AND (p.name IN $changed OR p.name IN $created OR p.id IN $createdIds)
       FOREACH (_ IN CASE WHEN p.name IN $created OR p.id IN $createdIds THEN [1] ELSE [] END | MERGE (c)-[:CREATED]->(p))
       FOREACH (_ IN CASE WHEN p.name IN $changed THEN [1] ELSE [] END | MERGE (c)-[:CHANGED]->(p))
     }`,
    {
      id: c.commandId,
      isTopic,
      table: c.table,
      store: c.store,
      database: c.database,
      topicId: isTopic ? `${c.store}/${c.details.topic ?? c.topic ?? c.table ?? ''}` : '',
      changed,
      created,
      createdIds: extra.createdIds ?? [],
    },
  );
}

/** The latest window of each series, and the co-access pairs of the batch summed per window. */
export async function recordAggregates(
  driver: Driver,
  aggs: readonly WorkloadAggregate[],
  keys: Readonly<Record<string, TableKey>> = {},
): Promise<void> {
  const latest = new Map<string, WorkloadAggregate>();
  for (const a of aggs) {
    const cur = latest.get(a.seriesId);
    if (!cur || cur.windowStart <= a.windowStart) latest.set(a.seriesId, a);
  }
  if (latest.size === 0) return;
  const series = [...latest.values()].map((a) => {
    const { lo, hi } = bucketBounds(keys[a.table ?? ''], a.keyBucket);
    return {
      id: a.seriesId,
      source: a.source,
      table: a.table,
      bucket: a.keyBucket,
      partition: a.partition,
      node: a.node,
      lo,
      hi,
      windowStart: a.windowStart,
      windowEnd: a.windowEnd,
      queries: a.queries,
      reads: a.reads,
      writes: a.writes,
      rowsRead: a.rowsRead,
      rowsWritten: a.rowsWritten,
      errors: a.errors,
      p95: a.latencyP95Ms,
      latencyMeanMs: a.queries > 0 ? a.latencySumMs / a.queries : null,
      hotKeys: a.hotKeys.slice(0, 10).map((h) => `${h.key}:${h.count}`),
    };
  });
  await driver.executeQuery(
    `UNWIND $rows AS r
     MERGE (s:Series {id: r.id})
     WITH s, r WHERE s.windowStart IS NULL OR r.windowStart >= s.windowStart
     SET s.source = r.source, s.table = r.table, s.bucket = r.bucket, s.partition = r.partition, s.node = r.node,
         s.lo = r.lo, s.hi = r.hi, s.windowStart = r.windowStart, s.windowEnd = r.windowEnd, s.queries = r.queries,
         s.reads = r.reads, s.writes = r.writes, s.rowsRead = r.rowsRead, s.rowsWritten = r.rowsWritten, s.errors = r.errors,
         s.latencyP95Ms = r.p95, s.latencyMeanMs = r.latencyMeanMs, s.hotKeys = r.hotKeys`,
    { rows: series },
  );
  // Co-access: `other` is `table|bucket` of the same source; edges join the bucket series.
  const pairs = new Map<
    string,
    {
      a: string;
      b: string;
      source: string;
      table: string;
      bucket: string;
      otherTable: string;
      otherBucket: string;
      windowStart: number;
      weight: number;
    }
  >();
  for (const a of aggs) {
    if (!a.table || a.table === '*' || !a.keyBucket || a.coAccess.length === 0) continue;
    const from = `${a.source}|${a.table}|${a.keyBucket}`;
    for (const c of a.coAccess) {
      const [otherTable, otherBucket] = c.other.split('|');
      if (!otherTable || otherBucket === undefined) continue;
      const to = `${a.source}|${c.other}`;
      const k = `${from}\u0000${to}\u0000${a.windowStart}`;
      const cur = pairs.get(k);
      if (cur) cur.weight += c.count;
      else
        pairs.set(k, {
          a: from,
          b: to,
          source: a.source,
          table: a.table,
          bucket: a.keyBucket,
          otherTable,
          otherBucket,
          windowStart: a.windowStart,
          weight: c.count,
        });
    }
  }
  if (pairs.size === 0) return;
  const edges = [...pairs.values()].map((p) => ({
    ...p,
    aRange: bucketBounds(keys[p.table], p.bucket),
    bRange: bucketBounds(keys[p.otherTable], p.otherBucket),
  }));
  await driver.executeQuery(
    `UNWIND $rows AS r
     MERGE (a:Series {id: r.a})
     ON CREATE SET a.source = r.source, a.table = r.table, a.bucket = r.bucket, a.lo = r.aRange.lo, a.hi = r.aRange.hi
     MERGE (b:Series {id: r.b})
     ON CREATE SET b.source = r.source, b.table = r.otherTable, b.bucket = r.otherBucket, b.lo = r.bRange.lo, b.hi = r.bRange.hi
     MERGE (a)-[e:CO_ACCESSED]->(b)
     WITH e, r WHERE e.windowStart IS NULL OR r.windowStart > e.windowStart
     SET e.weight = r.weight, e.total = coalesce(e.total, 0) + r.weight, e.windowStart = r.windowStart`,
    { rows: edges },
  );
}
