/**
 * A snapshot is what one introspection of one source saw (pg.ts, clickhouse.ts, kafka.ts).
 * Applying it to the graph: read what the graph holds for the scopes the snapshot observed,
 * diff (pure: `diffSnapshot`), then write everything in one transaction — MERGE the facts,
 * replace placements and lineage of the objects seen, and mark what is gone as vanished
 * (`vanishedAt` set, placements removed; kept for the history of commands that touched it,
 * purged after `retainVanishedMs`). Objects in scopes the snapshot did not observe (a node
 * that did not answer) are left as they were.
 */
import type { Driver } from './neo4j.js';
import type { DiscoveredLabel } from './neo4j.js';
import {
  databaseId,
  nodeId,
  partitionId,
  tableId,
  topicId,
  type DatabaseFact,
  type LineageFact,
  type NodeFact,
  type PartitionFact,
  type Scope,
  type SourceFact,
  type TableFact,
  type TopicFact,
} from './graph.js';

export interface Snapshot {
  source: SourceFact;
  /** Scope prefixes observed completely: objects under them that the snapshot lacks vanished. */
  scopes: Scope[];
  nodes: NodeFact[];
  databases: DatabaseFact[];
  tables: (TableFact & { scope: Scope })[];
  partitions: (PartitionFact & { scope: Scope })[];
  topics: TopicFact[];
  lineage: LineageFact[];
  /** Scopes that could not be read (and were therefore not observed). */
  unreachable: { scope: Scope; reason: string }[];
}

export interface ObjRef {
  label: DiscoveredLabel;
  id: string;
}

export interface CatalogDiff {
  source: string;
  at: number;
  scopes: Scope[];
  /** New, or back after having vanished. */
  added: ObjRef[];
  vanished: ObjRef[];
  /** Partitions whose bounds or primary node changed, topics whose partition count changed. */
  changed: (ObjRef & { what: string })[];
  unreachable: { scope: Scope; reason: string }[];
  counts: Record<DiscoveredLabel, number>;
}

/** What the graph holds for one object, as far as the diff needs it. */
export interface Existing {
  label: DiscoveredLabel;
  id: string;
  scope: string | null;
  vanished: boolean;
  node?: string | null;
  lo?: number | null;
  hi?: number | null;
  partitions?: number | null;
}

/** The ids of every object in the snapshot, by label. */
export function snapshotIds(s: Snapshot): Map<string, ObjRef & { fact: unknown }> {
  const out = new Map<string, ObjRef & { fact: unknown }>();
  const put = (label: DiscoveredLabel, id: string, fact: unknown) => out.set(`${label}:${id}`, { label, id, fact });
  const src = s.source.id;
  for (const n of s.nodes) put('Node', nodeId(src, n.name), n);
  for (const d of s.databases) put('Database', databaseId(src, d.name), d);
  for (const t of s.tables) put('Table', tableId(t), t);
  for (const t of s.topics) put('Topic', topicId(src, t.name), t);
  for (const p of s.partitions) put('Partition', partitionId(p), p);
  return out;
}

const inScope = (scope: string | null, prefixes: readonly string[]) => scope !== null && prefixes.some((p) => scope.startsWith(p));

/** Pure: the diff between what the graph holds and what the snapshot saw. */
export function diffSnapshot(s: Snapshot, existing: readonly Existing[], at: number): CatalogDiff {
  const seen = snapshotIds(s);
  const byKey = new Map(existing.map((e) => [`${e.label}:${e.id}`, e]));
  const added: ObjRef[] = [];
  const changed: CatalogDiff['changed'] = [];
  for (const [key, ref] of seen) {
    const e = byKey.get(key);
    if (!e || e.vanished) {
      added.push({ label: ref.label, id: ref.id });
      continue;
    }
    if (ref.label === 'Partition') {
      const p = ref.fact as PartitionFact;
      const what: string[] = [];
      if ((e.node ?? null) !== p.node) what.push(`node ${e.node ?? '?'} → ${p.node}`);
      if ((e.lo ?? null) !== p.lo || (e.hi ?? null) !== p.hi)
        what.push(`range [${e.lo ?? '-∞'}, ${e.hi ?? '∞'}) → [${p.lo ?? '-∞'}, ${p.hi ?? '∞'})`);
      if (what.length) changed.push({ label: 'Partition', id: ref.id, what: what.join(', ') });
    } else if (ref.label === 'Topic') {
      const t = ref.fact as TopicFact;
      if (e.partitions !== undefined && e.partitions !== null && e.partitions !== t.partitions) {
        changed.push({ label: 'Topic', id: ref.id, what: `partitions ${e.partitions} → ${t.partitions}` });
      }
    }
  }
  const vanished = existing
    .filter((e) => !e.vanished && inScope(e.scope, s.scopes) && !seen.has(`${e.label}:${e.id}`))
    .map((e) => ({ label: e.label, id: e.id }));
  return {
    source: s.source.id,
    at,
    scopes: s.scopes,
    added,
    vanished,
    changed,
    unreachable: s.unreachable,
    counts: {
      Node: s.nodes.length,
      Database: s.databases.length,
      Table: s.tables.length,
      Partition: s.partitions.length,
      Topic: s.topics.length,
    },
  };
}

