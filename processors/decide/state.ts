/**
 * The partition schema and placement the planner plans against: tables, key-range partitions
 * ([lo, hi), null = unbounded, the same convention as the catalog's PartitionFact), nodes with
 * a capacity in queries per window, replicas, co-access, predicate and template statistics,
 * and what is in flight or was done recently. Built from plain objects (the Neo4j catalog
 * supplies them in the pipeline, the simulator in the benchmark). Pure: no I/O, no clocks.
 * The effect of a finished command on the view is applyCommand.ts's (each action's own).
 */
import { StateError } from '../../lib/errors.js';
import type { StoreKind } from '../../schemas/types.js';

export interface NodeSpec {
  id: string;
  store: string;
  storeKind?: StoreKind;
  /** Queries per window the node serves before it is over capacity. */
  capacity: number;
  /** 'provisioning' nodes take no load until `readyAt`. */
  status?: 'active' | 'provisioning';
  readyAt?: number | null;
  /** False for a node no resource adapter can stop (a configured node): never a scale-in victim. */
  removable?: boolean;
}

export interface PartitionSpec {
  id: string;
  table: string;
  store: string;
  /** Inclusive lower key bound, null = unbounded. */
  lo: number | null;
  /** Exclusive upper key bound, null = unbounded. */
  hi: number | null;
  sizeBytes: number;
  rows: number;
  /** Node holding the primary copy. */
  node: string;
  /** Nodes holding read replicas (never the primary's node). */
  replicas?: string[];
  /** Forecast series of this partition's load; default `${table}/${id}`. */
  seriesId?: string;
}

export interface TableSpec {
  name: string;
  store: string;
  storeKind?: StoreKind;
  /** Current partition key, possibly composite. */
  keyColumns: string[];
  /** Ranges cut a hash of the key rather than the key (a rekey with `keyHash`): key order no longer maps to shards. */
  keyHash?: boolean;
}

/** A forecast series over a key range of a table (the ingest stage's key buckets). */
export interface BucketSpec {
  seriesId: string;
  table: string;
  lo: number;
  /** Exclusive. */
  hi: number;
  /** The keys written in the bucket have kept growing, window after window (keyGrowth.ts): an append key. */
  appending?: boolean;
}

/** Queries per window that touch both partitions. */
export interface CoAccessEdge {
  a: string;
  b: string;
  weight: number;
}

/** How often a set of columns appeared together in the predicates of queries on a table. */
export interface PredicateStat {
  table: string;
  columns: string[];
  count: number;
}

/** A query template seen on a table, with what the featurizer knows of its shape. */
export interface TemplateStat {
  table: string;
  templateId: string;
  /** Executions per window: the newest window's, or the forecast's peak over the horizon when higher. */
  count: number;
  /** The newest window's executions, when the forecast's peak raised `count` above them. */
  observed?: number;
  /** Columns filtered on (equality first). */
  columns: string[];
  kind: 'point' | 'range' | 'aggregate' | 'expression';
  /** Whether an index already covers `columns`. */
  indexed: boolean;
  meanLatencyMs: number;
  /** The filtered expression, for 'expression' templates. */
  expression?: string | null;
  /** For 'aggregate' templates: the column grouped by (none known: nothing is precomputed). */
  groupBy?: string | null;
  /** For 'aggregate' templates: the numeric column summed, null for a count. */
  sumOf?: string | null;
}

/** A command accepted and not finished yet (from RUNNING results, or the simulator). */
export interface InFlight {
  commandId: string;
  action: string;
  /** The table it changes (a rekey changes every partition of it). */
  table?: string | null;
  partition?: string | null;
  sourceNode?: string | null;
  targetNode?: string | null;
  node?: string | null;
  bytes: number;
  startedAt: number;
  expectedEnd: number;
  /** Accepted but waiting for a command it depends on (not using bandwidth yet). */
  waiting?: boolean;
}

/** A command issued recently, for cooldowns and flap checks. */
export interface RecentAction {
  commandId: string;
  action: string;
  /** Partition id, or node id for resource actions. */
  target: string;
  ts: number;
  sourceNode?: string | null;
  targetNode?: string | null;
  /** Other partition ids the command created or consumed (split children, merge partner). */
  related?: string[];
}

