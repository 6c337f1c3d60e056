/**
 * `shardcast run decide`: shardcast.forecasts + shardcast.workload.aggregates + the partition
 * schema (the executors' routing map on the PostgreSQL coordinator, mirrored into the Neo4j
 * catalog) → decision engine → shardcast.commands.partition | .shard | .resource.
 *
 * Series from the ingest stage are `source|table|bucket[|partition][|node]`; the engine plans
 * on table × key-range buckets, so per-node variants of a bucket are summed first.
 */
import pg from 'pg';
import type { AnyCommand, Forecast, WorkloadAggregate } from '../schemas/types.js';
import { COMMAND_TOPICS, TOPICS } from '../topics/catalog.js';
import { decide } from '../processors/decide/engine.js';
import type { BucketSpec, ClusterStateInput, PartitionSpec } from '../processors/decide/state.js';
import { listNodes, loadRoutes, physicalName } from '../executors/postgres/layout.js';
import type { Envelope } from '../processors/envelope.js';
import type { PipelineContext } from './context.js';
import { startStage, type RunningStage } from './stage.js';
import type { StageOutput } from './stage.js';

export const PG_STORE = 'pg-shards';

export interface DecideOptions {
  groupId?: string;
  /** Queries per window one node serves before it is over capacity. */
  nodeCapacity?: number;
  source?: string;
  /** Called with every decision round's commands and explanations (the demo's report). */
  onDecision?: (cmds: AnyCommand[], explanations: string[]) => void;
}

/** `src|table|bucket|...` → `src|table|bucket`. */
export const bucketSeries = (id: string) => id.split('|').slice(0, 3).join('|');

export function foldForecasts(fs: Iterable<Forecast>): Forecast[] {
  const out = new Map<string, Forecast>();
  for (const f of fs) {
    const id = bucketSeries(f.seriesId);
    const cur = out.get(id);
    if (!cur) out.set(id, { ...f, seriesId: id, points: f.points.map((p) => ({ ...p })) });
    else cur.points.forEach((p, i) => {
      const q = f.points[i];
      if (q) { p.predicted += q.predicted; p.lower += q.lower; p.upper += q.upper; }
    });
  }
  return [...out.values()];
}

export function foldAggregates(as: Iterable<WorkloadAggregate>): WorkloadAggregate[] {
  const out = new Map<string, WorkloadAggregate>();
  for (const a of as) {
    const id = bucketSeries(a.seriesId);
    const cur = out.get(id);
    if (!cur) out.set(id, { ...a, seriesId: id, node: null, partition: null });
    else { cur.queries += a.queries; cur.reads += a.reads; cur.writes += a.writes; }
  }
  return [...out.values()];
}

export function bucketsFor(source: string, table: string, bounds: number[]): BucketSpec[] {
  const edges = [Number.MIN_SAFE_INTEGER, ...bounds, Number.MAX_SAFE_INTEGER];
  return edges.slice(0, -1).map((lo, i) => ({ seriesId: `${source}|${table}|k${i}`, table, lo, hi: edges[i + 1]! }));
}

/** The partition schema the engine plans against, read from the routing map. */
export async function loadClusterState(
  pools: Map<string, pg.Pool>, coord: pg.Pool, tables: Record<string, { column: string; bounds: number[] }>, source: string, capacity: number,
): Promise<ClusterStateInput> {
  const nodes = await listNodes(coord);
  const partitions: PartitionSpec[] = [];
  const buckets: BucketSpec[] = [];
  for (const [table, key] of Object.entries(tables)) {
    const routes = await loadRoutes(coord, table);
    if (!routes) continue;
    for (const s of routes.shards) {
      const pool = pools.get(s.node);
      const phys = physicalName(table, s.shard);
      const { rows } = pool
        ? await pool.query('SELECT pg_total_relation_size($1::regclass)::bigint AS bytes, (SELECT reltuples FROM pg_class WHERE oid = $1::regclass)::bigint AS rows', [phys]).catch(() => ({ rows: [] as { bytes: string; rows: string }[] }))
        : { rows: [] as { bytes: string; rows: string }[] };
      partitions.push({
        id: s.shard, table, store: PG_STORE, lo: s.lo === null ? null : Number(s.lo), hi: s.hi === null ? null : Number(s.hi),
        sizeBytes: Number(rows[0]?.bytes ?? 0), rows: Math.max(0, Number(rows[0]?.rows ?? 0)), node: s.node, replicas: s.replicas,
      });
    }
    buckets.push(...bucketsFor(source, table, key.bounds));
  }
  return {
    tables: Object.entries(tables).map(([name, k]) => ({ name, store: PG_STORE, storeKind: 'postgres' as const, keyColumns: [k.column] })),
    partitions,
    nodes: nodes.filter((n) => n.state !== 'stopped').map((n) => ({ id: n.node, store: PG_STORE, storeKind: 'postgres' as const, capacity })),
    buckets,
  };
}

export async function startDecide(ctx: PipelineContext, opts: DecideOptions = {}): Promise<RunningStage & { commands: () => number }> {
  const source = opts.source ?? 'pg-shards';
  const pools = new Map(ctx.cfg.pgNodes.map((url, i) => [`node${i}`, new pg.Pool({ connectionString: url, max: 2 })]));
  const coord = pools.get('node0')!;
  const forecasts = new Map<string, Forecast>();
  const latest = new Map<string, WorkloadAggregate>();
  let issued = 0;

  const stage = await startStage<Forecast | WorkloadAggregate>(ctx, {
    name: 'decide',
    groupId: opts.groupId ?? 'shardcast-decide',
    topics: [TOPICS.forecasts.name, TOPICS.aggregates.name],
    batchSize: 5000,
    batchMs: 500,
    handle: async (batch: Envelope<Forecast | WorkloadAggregate>[]) => {
      let newForecasts = false;
      for (const m of batch) {
        if (m.topic === TOPICS.forecasts.name) {
          const f = m.value as Forecast;
          forecasts.set(f.seriesId, f);
          newForecasts = true;
        } else {
          const a = m.value as WorkloadAggregate;
          const cur = latest.get(a.seriesId);
          if (!cur || cur.windowStart <= a.windowStart) latest.set(a.seriesId, a);
        }
      }
      if (!newForecasts) return [];
      const state = await loadClusterState(pools, coord, ctx.cfg.partitionKeys, source, opts.nodeCapacity ?? 1000);
      if (state.partitions.length === 0) return [];
      const fs = foldForecasts(forecasts.values());
      const now = Math.max(...fs.map((f) => f.originTs + f.stepMs));
      const result = decide(state, fs, foldAggregates(latest.values()), now);
      opts.onDecision?.(result.commands, result.explanations);
      for (const line of result.explanations) ctx.log.info({ strategy: result.strategy }, line);
      issued += result.commands.length;
      const byTopic = new Map<string, StageOutput>();
      for (const c of result.commands) {
        const topic = COMMAND_TOPICS[c.kind];
        const { kind: _k, ...value } = c;
        const key = c.kind === 'resource' ? `${c.store}/${c.node ?? ''}` : `${c.store}/${c.table}`;
        if (!byTopic.has(topic)) byTopic.set(topic, { topic, records: [] });
        byTopic.get(topic)!.records.push({ key, value });
      }
      return [...byTopic.values()];
    },
  });
  return {
    ...stage,
    commands: () => issued,
    async stop() {
      await stage.stop();
      for (const p of pools.values()) await p.end();
    },
  };
}
