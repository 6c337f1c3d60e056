/**
 * `shardcast run decide`: shardcast.forecasts + shardcast.workload.aggregates + the partition
 * schema and placement → decision engine → shardcast.commands.partition | .shard | .resource.
 *
 * The partition schema comes from the Neo4j catalog: each round first rediscovers the planned
 * tables from the routing map on the PostgreSQL coordinator (catalog/pg.ts, so the graph is
 * current even when `run catalog` is not running), then reads partitions, placement, node
 * capacities, the catalog's record of recent and in-flight commands (cooldowns) and co-access
 * from the graph. When Neo4j does not answer, the round plans against the routing map directly
 * (logged once), and the catalog is tried again after a pause.
 *
 * Series from the ingest stage are `source|table|bucket[|partition][|node]`; the engine plans
 * on table × key-range buckets, so per-node variants of a bucket are summed first.
 *
 * Partitions are `<table>/<shard>` inside the engine (shard names repeat across tables); the
 * commands going out name the shard, and a split names the new shard (`newShard`), so a move
 * of a split's child planned in the same round names a shard the executor will know.
 */
import pg from 'pg';
import type { AnyCommand, CommandResult, Forecast, WorkloadAggregate } from '../schemas/types.js';
import { COMMAND_TOPICS, TOPICS } from '../schemas/topics.js';
import { decide } from '../processors/decide/engine.js';
import { decideConfig, type DecideConfigInput } from '../processors/decide/config.js';
import { DecisionFeedback } from '../processors/decide/feedback.js';
import type { SelectorModel } from '../processors/decide/selector.js';
import type { BucketSpec, ClusterStateInput, CoAccessEdge, InFlight, PartitionSpec, RecentAction } from '../processors/decide/state.js';
import { listNodes, loadRoutes, physicalName } from '../stores/postgres/layout.js';
import { catalogUnavailable, createCatalogDriver, ensureCatalogSchema, type Driver } from '../catalog/neo4j.js';
import { Discovery } from '../catalog/discover.js';
import { coAccess, placement, type PlacementView } from '../catalog/placement.js';
import type { Envelope } from '../schemas/envelope.js';
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
  /** The engine's configuration (processors/decide/config.ts; defaults when absent). */
  decide?: DecideConfigInput;
  /** Plan against the Neo4j catalog (default true); false plans against the routing map only. */
  catalog?: boolean;
  /**
   * Commands in the catalog older than this (ms since the epoch) are not planned against
   * (cooldowns, in flight); default: the last hour. A run that recreated its tables passes its
   * start, so an earlier run's commands on the same names do not hold this one back.
   */
  historySince?: number;
  /**
   * Windows of forecasts to see before the first plan (default 5): the first forecasts of a
   * series rest on one or two windows, too little to move data or remove a node on.
   */
  warmupWindows?: number;
  /** Called after each round with where its partition schema came from. */
  onState?: (via: 'catalog' | 'routing', state: ClusterStateInput) => void;
}

/** `src|table|bucket|...` → `src|table|bucket`. */
export const bucketSeries = (id: string) => id.split('|').slice(0, 3).join('|');