export interface ClusterStateInput {
  tables: readonly TableSpec[];
  partitions: readonly PartitionSpec[];
  nodes: readonly NodeSpec[];
  buckets?: readonly BucketSpec[];
  coAccess?: readonly CoAccessEdge[];
  predicates?: readonly PredicateStat[];
  templates?: readonly TemplateStat[];
  inFlight?: readonly InFlight[];
  recent?: readonly RecentAction[];
}

export interface ClusterState {
  readonly tables: readonly TableSpec[];
  readonly partitions: readonly PartitionSpec[];
  readonly nodes: readonly NodeSpec[];
  readonly buckets: readonly BucketSpec[];
  readonly coAccess: readonly CoAccessEdge[];
  readonly predicates: readonly PredicateStat[];
  readonly templates: readonly TemplateStat[];
  readonly inFlight: readonly InFlight[];
  readonly recent: readonly RecentAction[];
  readonly partitionById: ReadonlyMap<string, PartitionSpec>;
  readonly nodeById: ReadonlyMap<string, NodeSpec>;
  readonly tableByName: ReadonlyMap<string, TableSpec>;
}

/** Validates and indexes a plain view. Throws StateError naming the first inconsistency. */
export function buildState(input: ClusterStateInput): ClusterState {
  const nodeById = new Map<string, NodeSpec>();
  for (const n of input.nodes) {
    if (nodeById.has(n.id)) throw new StateError(`duplicate node ${n.id}`);
    if (!(n.capacity > 0)) throw new StateError(`node ${n.id}: capacity must be > 0`);
    nodeById.set(n.id, n);
  }
  const tableByName = new Map<string, TableSpec>();
  for (const t of input.tables) tableByName.set(t.name, t);
  const partitionById = new Map<string, PartitionSpec>();
  for (const p of input.partitions) {
    if (partitionById.has(p.id)) throw new StateError(`duplicate partition ${p.id}`);
    if (!nodeById.has(p.node)) throw new StateError(`partition ${p.id}: unknown node ${p.node}`);
    for (const r of p.replicas ?? []) {
      if (!nodeById.has(r)) throw new StateError(`partition ${p.id}: unknown replica node ${r}`);
      if (r === p.node) throw new StateError(`partition ${p.id}: replica on its primary node ${r}`);
    }
    if (p.lo !== null && p.hi !== null && !(p.lo < p.hi)) throw new StateError(`partition ${p.id}: empty range [${p.lo}, ${p.hi})`);
    if (!tableByName.has(p.table)) tableByName.set(p.table, { name: p.table, store: p.store, keyColumns: [] });
    partitionById.set(p.id, p);
  }
  return {
    tables: [...tableByName.values()],
    partitions: input.partitions,
    nodes: input.nodes,
    buckets: input.buckets ?? [],
    coAccess: input.coAccess ?? [],
    predicates: input.predicates ?? [],
    templates: input.templates ?? [],
    inFlight: input.inFlight ?? [],
    recent: input.recent ?? [],
    partitionById,
    nodeById,
    tableByName,
  };
}

export function toInput(s: ClusterState): ClusterStateInput & { tables: TableSpec[]; partitions: PartitionSpec[]; nodes: NodeSpec[] } {
  return {
    tables: [...s.tables],
    partitions: [...s.partitions],
    nodes: [...s.nodes],
    buckets: [...s.buckets],
    coAccess: [...s.coAccess],
    predicates: [...s.predicates],
    templates: [...s.templates],
    inFlight: [...s.inFlight],
    recent: [...s.recent],
  };
}

export function seriesOf(p: PartitionSpec): string {
  return p.seriesId ?? `${p.table}/${p.id}`;
}

/** Partitions of a table ordered by lower bound. */
export function tablePartitions(s: ClusterState, table: string): PartitionSpec[] {
  return s.partitions.filter((p) => p.table === table).sort((a, b) => (a.lo ?? -Infinity) - (b.lo ?? -Infinity));
}

/** Every node holding a copy of the partition, primary first. */
export function copiesOf(p: PartitionSpec): string[] {
  return [p.node, ...(p.replicas ?? [])];
}

/** Fraction of [lo, hi) that overlaps [a, b); unbounded ends count as overlapping. */
export function overlapFraction(lo: number, hi: number, a: number | null, b: number | null): number {
  const from = Math.max(lo, a ?? -Infinity);
  const to = Math.min(hi, b ?? Infinity);
  return to > from ? (to - from) / (hi - lo) : 0;
}
