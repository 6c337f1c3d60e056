/**
 * The planning state of the sharded PostgreSQL store in the engine's terms, from what the
 * pipeline read: the Neo4j catalog's placement view, or (when the catalog does not answer) the
 * routing map on the coordinator. Pure: the reads happen in the pipeline.
 *
 * Partitions are `<table>/<shard>` inside the engine, since shard names repeat across tables.
 */
import { bucketsFor } from '../series.js';
import type { BucketSpec, ClusterStateInput, CoAccessEdge, InFlight, PartitionSpec, RecentAction } from '../state.js';
import { type TableKey, parseReportedKey, reportedKey } from '../../../schemas/keyBuckets.js';
import { UNSUCCESSFUL } from '../dependencies.js';
import { commandPlace } from '../../../schemas/commandPlace.js';
import type { AnyCommand } from '../../../schemas/types.js';

/** The store's name in the catalog and on commands. */
export const PG_STORE = 'pg-shards';

/** The engine's id of a shard: shard names repeat across tables. */
export const partitionKey = (table: string, shard: string) => `${table}/${shard}`;

/** The planned tables: key column and the bucket bounds ingest cuts the key range at (schemas/keyBuckets.ts currentKeys). */
export type PlannedTables = Record<string, TableKey>;

/** What the catalog's placement query returns (catalog/query.ts `PlacementView`). */
export interface CatalogPlacement {
  nodes: readonly { name: string; state: string | null; capacity: number | null; managed?: boolean | null }[];
  partitions: readonly {
    table: string;
    /** The key column the catalog records for the table. */
    keyColumn?: string | null;
    partition: string;
    lo: string | null;
    hi: string | null;
    rows: number | null;
    bytes: number | null;
    node: string | null;
    replicas: string[];
  }[];
  commands: readonly {
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

/** Co-access between two key ranges, as the catalog records it. */
export interface RangeCoAccess {
  a: { table: string; lo: number | null; hi: number | null };
  b: { table: string; lo: number | null; hi: number | null };
  weight: number;
}

/** What the routing map says (the tables it routes), with each shard's size as its node reports it. */
export interface RoutingSnapshot {
  nodes: readonly { node: string; state: string; managedDir: string | null }[];
  tables: readonly {
    table: string;
    /** The key column the routing map ranges over (a rekey changes it). */
    keyColumn?: string;
    shards: readonly {
      shard: string;
      lo: string | null;
      hi: string | null;
      node: string;
      replicas: string[];
      /** Null when the node did not answer. */
      bytes: number | null;
      rows: number | null;
    }[];
  }[];
}

const ACTIVE = new Set(['ACCEPTED', 'RUNNING']);

/** How far back finished commands count (cooldowns, what a round shows), on the catalog and off it. */
export const COMMAND_HISTORY_MS = 3_600_000;

/**
 * How long a command on its topic, not yet taken by an executor, counts as in flight at least.
 * Its deadline alone is not enough: a command whose benefit starts at once has its deadline at
 * its own round, and the next round (a window later) planned the same change again.
 */
export const ISSUED_GRACE_MS = 120_000;

/** Until when an issued command not yet taken counts as in flight: its deadline, or the grace after it was issued. */
export function issuedUntil(c: { issuedAt: number | null; deadline: number | null }): number {
  return Math.max(c.deadline ?? 0, (c.issuedAt ?? 0) + ISSUED_GRACE_MS);
}

/**
 * The planned tables with the key column the store reports, and those whose reported key is not
 * the planned one: a rekey that recorded no bucket bounds, or one the catalog has not caught up
 * with. Ingest's key buckets and the range actions are by the planned key, so such a table's
 * shards are left out of range planning. A hashed key is planned as such when the rekey recorded
 * bounds of the hash (ingest then buckets the hash too): reported as `hash(<column>)`.
 */
function tablesOf(
  tables: PlannedTables,
  reported: ReadonlyMap<string, string>,
): { tables: ClusterStateInput['tables']; rekeyed: Set<string> } {
  const rekeyed = new Set(
    Object.entries(tables).flatMap(([name, k]) =>
      reported.has(name) && reported.get(name) !== reportedKey(k.column, k.hashed ?? false) ? [name] : [],
    ),
  );
  return {
    tables: Object.entries(tables).map(([name, k]) => {
      const key = parseReportedKey(reported.get(name) ?? k.column);
      return { name, store: PG_STORE, storeKind: 'postgres' as const, keyColumns: [key.column], ...(key.hashed ? { keyHash: true } : {}) };
    }),
    rekeyed,
  };
}

/**
 * The partition schema the engine plans against, from the routing map; `commands` (the executors'
 * ledger and what this stage issued since) give it the cooldowns and changes in flight the
 * catalog would, so a round on the fallback does not plan them again.
 */
export function stateFromRouting(
  snap: RoutingSnapshot,
  tables: PlannedTables,
  source: string,
  capacity: number,
  commands: CatalogPlacement['commands'] = [],
  now = Date.now(),
): ClusterStateInput {
  const partitions: PartitionSpec[] = [];
  const buckets: BucketSpec[] = [];
  const leaving = nodesLeaving(commands, now);
  const planned = tablesOf(tables, new Map(snap.tables.flatMap((t) => (t.keyColumn ? [[t.table, t.keyColumn] as const] : []))));
  for (const [table, key] of Object.entries(tables)) {
    const routes = snap.tables.find((t) => t.table === table);
    if (!routes || planned.rekeyed.has(table)) continue;
    for (const s of routes.shards) {
      partitions.push({
        id: partitionKey(table, s.shard),
        table,
        store: PG_STORE,
        lo: s.lo === null ? null : Number(s.lo),
        hi: s.hi === null ? null : Number(s.hi),
        sizeBytes: Number(s.bytes ?? 0),
        rows: Math.max(0, Number(s.rows ?? 0)),
        node: s.node,
        replicas: s.replicas,
      });
    }
    buckets.push(...bucketsFor(source, table, key));
  }
  return {
    tables: planned.tables,
    partitions,
    nodes: snap.nodes
      .filter((n) => n.state === 'active' && !leaving.has(n.node))
      .map((n) => ({ id: n.node, store: PG_STORE, storeKind: 'postgres' as const, capacity, removable: n.managedDir !== null })),
    buckets,
    ...commandHistory(commands, now),
  };
}

/**
 * Nodes whose latest scale command removes them (a scale_in that succeeded or is under way): the
 * catalog still lists them as active until its next discovery, and nothing may be placed there.
 * A later scale_out of the same node brings it back.
 */
export function nodesLeaving(commands: CatalogPlacement['commands'], now: number): Set<string> {
  const last = new Map<string, { action: string; at: number }>();
  for (const c of commands) {
    if ((c.action !== 'scale_in' && c.action !== 'scale_out') || !c.targetNode || UNSUCCESSFUL.has(c.status)) continue;
    if (c.status === 'ISSUED' && issuedUntil(c) <= now) continue;
    const at = c.resultTs ?? c.issuedAt ?? 0;
    const cur = last.get(c.targetNode);
    if (!cur || at >= cur.at) last.set(c.targetNode, { action: c.action, at });
  }
  return new Set([...last].filter(([, v]) => v.action === 'scale_in').map(([node]) => node));
}

/** The partition schema the engine plans against, from the catalog's view of the tables. */
export function stateFromCatalog(
  view: CatalogPlacement,
  tables: PlannedTables,
  source: string,
  opts: { capacity?: number; now: number; coAccess?: readonly RangeCoAccess[] },
): ClusterStateInput {
  const leaving = nodesLeaving(view.commands, opts.now);
  const nodes = view.nodes
    .filter((n) => n.state !== 'stopped' && n.state !== 'unreachable' && n.state !== 'draining' && !leaving.has(n.name))
    .map((n) => ({
      id: n.name,
      store: PG_STORE,
      storeKind: 'postgres' as const,
      capacity: opts.capacity ?? n.capacity ?? 1000,
      removable: n.managed === true,
    }));
  const known = new Set(nodes.map((n) => n.id));
  const planned = tablesOf(tables, new Map(view.partitions.flatMap((p) => (p.keyColumn ? [[p.table, p.keyColumn] as const] : []))));
  const partitions: PartitionSpec[] = view.partitions
    .filter((p) => p.node !== null && known.has(p.node) && !planned.rekeyed.has(p.table))
    .map((p) => ({
      id: partitionKey(p.table, p.partition),
      table: p.table,
      store: PG_STORE,
      lo: p.lo === null ? null : Number(p.lo),
      hi: p.hi === null ? null : Number(p.hi),
      sizeBytes: p.bytes ?? 0,
      rows: Math.max(0, p.rows ?? 0),
      node: p.node!,
      replicas: p.replicas.filter((r) => known.has(r) && r !== p.node),
    }));
  // Co-access between key buckets, put on the partitions that hold each bucket whole.
  const holder = (e: { table: string; lo: number | null; hi: number | null }) => {
    const hit = partitions.filter(
      (p) =>
        p.table === e.table && (p.lo === null || (e.lo !== null && e.lo >= p.lo)) && (p.hi === null || (e.hi !== null && e.hi <= p.hi)),
    );
    return hit.length === 1 ? hit[0]!.id : null;
  };
  const edges = new Map<string, CoAccessEdge>();
  for (const e of opts.coAccess ?? []) {
    const a = holder(e.a),
      b = holder(e.b);
    if (!a || !b || a === b) continue;
    const [x, y] = a < b ? [a, b] : [b, a];
    const cur = edges.get(`${x}|${y}`) ?? { a: x, b: y, weight: 0 };
    cur.weight += e.weight;
    edges.set(`${x}|${y}`, cur);
  }
  return {
    tables: planned.tables,
    partitions,
    nodes,
    buckets: Object.entries(tables).flatMap(([table, key]) =>
      partitions.some((p) => p.table === table) ? bucketsFor(source, table, key) : [],
    ),
    coAccess: [...edges.values()],
    ...commandHistory(view.commands, opts.now),
  };
}

/**
 * Commands as the engine plans against them: finished ones (failed or refused too) are recent
 * actions, whose targets cool down; accepted, running and issued ones (until `issuedUntil`) are
 * changes in flight.
 */
export function commandHistory(commands: CatalogPlacement['commands'], now: number): Pick<ClusterStateInput, 'recent' | 'inFlight'> {
  const recent: RecentAction[] = [];
  const inFlight: InFlight[] = [];
  for (const c of commands) {
    const target = c.table && c.partition ? partitionKey(c.table, c.partition) : (c.targetNode ?? c.table ?? '');
    // A command that failed or was refused counts as recent too: its target cools down instead
    // of being planned again (with the same command id) every round.
    if ((c.status === 'SUCCEEDED' || UNSUCCESSFUL.has(c.status)) && c.resultTs !== null) {
      recent.push({ commandId: c.id, action: c.action, target, ts: c.resultTs, sourceNode: c.sourceNode, targetNode: c.targetNode });
    } else if (ACTIVE.has(c.status) || (c.status === 'ISSUED' && issuedUntil(c) > now)) {
      // ISSUED: on a command topic, not yet taken by an executor; planned again only after issuedUntil
      const startedAt = c.issuedAt ?? now;
      inFlight.push({
        commandId: c.id,
        action: c.action,
        table: c.table ?? null,
        partition: c.table && c.partition ? target : null,
        sourceNode: c.sourceNode,
        targetNode: c.targetNode,
        bytes: 0,
        startedAt,
        expectedEnd: Math.max(c.status === 'ISSUED' ? issuedUntil(c) : (c.deadline ?? startedAt), now),
        waiting: c.status === 'ISSUED',
      });
    }
  }
  return { recent, inFlight };
}

/**
 * The store's commands in the executors' ledger, as the catalog would list them: the fallback's
 * history. A command is finished (its result time the row's last change) or still in flight.
 */
export function ledgerCommands(
  rows: readonly { command: unknown; status: string; updatedAt: number }[],
): CatalogPlacement['commands'][number][] {
  return rows.flatMap((r) => {
    const c = r.command as AnyCommand | null;
    if (!c || c.store !== PG_STORE || !c.commandId) return [];
    const finished = r.status === 'SUCCEEDED' || UNSUCCESSFUL.has(r.status);
    return [
      {
        id: c.commandId,
        action: c.action,
        ...commandPlace(c),
        status: r.status,
        issuedAt: c.issuedAt ?? null,
        resultTs: finished ? r.updatedAt : null,
        deadline: c.deadline ?? null,
      },
    ];
  });
}