const LABEL_QUERIES: Record<DiscoveredLabel, string> = {
  Node: 'MATCH (x:Node) WHERE x.source = $source AND (x.id IN $ids OR any(p IN $scopes WHERE x.scope STARTS WITH p)) RETURN x.id AS id, x.scope AS scope, x.vanishedAt IS NOT NULL AS vanished',
  Database:
    'MATCH (x:Database) WHERE x.source = $source AND (x.id IN $ids OR any(p IN $scopes WHERE x.scope STARTS WITH p)) RETURN x.id AS id, x.scope AS scope, x.vanishedAt IS NOT NULL AS vanished',
  Table:
    'MATCH (x:Table) WHERE x.source = $source AND (x.id IN $ids OR any(p IN $scopes WHERE x.scope STARTS WITH p)) RETURN x.id AS id, x.scope AS scope, x.vanishedAt IS NOT NULL AS vanished',
  Topic:
    'MATCH (x:Topic) WHERE x.source = $source AND (x.id IN $ids OR any(p IN $scopes WHERE x.scope STARTS WITH p)) RETURN x.id AS id, x.scope AS scope, x.vanishedAt IS NOT NULL AS vanished, x.partitions AS partitions',
  Partition:
    'MATCH (x:Partition) WHERE x.source = $source AND (x.id IN $ids OR any(p IN $scopes WHERE x.scope STARTS WITH p)) RETURN x.id AS id, x.scope AS scope, x.vanishedAt IS NOT NULL AS vanished, x.node AS node, x.lo AS lo, x.hi AS hi',
};

export async function readExisting(driver: Driver, s: Snapshot): Promise<Existing[]> {
  const ids = new Map<DiscoveredLabel, string[]>();
  for (const ref of snapshotIds(s).values()) ids.set(ref.label, [...(ids.get(ref.label) ?? []), ref.id]);
  const out: Existing[] = [];
  for (const label of Object.keys(LABEL_QUERIES) as DiscoveredLabel[]) {
    const { records } = await driver.executeQuery(LABEL_QUERIES[label], {
      source: s.source.id,
      ids: ids.get(label) ?? [],
      scopes: s.scopes,
    });
    for (const r of records) {
      out.push({
        label,
        id: r.get('id') as string,
        scope: (r.get('scope') as string | null) ?? null,
        vanished: r.get('vanished') as boolean,
        ...(label === 'Partition'
          ? { node: r.get('node') as string | null, lo: r.get('lo') as number | null, hi: r.get('hi') as number | null }
          : {}),
        ...(label === 'Topic' ? { partitions: r.get('partitions') as number | null } : {}),
      });
    }
  }
  return out;
}

export interface ApplyOptions {
  now?: number;
  /** Vanished objects of this source older than this are deleted (default one day). */
  retainVanishedMs?: number;
}

