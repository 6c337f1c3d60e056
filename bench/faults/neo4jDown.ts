/**
 * Neo4j SIGKILLed while decide plans and the catalog records: decide, execute and catalog run on
 * six tables of the row's own, their hot shards all on node0. From the kill on, forecasts of
 * rising load on four of them arrive each step (as the forecast stage sends them), more than
 * node0 serves: with Neo4j down, decide must keep planning (it falls back to the PostgreSQL
 * routing map) and the executor carry the commands out. Once decide plans on the catalog again
 * after Neo4j's return, forecasts for the other two follow, planned against a catalog that must
 * have resynced: every command on the command topics recorded with the final status its result
 * gave it, every table's partitions as the routing map has them.
 * Counted on the topics (read committed): each command id once, and no command repeating an
 * earlier one of the row (same table, action, shard, target): a repeat is a duplicate.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createCatalogDriver } from '../../catalog/neo4j.js';
import { createOrdersTable } from '../../demo/ordersTable.js';
import { seedRows } from '../../demo/workload.js';
import { openContext } from '../../pipelines/context.js';
import { startCatalog } from '../../pipelines/catalog.js';
import { startDecide } from '../../pipelines/decide.js';
import { startExecute } from '../../pipelines/execute.js';
import type { RunningStage } from '../../pipelines/stage.js';
import { PG_STORE } from '../../processors/decide/postgres/state.js';
import { risingForecast } from '../../schemas/handMadeForecast.js';
import { COMMAND_TOPICS, TOPICS } from '../../schemas/topics.js';
import type { CommandResult, PartitionCommand, ShardCommand } from '../../schemas/types.js';
import { PgPools } from '../../stores/postgres/nodes.js';
import { loadRoutes } from '../../stores/postgres/routing.js';
import { dropShardedTable } from '../../stores/postgres/tables.js';
import { consumeTopics } from '../../topics/consumer.js';
import { waitForMembers } from './ingestHarness.js';
import { waitFor } from './observe.js';
import type { Fault, FaultRow } from './row.js';

const TABLES = 6;
const STEP = 10_000;
/**
 * Queries per window a node serves: the first four tables' peaks (172 each) overload node0 from
 * the start; all six fit on three nodes, two tables each.
 */
const CAPACITY = 400;
/** Tables with forecasts from the kill on; the others get theirs once Neo4j is back. */
const FIRST = 4;
const FINAL = new Set(['SUCCEEDED', 'FAILED', 'ROLLED_BACK', 'REJECTED']);
const RECOVERY_TIMEOUT_MS = 180_000;
/** After the last check held, how long a late or repeated command has to show. */
const SETTLE_MS = 10_000;
const OUTAGE_MS = 60_000;

type Cmd = (({ kind: 'partition' } & PartitionCommand) | ({ kind: 'shard' } & ShardCommand)) & { seenAt: number };

/** What makes two commands the same decision: a repeat of an earlier one is a duplicate. */
const decisionKey = (c: Cmd) =>
  [c.table, c.action, c.partition, c.kind === 'shard' ? c.targetNode : '', c.params.splitAt ?? '', c.params.with ?? ''].join('|');