export function foldForecasts(fs: Iterable<Forecast>): Forecast[] {
  const out = new Map<string, Forecast>();
  for (const f of fs) {
    const id = bucketSeries(f.seriesId);
    const cur = out.get(id);
    if (!cur) out.set(id, { ...f, seriesId: id, points: f.points.map((p) => ({ ...p })) });
    else
      cur.points.forEach((p, i) => {
        const q = f.points[i];
        if (q) {
          p.predicted += q.predicted;
          p.lower += q.lower;
          p.upper += q.upper;
        }
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
    else {
      cur.queries += a.queries;
      cur.reads += a.reads;
      cur.writes += a.writes;
    }
  }
  return [...out.values()];
}

export function bucketsFor(source: string, table: string, bounds: number[]): BucketSpec[] {
  const edges = [Number.MIN_SAFE_INTEGER, ...bounds, Number.MAX_SAFE_INTEGER];
  return edges.slice(0, -1).map((lo, i) => ({ seriesId: `${source}|${table}|k${i}`, table, lo, hi: edges[i + 1]! }));
}

/** The partition schema the engine plans against, read from the routing map. */
export async function loadClusterState(
  pools: Map<string, pg.Pool>,
  coord: pg.Pool,
  tables: Record<string, { column: string; bounds: number[] }>,
  source: string,
  capacity: number,
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
        ? await pool
            .query(
              'SELECT pg_total_relation_size($1::regclass)::bigint AS bytes, (SELECT reltuples FROM pg_class WHERE oid = $1::regclass)::bigint AS rows',
              [phys],
            )
            .catch(() => ({ rows: [] as { bytes: string; rows: string }[] }))
        : { rows: [] as { bytes: string; rows: string }[] };
      partitions.push({
        id: partitionKey(table, s.shard),
        table,
        store: PG_STORE,
        lo: s.lo === null ? null : Number(s.lo),
        hi: s.hi === null ? null : Number(s.hi),
        sizeBytes: Number(rows[0]?.bytes ?? 0),
        rows: Math.max(0, Number(rows[0]?.rows ?? 0)),
        node: s.node,
        replicas: s.replicas,
      });
    }
    buckets.push(...bucketsFor(source, table, key.bounds));
  }
  return {
    tables: Object.entries(tables).map(([name, k]) => ({ name, store: PG_STORE, storeKind: 'postgres' as const, keyColumns: [k.column] })),
    partitions,
    nodes: nodes
      .filter((n) => n.state === 'active')
      .map((n) => ({ id: n.node, store: PG_STORE, storeKind: 'postgres' as const, capacity, removable: n.managedDir !== null })),
    buckets,
  };
}

/** The engine's id of a shard: shard names repeat across tables. */
export const partitionKey = (table: string, shard: string) => `${table}/${shard}`;

const ACTIVE = new Set(['ACCEPTED', 'RUNNING']);
const UNSUCCESSFUL = new Set(['FAILED', 'ROLLED_BACK', 'REJECTED']);

/** The partition schema the engine plans against, from the catalog's view of the tables. */
export function stateFromCatalog(
  view: PlacementView,
  tables: Record<string, { column: string; bounds: number[] }>,
  source: string,
  opts: { capacity?: number; now: number; coAccess?: Awaited<ReturnType<typeof coAccess>> },
): ClusterStateInput {
  const nodes = view.nodes
    .filter((n) => n.state !== 'stopped' && n.state !== 'unreachable' && n.state !== 'draining')
    .map((n) => ({
      id: n.name,
      store: PG_STORE,
      storeKind: 'postgres' as const,
      capacity: opts.capacity ?? n.capacity ?? 1000,
      removable: n.managed === true,
    }));
  const known = new Set(nodes.map((n) => n.id));
  const partitions: PartitionSpec[] = view.partitions
    .filter((p) => p.node !== null && known.has(p.node))
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
  const recent: RecentAction[] = [];
  const inFlight: InFlight[] = [];
  for (const c of view.commands) {
    const target = c.table && c.partition ? partitionKey(c.table, c.partition) : (c.targetNode ?? c.table ?? '');
    // A command that failed or was refused counts as recent too: its target cools down instead
    // of being planned again (with the same command id) every round.
    if ((c.status === 'SUCCEEDED' || UNSUCCESSFUL.has(c.status)) && c.resultTs !== null) {
      recent.push({ commandId: c.id, action: c.action, target, ts: c.resultTs, sourceNode: c.sourceNode, targetNode: c.targetNode });
    } else if (ACTIVE.has(c.status) || (c.status === 'ISSUED' && (c.deadline ?? 0) > opts.now)) {
      // ISSUED: on a command topic, not yet taken by an executor; planned again only after its deadline
      const startedAt = c.issuedAt ?? opts.now;
      inFlight.push({
        commandId: c.id,
        action: c.action,
        partition: c.table && c.partition ? target : null,
        sourceNode: c.sourceNode,
        targetNode: c.targetNode,
        bytes: 0,
        startedAt,
        expectedEnd: Math.max(c.deadline ?? startedAt, opts.now),
        waiting: c.status === 'ISSUED',
      });
    }
  }
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
    tables: Object.entries(tables).map(([name, k]) => ({ name, store: PG_STORE, storeKind: 'postgres' as const, keyColumns: [k.column] })),
    partitions,
    nodes,
    buckets: Object.entries(tables).flatMap(([table, key]) =>
      partitions.some((p) => p.table === table) ? bucketsFor(source, table, key.bounds) : [],
    ),
    coAccess: [...edges.values()],
    recent,
    inFlight,
  };
}