/** Diffs the snapshot against the graph and writes it, in one transaction. */
export async function applySnapshot(driver: Driver, s: Snapshot, opts: ApplyOptions = {}): Promise<CatalogDiff> {
  const now = opts.now ?? Date.now();
  const existing = await readExisting(driver, s);
  const diff = diffSnapshot(s, existing, now);
  const src = s.source.id;
  const session = driver.session();
  try {
    await session.executeWrite(async (tx) => {
      await tx.run(
        `MERGE (s:DataSource {id: $id})
         SET s.kind = $kind, s.engine = $engine, s.endpoint = $endpoint, s.version = coalesce($version, s.version),
             s.costPerGbMonth = coalesce($cost, s.costPerGbMonth), s.latencyMs = coalesce($latency, s.latencyMs), s.seenAt = $now`,
        {
          id: src,
          kind: s.source.kind,
          engine: s.source.engine,
          endpoint: s.source.endpoint,
          version: s.source.version ?? null,
          cost: s.source.costPerGbMonth ?? null,
          latency: s.source.latencyMs ?? null,
          now,
        },
      );
      await tx.run(
        `MATCH (s:DataSource {id: $source})
         UNWIND $rows AS r
         MERGE (n:Node {id: r.id})
         SET n.name = r.name, n.source = $source, n.endpoint = r.endpoint, n.state = r.state, n.scope = r.scope,
             n.capacity = coalesce(r.capacity, n.capacity), n.latencyMs = r.latencyMs, n.managed = coalesce(r.managed, n.managed), n.seenAt = $now
         REMOVE n.vanishedAt
         MERGE (s)-[:HAS_NODE]->(n)`,
        {
          source: src,
          now,
          rows: s.nodes.map((n) => ({
            id: nodeId(src, n.name),
            name: n.name,
            endpoint: n.endpoint,
            state: n.state ?? 'active',
            scope: n.scope,
            capacity: n.capacity ?? null,
            latencyMs: n.latencyMs ?? null,
            managed: n.managed ?? null,
          })),
        },
      );
      await tx.run(
        `MATCH (s:DataSource {id: $source})
         UNWIND $rows AS r
         MERGE (d:Database {id: r.id})
         SET d.name = r.name, d.source = $source, d.node = r.node, d.scope = r.scope, d.seenAt = $now
         REMOVE d.vanishedAt
         MERGE (s)-[:HAS_DATABASE]->(d)
         WITH d, r WHERE r.nodeId IS NOT NULL
         MATCH (n:Node {id: r.nodeId})
         MERGE (d)-[:ON_NODE]->(n)`,
        {
          source: src,
          now,
          rows: s.databases.map((d) => ({
            id: databaseId(src, d.name),
            name: d.name,
            node: d.node ?? null,
            scope: d.scope,
            nodeId: d.node ? nodeId(src, d.node) : null,
          })),
        },
      );
      await tx.run(
        `UNWIND $rows AS r
         MATCH (d:Database {id: r.dbId})
         MERGE (t:Table {id: r.id})
         SET t.name = r.name, t.source = $source, t.database = r.database, t.kind = r.kind, t.engine = r.engine,
             t.partitionKey = r.key, t.rows = r.rows, t.bytes = r.bytes, t.scope = r.scope, t.seenAt = $now
         REMOVE t.vanishedAt
         MERGE (d)-[:HAS_TABLE]->(t)`,
        {
          source: src,
          now,
          rows: s.tables.map((t) => ({
            id: tableId(t),
            dbId: databaseId(src, t.database),
            name: t.name,
            database: t.database,
            kind: t.kind ?? 'table',
            engine: t.engine ?? null,
            key: t.partitionKey ?? null,
            rows: t.rows ?? null,
            bytes: t.bytes ?? null,
            scope: t.scope,
          })),
        },
      );
      await tx.run(
        `MATCH (s:DataSource {id: $source})
         UNWIND $rows AS r
         MERGE (t:Topic {id: r.id})
         SET t.name = r.name, t.source = $source, t.partitions = r.partitions, t.replicationFactor = r.rf,
             t.messages = r.messages, t.compacted = r.compacted, t.scope = r.scope, t.seenAt = $now
         REMOVE t.vanishedAt
         MERGE (s)-[:HAS_TOPIC]->(t)`,
        {
          source: src,
          now,
          rows: s.topics.map((t) => ({
            id: topicId(src, t.name),
            name: t.name,
            partitions: t.partitions,
            rf: t.replicationFactor,
            messages: t.messages ?? null,
            compacted: t.compacted ?? false,
            scope: t.scope,
          })),
        },
      );
      const partRows = s.partitions.map((p) => ({
        id: partitionId(p),
        parentId: p.topic !== undefined ? topicId(src, p.topic) : tableId(p),
        isTopic: p.topic !== undefined,
        name: p.name,
        table: p.topic ?? p.table,
        kind: p.kind ?? 'range',
        lo: p.lo,
        hi: p.hi,
        loText: p.loText ?? null,
        hiText: p.hiText ?? null,
        bucket: p.bucket ?? null,
        modulus: p.modulus ?? null,
        value: p.value ?? null,
        physical: p.physical ?? null,
        state: p.state ?? null,
        rows: p.rows ?? null,
        bytes: p.bytes ?? null,
        node: p.node,
        scope: p.scope,
        placements: [
          { nodeId: nodeId(src, p.node), role: 'primary' },
          ...(p.replicas ?? []).map((r) => ({ nodeId: nodeId(src, r), role: 'replica' })),
        ],
      }));
      for (const [label, rows] of [
        ['Table', partRows.filter((r) => !r.isTopic)],
        ['Topic', partRows.filter((r) => r.isTopic)],
      ] as const) {
        if (rows.length === 0) continue;
        // The parent label comes from the constant tuple above, not from input.
        await tx.run(
          `UNWIND $rows AS r
           MATCH (t:${label} {id: r.parentId})
           MERGE (p:Partition {id: r.id})
           SET p.name = r.name, p.table = r.table, p.source = $source, p.kind = r.kind, p.lo = r.lo, p.hi = r.hi,
               p.loText = r.loText, p.hiText = r.hiText, p.bucket = r.bucket, p.modulus = r.modulus, p.value = r.value,
               p.physical = r.physical, p.state = r.state, p.rows = r.rows, p.bytes = r.bytes, p.node = r.node,
               p.scope = r.scope, p.seenAt = $now
           REMOVE p.vanishedAt
           MERGE (t)-[:HAS_PARTITION]->(p)
           WITH p, r
           OPTIONAL MATCH (p)-[old:PLACED_ON]->(n:Node)
           WHERE NOT n.id IN [x IN r.placements | x.nodeId]
           DELETE old
           WITH DISTINCT p, r
           UNWIND r.placements AS pl
           MATCH (n:Node {id: pl.nodeId})
           MERGE (p)-[e:PLACED_ON]->(n)
           SET e.role = pl.role`,
          { rows, source: src, now },
        );
      }
      // Lineage is a property of the derived object: replace what discovery recorded for it.
      for (const [label, ids] of [
        ['Table', s.tables.map((t) => tableId(t))],
        ['Topic', s.topics.map((t) => topicId(src, t.name))],
      ] as const) {
        if (ids.length === 0) continue;
        await tx.run(`UNWIND $ids AS id MATCH (x:${label} {id: id})-[e:DERIVED_FROM {discovered: true}]->() DELETE e`, { ids });
      }
      for (const from of ['Table', 'Topic'] as const) {
        for (const to of ['Table', 'Topic'] as const) {
          const rows = s.lineage
            .filter((l) => l.from.label === from && l.to.label === to)
            .map((l) => ({ from: l.from.id, to: l.to.id, via: l.via }));
          if (rows.length === 0) continue;
          await tx.run(
            `UNWIND $rows AS r
             MATCH (a:${from} {id: r.from}), (b:${to} {id: r.to})
             MERGE (a)-[e:DERIVED_FROM]->(b)
             SET e.via = r.via, e.discovered = true, e.seenAt = $now`,
            { rows, now },
          );
        }
      }
      for (const label of ['Node', 'Database', 'Table', 'Topic', 'Partition'] as const) {
        const ids = diff.vanished.filter((v) => v.label === label).map((v) => v.id);
        if (ids.length === 0) continue;
        await tx.run(
          `UNWIND $ids AS id
           MATCH (x:${label} {id: id})
           SET x.vanishedAt = $now
           WITH x
           OPTIONAL MATCH (x)-[e:PLACED_ON]->()
           DELETE e`,
          { ids, now },
        );
      }
      const cutoff = now - (opts.retainVanishedMs ?? 24 * 3600_000);
      for (const label of ['Partition', 'Table', 'Topic', 'Database', 'Node'] as const) {
        await tx.run(`MATCH (x:${label}) WHERE x.source = $source AND x.vanishedAt < $cutoff DETACH DELETE x`, { source: src, cutoff });
      }
    });
  } finally {
    await session.close();
  }
  return diff;
}