export const neo4jDown: Fault = {
  name: 'neo4j down during decide/catalog',
  services: ['kafka', 'registry', 'neo4j', 'pg-node0', 'pg-node1', 'pg-node2'],
  async run(env) {
    const tables = Array.from({ length: TABLES }, (_, i) => `t_${env.runId}_${i}`);
    const source = `src_${env.runId}`;
    const cfg = {
      ...env.stack.cfg,
      // buckets k0..k5: [.., 250) [250, 500) [500, 750) [750, 1000) [1000, 1500) [1500, ..)
      partitionKeys: Object.fromEntries(tables.map((t) => [t, { column: 'id', bounds: [250, 500, 750, 1000, 1500] }])),
    };
    for (const t of tables) {
      await createOrdersTable(
        cfg,
        t,
        [
          { shard: 's0', lo: null, hi: 1000, node: 'node0' },
          { shard: 's1', lo: 1000, hi: null, node: 'node1' },
        ],
        { replace: true },
      );
      await seedRows(cfg, t, 0, 1200);
    }
    const ctx = await openContext('bench-faults-neo4j', cfg);
    const driver = createCatalogDriver(cfg);
    const pools = new PgPools({ executor: false, max: 1 });
    const stages: RunningStage[] = [];
    const via: { at: number; via: 'catalog' | 'routing' }[] = [];
    const commands: Cmd[] = [];
    const results = new Map<string, CommandResult>();
    const watcher = await consumeTopics(ctx.kafka, {
      groupId: `${env.runId}-watch`,
      topics: [COMMAND_TOPICS.partition, COMMAND_TOPICS.shard, TOPICS.results.name],
      fromBeginning: true,
    });
    const sub = watcher.batches$.subscribe(async (ms) => {
      for (const m of ms) {
        if (m.topic === TOPICS.results.name) {
          const r = await ctx.serde.decode<CommandResult>(m.topic, m.value);
          if (r.commandId.includes(env.runId) || commands.some((c) => c.commandId === r.commandId))
            if (FINAL.has(r.status)) results.set(r.commandId, r);
          continue;
        }
        const c = await ctx.serde.decode<PartitionCommand | ShardCommand>(m.topic, m.value);
        if (tables.includes(c.table))
          commands.push({ ...c, kind: m.topic === COMMAND_TOPICS.partition ? 'partition' : 'shard', seenAt: Date.now() } as Cmd);
      }
    });
    /** The tables forecasts are sent for: the first ones from the kill on, all from the lift on. */
    let hot = tables.slice(0, FIRST);
    const forecasts = async () => {
      const now = Date.now();
      const fs = hot.flatMap((t) => ['k1', 'k2'].map((k) => risingForecast(`${source}|${t}|${k}`, now - STEP, now, 5, 6.5, STEP)));
      await ctx.producer.send(
        TOPICS.forecasts.name,
        fs.map((f) => ({ key: f.seriesId, value: f })),
      );
    };
    let stopForecasts: () => Promise<void> = async () => undefined;
    const settled = () => commands.every((c) => results.has(c.commandId));
    try {
      const catalog = await startCatalog(ctx, { groupId: `${env.runId}-catalog`, kinds: ['postgres'], discoverEveryMs: 0 });
      stages.push(catalog);
      stages.push(await startExecute(ctx, { groupId: `${env.runId}-execute` }));
      stages.push(
        await startDecide(ctx, {
          groupId: `${env.runId}-decide`,
          source,
          nodeCapacity: CAPACITY,
          warmupWindows: 1,
          historySince: Date.now(),
          // small tables (a split's minimum size is for real ones); placement actions only
          decide: { stepMs: STEP, horizonSteps: 12, decideEveryMs: STEP, split: { minSizeBytes: 0 }, actions: ['split', 'move'] },
          onState: (v) => via.push({ at: Date.now(), via: v }),
        }),
      );
      for (const g of ['catalog', 'execute', 'decide', 'watch']) await waitForMembers(ctx.kafka, `${env.runId}-${g}`, 120_000);

      const graphMatches = async () => {
        const { records } = await driver.executeQuery('MATCH (c:Command) WHERE c.id IN $ids RETURN c.id AS id, c.status AS status', {
          ids: commands.map((c) => c.commandId),
        });
        const inGraph = new Map(records.map((r) => [r.get('id') as string, r.get('status') as string]));
        const { records: parts } = await driver.executeQuery(
          `MATCH (t:Table {source: $store})-[:HAS_PARTITION]->(p:Partition) WHERE t.name IN $tables AND p.vanishedAt IS NULL
           RETURN t.name AS table, collect(p.name) AS parts`,
          { store: PG_STORE, tables },
        );
        const graphParts = new Map(parts.map((r) => [r.get('table') as string, (r.get('parts') as string[]).sort().join(',')]));
        const stale: string[] = [];
        for (const t of tables) {
          const routes = await loadRoutes(pools.get(cfg.pgNodes[0]!), t);
          const shards = [...new Set(routes?.shards.map((s) => s.shard))].sort().join(',');
          if (graphParts.get(t) !== shards) stale.push(t);
        }
        return { inGraph, stale };
      };
      const recorded = (g: Awaited<ReturnType<typeof graphMatches>>) =>
        commands.filter((c) => results.has(c.commandId) && g.inGraph.get(c.commandId) === results.get(c.commandId)!.status);

      const killedAt = Date.now();
      await env.stack.kill('neo4j');
      // forecasts every step from now on, as the forecast stage would send them
      let sending = forecasts();
      const loop = setInterval(() => {
        sending = sending.then(forecasts).catch(() => undefined);
      }, STEP);
      stopForecasts = async () => {
        clearInterval(loop);
        await sending;
      };
      await sleep(Math.max(0, killedAt + (env.outageMs ?? OUTAGE_MS) - Date.now()));
      await env.stack.up(['neo4j']);
      const liftedAt = Date.now();
      // the other tables' load once decide plans on the catalog again (it retries Neo4j after a
      // pause); meanwhile, when the catalog has caught up with what was done while it was down
      let resyncedAt: number | null = null;
      const caughtUp = async () => {
        const g = settled() ? await graphMatches().catch(() => null) : null;
        return g !== null && g.stale.length === 0 && recorded(g).length === new Set(commands.map((c) => c.commandId)).size;
      };
      const backAt = await waitFor(async () => {
        if (resyncedAt === null && (await caughtUp())) resyncedAt = Date.now();
        return via.some((v) => v.via === 'catalog' && v.at > liftedAt);
      }, 120_000);
      hot = tables;

      const completeAt = await waitFor(async () => {
        const done = commands.some((c) => c.seenAt > liftedAt) && backAt !== null && (await caughtUp());
        if (done && resyncedAt === null) resyncedAt = Date.now();
        return done;
      }, RECOVERY_TIMEOUT_MS);
      if (completeAt !== null) await sleep(SETTLE_MS);
      await stopForecasts();
      const g = await graphMatches().catch(() => ({ inGraph: new Map<string, string>(), stale: tables }));

      const ids = new Set<string>();
      const decisions = new Set<string>();
      let duplicated = 0;
      for (const c of commands) {
        const key = decisionKey(c);
        if (ids.has(c.commandId) || decisions.has(key)) duplicated++;
        ids.add(c.commandId);
        decisions.add(key);
      }
      const accounted = new Set(recorded(g).map((c) => c.commandId)).size;
      const since = (t: number | null) => (t === null ? '?' : Math.max(0, Math.round((t - liftedAt) / 100) / 10));
      const duringOutage = commands.filter((c) => c.seenAt < liftedAt).length;
      const rounds = (v: 'catalog' | 'routing', from: number, to = Number.POSITIVE_INFINITY) =>
        via.filter((x) => x.via === v && x.at >= from && x.at < to).length;
      const statuses = [...new Set([...results.values()].map((r) => r.status))].join('/');
      const notes = [
        `${ids.size} commands (${statuses}) for ${TABLES} tables, ${duringOutage} of them issued while Neo4j was down`,
        `down ${Math.round((liftedAt - killedAt) / 1000)} s: ${rounds('routing', killedAt, liftedAt)} rounds on the routing map, ${rounds('catalog', killedAt, liftedAt)} on the catalog; after: ${rounds('routing', liftedAt)} routing, ${rounds('catalog', liftedAt)} catalog`,
        `after Neo4j was up: catalog resynced in ${since(resyncedAt)} s, decide on the catalog in ${since(backAt)} s`,
        duringOutage === 0 ? 'nothing planned while Neo4j was down' : '',
        duringOutage === ids.size ? 'nothing planned after Neo4j was back' : '',
        g.stale.length ? `catalog partitions differ from the routing map: ${g.stale.join(', ')}` : '',
        ...stages.map((s) => (s.health?.state === 'failed' ? `${s.groupId} failed: ${s.health.lastError ?? ''}` : '')),
      ];
      const row: FaultRow = {
        fault: neo4jDown.name,
        status: 'ran',
        eventsIn: ids.size,
        accounted,
        // a command the catalog never recorded (or with another outcome) is lost to the planner
        lost: ids.size - accounted,
        duplicated,
        recoverySec: completeAt === null ? null : Math.max(0, Math.round((completeAt - liftedAt) / 100) / 10),
        note: notes.filter(Boolean).join('; '),
      };
      return row;
    } finally {
      await stopForecasts();
      for (const s of stages.reverse()) await s.stop().catch(() => undefined);
      sub.unsubscribe();
      await watcher.stop();
      await driver.close();
      await pools.end();
      await ctx.close();
      for (const t of tables) await dropShardedTable(cfg, t).catch(() => undefined);
    }
  },
};