/**
 * The engine's commands in the executor's names: partitions become shard names, a split gets
 * the name of its new shard, and a later command of the round that names a split's child (the
 * planner's `table[lo,hi)` ids) names that shard instead.
 */
export function toStoreCommands(
  cmds: readonly AnyCommand[],
  state: Pick<ClusterStateInput, 'partitions'>,
  /** Every shard the store has, planned or not (a shard on a node that is down keeps its name). */
  taken: readonly { table: string; shard: string }[] = [],
): AnyCommand[] {
  const shardOf = new Map<string, { table: string; shard: string }>();
  const used = new Map<string, Set<string>>();
  const use = (table: string, shard: string) => {
    if (!used.has(table)) used.set(table, new Set());
    used.get(table)!.add(shard);
  };
  for (const p of state.partitions) {
    const shard = p.id.slice(p.table.length + 1);
    shardOf.set(p.id, { table: p.table, shard });
    use(p.table, shard);
  }
  for (const t of taken) use(t.table, t.shard);
  const freeName = (table: string) => {
    const names = used.get(table) ?? new Set<string>();
    let n = names.size;
    while (names.has(`s${n}`)) n++;
    names.add(`s${n}`);
    used.set(table, names);
    return `s${n}`;
  };
  return cmds.map((c) => {
    if (c.kind === 'resource') return c;
    const src = c.partition !== null ? shardOf.get(c.partition) : undefined;
    const params = { ...c.params };
    if (c.kind === 'partition' && c.action === 'split' && src) {
      params.newShard ??= freeName(src.table);
      if (params.leftId) shardOf.set(params.leftId, src);
      if (params.rightId) shardOf.set(params.rightId, { table: src.table, shard: params.newShard });
    }
    if (c.kind === 'partition' && c.action === 'merge' && src) {
      if (params.with) params.with = shardOf.get(params.with)?.shard ?? params.with;
      if (params.mergedId) shardOf.set(params.mergedId, src);
    }
    return { ...c, params, partition: src ? src.shard : c.partition } as AnyCommand;
  });
}

/** Ids of the commands `c` must wait for (the engine's `dependsOn` parameter). */
const dependsOn = (c: AnyCommand): string[] => (c.params.dependsOn ?? '').split(',').filter(Boolean);

/** Commands as stage outputs: one record per command on its kind's topic, keyed store/table (or node). */
export function commandOutputs(cmds: readonly AnyCommand[]): StageOutput[] {
  const byTopic = new Map<string, StageOutput>();
  for (const c of cmds) {
    const topic = COMMAND_TOPICS[c.kind];
    const { kind: _k, ...value } = c;
    const key = c.kind === 'resource' ? `${c.store}/${c.node ?? ''}` : `${c.store}/${c.table}`;
    if (!byTopic.has(topic)) byTopic.set(topic, { topic, records: [] });
    byTopic.get(topic)!.records.push({ key, value });
  }
  return [...byTopic.values()];
}

/** Without a finished command in between, the planned tables are rediscovered at most this often. */
const REDISCOVER_MS = 10_000;

/** After a failed catalog round, plan against the routing map this long before trying again. */
const CATALOG_RETRY_MS = 30_000;

export interface RunningDecide extends RunningStage {
  commands: () => number;
  /** The plan selector as learned so far (null before the first decision). */
  selector: () => SelectorModel | null;
  /** Decisions whose outcome has been judged and learned from. */
  rewards: () => number;
}

export async function startDecide(ctx: PipelineContext, opts: DecideOptions = {}): Promise<RunningDecide> {
  const source = opts.source ?? 'pg-shards';
  const pools = new Map(
    ctx.cfg.pgNodes.map((url, i) => [`node${i}`, new pg.Pool({ connectionString: url, max: 2, application_name: 'shardcast-decide' })]),
  );
  const coord = pools.get('node0')!;
  const forecasts = new Map<string, Forecast>();
  const latest = new Map<string, WorkloadAggregate>();
  let issued = 0;
  const capacity = opts.nodeCapacity ?? 1000;
  const held = new Map<string, AnyCommand>();
  // Distinct forecast origins seen (bounded by the warm-up: only its size matters).
  const origins = new Set<number>();
  const warmup = opts.warmupWindows ?? 5;

  // The catalog: a driver and a PostgreSQL discovery for the planned tables.
  let driver: Driver | null = null;
  let discovery: Discovery | null = null;
  let catalogDownUntil = 0;
  let onFallback = false;
  if (opts.catalog !== false) {
    driver = createCatalogDriver(ctx.cfg);
    discovery = Discovery.open(ctx.cfg, driver, {
      kinds: ['postgres'],
      log: ctx.log,
      postgres: { source: PG_STORE, nodeCapacity: opts.nodeCapacity },
    });
  }
  let schemaReady = false;
  let lastDiscovery = 0;
  let storeChanged = false;
  type Planning = { state: ClusterStateInput; taken: { table: string; shard: string }[] };
  const fromCatalog = async (now: number): Promise<Planning> => {
    // A quick probe first: the driver's own retries would hold a round for many seconds.
    const down = await catalogUnavailable(driver!);
    if (down) throw new Error(down);
    if (!schemaReady) {
      await ensureCatalogSchema(driver!);
      schemaReady = true;
    }
    const tables = Object.keys(ctx.cfg.partitionKeys);
    const pgSource = discovery!.byKind('postgres')!;
    // Rediscover the planned tables when a command finished since the last look (its effect
    // must be planned against) or every REDISCOVER_MS, not on every round.
    if (storeChanged || Date.now() - lastDiscovery >= REDISCOVER_MS) {
      storeChanged = false;
      for (const t of tables) await discovery!.discover(pgSource, { table: t });
      lastDiscovery = Date.now();
    }
    const view = await placement(driver!, PG_STORE, tables, { commandsSince: Math.max(Date.now() - 3_600_000, opts.historySince ?? 0) });
    const edges = await coAccess(driver!, tables, Date.now() - 10 * 60_000);
    return {
      state: stateFromCatalog(view, ctx.cfg.partitionKeys, source, { capacity: opts.nodeCapacity, now, coAccess: edges }),
      taken: view.partitions.map((p) => ({ table: p.table, shard: p.partition })),
    };
  };
  const planningState = async (now: number): Promise<Planning & { via: 'catalog' | 'routing' }> => {
    if (driver && Date.now() >= catalogDownUntil) {
      try {
        const planned = await fromCatalog(now);
        if (onFallback) ctx.log.info('the Neo4j catalog answers again; planning against it');
        onFallback = false;
        return { via: 'catalog', ...planned };
      } catch (err) {
        catalogDownUntil = Date.now() + CATALOG_RETRY_MS;
        if (!onFallback)
          ctx.log.warn({ err: (err as Error).message }, 'the Neo4j catalog is unavailable; planning against the PostgreSQL routing map');
        onFallback = true;
      }
    }
    return { via: 'routing', state: await loadClusterState(pools, coord, ctx.cfg.partitionKeys, source, capacity), taken: [] };
  };

  // The plan selector learns from what each decision round turned out to be (node load over
  // its horizon from the aggregates, its commands' results); made at the first round, when the
  // forecasts say the step and horizon.
  let feedback: DecisionFeedback | null = null;
  let rewards = 0;
  const targetUtil = decideConfig(opts.decide ?? {}).targetUtil;

  const stage = await startStage<Forecast | WorkloadAggregate | CommandResult>(ctx, {
    name: 'decide',
    groupId: opts.groupId ?? 'shardcast-decide',
    topics: [TOPICS.forecasts.name, TOPICS.aggregates.name, TOPICS.results.name],
    batchSize: 5000,
    batchMs: 500,
    handle: async (batch: Envelope<Forecast | WorkloadAggregate | CommandResult>[]) => {
      let newForecasts = false;
      for (const m of batch) {
        if (m.topic === TOPICS.forecasts.name) {
          const f = m.value as Forecast;
          forecasts.set(f.seriesId, f);
          newForecasts = true;
        } else if (m.topic === TOPICS.results.name) {
          const r = m.value as CommandResult;
          if (r.status !== 'ACCEPTED' && r.status !== 'RUNNING') storeChanged = true;
          feedback?.observeResult(r);
        } else {
          const a = m.value as WorkloadAggregate;
          const cur = latest.get(a.seriesId);
          if (!cur || cur.windowStart <= a.windowStart) latest.set(a.seriesId, a);
          feedback?.observeAggregate(a);
        }
      }
      if (!newForecasts) return [];
      if (origins.size < warmup) {
        for (const f of forecasts.values()) origins.add(f.originTs);
        if (origins.size < warmup) return [];
      }
      const fs = foldForecasts(forecasts.values());
      const now = Math.max(...fs.map((f) => f.originTs + f.stepMs));
      const { via, state, taken } = await planningState(now);
      opts.onState?.(via, state);
      if (state.partitions.length === 0) return [];
      if (!feedback && fs.length > 0) {
        const f0 = fs[0]!;
        feedback = new DecisionFeedback({ capacity, stepMs: f0.stepMs, horizonMs: f0.points.length * f0.stepMs, targetUtil });
      }
      for (const r of feedback?.settle(now) ?? []) {
        rewards++;
        ctx.log.info(
          {
            arm: r.arm,
            reward: Number(r.reward.toFixed(3)),
            violationMinutes: r.violationMinutes,
            gbMoved: Number(r.gbMoved.toFixed(3)),
            failed: r.failed,
          },
          'plan selector rewarded',
        );
      }
      const result = decide(state, fs, foldAggregates(latest.values()), now, opts.decide ?? {}, feedback?.selector ?? null);
      feedback?.record(
        now,
        result.strategy,
        result.features,
        result.commands.map((c) => c.commandId),
      );
      const commands = toStoreCommands(result.commands, state, taken);
      opts.onDecision?.(commands, result.explanations);
      for (const line of result.explanations) ctx.log.info({ strategy: result.strategy, state: via }, line);
      const ready: AnyCommand[] = [];
      for (const c of commands) {
        if (dependsOn(c).length === 0) ready.push(c);
        else if (!held.has(c.commandId)) {
          held.set(c.commandId, c);
          ctx.log.info({ commandId: c.commandId, dependsOn: dependsOn(c) }, 'held until the commands it depends on succeed');
        }
      }
      issued += ready.length;
      return commandOutputs(ready);
    },
  });

  // Held commands are released once the executor's ledger shows every dependency SUCCEEDED,
  // dropped when one failed or when their deadline passed.
  let releasing: Promise<void> = Promise.resolve();
  const release = async () => {
    if (held.size === 0) return;
    const deps = [...new Set([...held.values()].flatMap(dependsOn))];
    const { rows } = await coord
      .query<{ command_id: string; status: string }>('SELECT command_id, status FROM shardcast_exec.ledger WHERE command_id = ANY($1)', [
        deps,
      ])
      .catch(() => ({ rows: [] as { command_id: string; status: string }[] }));
    const status = new Map(rows.map((r) => [r.command_id, r.status]));
    const out: AnyCommand[] = [];
    for (const [cid, c] of held) {
      const st = dependsOn(c).map((d) => status.get(d));
      const failed = dependsOn(c).filter((_, i) => UNSUCCESSFUL.has(st[i] ?? ''));
      if (failed.length > 0) {
        held.delete(cid);
        ctx.log.warn({ commandId: cid, failed }, 'dropped: a command it depends on did not succeed');
      } else if (st.every((x) => x === 'SUCCEEDED')) {
        held.delete(cid);
        out.push(c);
      } else if (Date.now() > c.deadline) {
        held.delete(cid);
        ctx.log.warn({ commandId: cid }, 'dropped: its dependencies did not finish before its deadline');
      }
    }
    if (out.length === 0) return;
    await ctx.producer.sendMany(commandOutputs(out));
    issued += out.length;
    for (const c of out) ctx.log.info({ commandId: c.commandId, action: c.action }, 'released: its dependencies succeeded');
  };
  const releaseTimer = setInterval(() => {
    releasing = releasing.then(release).catch((err) => ctx.log.warn({ err }, 'releasing held commands failed'));
  }, 1_000);
  releaseTimer.unref();

  return {
    ...stage,
    commands: () => issued,
    selector: () => feedback?.selector ?? null,
    rewards: () => rewards,
    async stop() {
      clearInterval(releaseTimer);
      await releasing;
      if (held.size > 0)
        ctx.log.warn(
          { held: [...held.keys()] },
          'stopping with commands still waiting on their dependencies (the next decision re-plans them)',
        );
      await stage.stop();
      for (const p of pools.values()) await p.end();
      await discovery?.close();
      await driver?.close();
    },
  };
}
