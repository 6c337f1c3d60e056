/**
 * `shardcast run catalog`: keeps the Neo4j federation graph current.
 *   - on start and every `discoverEveryMs`: discovery of every source (new and vanished objects
 *     logged, see catalog/discover.ts)
 *   - shardcast.commands.*: each command recorded with what it targets
 *   - shardcast.results: each command's status and outcome; a SUCCEEDED change triggers the
 *     rediscovery of what it changed (the table, the topic, the server) and links the command
 *     to the table and partitions it changed or created
 *   - shardcast.workload.aggregates: series load (hotness) and co-access edges
 * Offsets are committed after the graph writes of their batch (startStage), so a restart
 * replays what was not written; every write is idempotent. A result older than the last full
 * discovery of its source needs no rediscovery: that discovery already saw its effect.
 */
import type { AnyCommand, CommandResult, PartitionCommand, ResourceCommand, ShardCommand, WorkloadAggregate } from '../schemas/types.js';
import { recordTemplates } from '../catalog/templates.js';
import { UnavailableError } from '../lib/errors.js';
import { COMMAND_TOPICS, TOPICS } from '../schemas/topics.js';
import { createCatalogDriver, ensureCatalogSchema, type Driver } from '../catalog/neo4j.js';
import { Discovery, type DiscoveryOptions } from '../catalog/discover.js';
import { linkOutcome, recordAggregates, recordCommands, recordResults, rediscoveryFor, type StoreNames } from '../catalog/sync.js';
import { PG_SOURCE } from '../catalog/pg.js';
import { CH_SOURCE } from '../catalog/clickhouse.js';
import { KAFKA_SOURCE } from '../catalog/kafka.js';
import type { Envelope } from '../schemas/envelope.js';
import type { PipelineContext } from './context.js';
import { startStage, type RunningStage } from './stage.js';
import { toAnyCommand } from './execute.js';
import { verifyRecord } from '../lib/signing.js';
import { loadVerifyKeys } from '../lib/signingKeys.js';
import { followTableKeys } from './tableKeys.js';

/** The catalog records authentic commands of any age (it may catch up on old ones); the executor judges age and replays. */
const ANY_AGE = { maxAgeMs: Number.POSITIVE_INFINITY, maxSkewMs: Number.POSITIVE_INFINITY };
/**
 * Refusals of authentic commands (out of their time window): their REJECTED result is the true
 * outcome of a command the graph holds. Other refusals are about forgeries, or, for a replay,
 * about a genuine command whose own outcome stands.
 */
const AUTHENTIC_REFUSALS: ReadonlySet<string> = new Set(['expired', 'future']);

export interface CatalogOptions {
  groupId?: string;
  /** Full discovery period (default 60 s; 0 = only at start). */
  discoverEveryMs?: number;
  /** Which store kinds to introspect (default all). */
  kinds?: DiscoveryOptions['kinds'];
  /** Capacity written on PostgreSQL nodes (queries per window). */
  nodeCapacity?: number;
  fromBeginning?: boolean;
}

type In = WorkloadAggregate | CommandResult | PartitionCommand | ShardCommand | ResourceCommand;

export interface RunningCatalog extends RunningStage {
  driver: Driver;
  discovery: Discovery;
  /** Rediscoveries triggered by results so far. */
  rediscoveries: () => number;
}

export async function startCatalog(ctx: PipelineContext, opts: CatalogOptions = {}): Promise<RunningCatalog> {
  const log = ctx.log.child({ stage: 'catalog' });
  const driver = createCatalogDriver(ctx.cfg);
  // Neo4j down: this stage cannot do its job; fail at start rather than consume and drop.
  await ensureCatalogSchema(driver).catch(async (err) => {
    await driver.close();
    throw new UnavailableError(`catalog: Neo4j at ${ctx.cfg.neo4jUri} is unavailable: ${(err as Error).message}`, { cause: err });
  });
  // A forged command, and the REJECTED result of a refused one (which may carry a genuine
  // command's id), must not change the graph the decide stage plans on (decision 0080).
  const verifyKeys = await loadVerifyKeys(ctx.cfg);
  const discovery = Discovery.open(ctx.cfg, driver, {
    kinds: opts.kinds,
    log,
    postgres: { source: PG_SOURCE, nodeCapacity: opts.nodeCapacity },
  });
  const names: StoreNames = {
    postgres: PG_SOURCE,
    clickhouse: CH_SOURCE,
    kafka: KAFKA_SOURCE,
    clickhouseDatabase: ctx.cfg.clickhouseDatabase,
  };
  const first = await discovery.discoverAll();
  log.info({ sources: first.diffs.map((d) => ({ source: d.source, ...d.counts })), failed: first.failed }, 'catalog discovered');

  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let periodic: Promise<unknown> = Promise.resolve();
  const every = opts.discoverEveryMs ?? 60_000;
  const schedule = () => {
    if (stopped || every <= 0) return;
    timer = setTimeout(() => {
      periodic = discovery
        .discoverAll()
        .catch((err) => log.warn({ err }, 'periodic discovery failed'))
        .finally(schedule);
    }, every);
    timer.unref();
  };
  schedule();

  let rediscoveries = 0;
  // Series of a re-keyed table are placed by its recorded key (pipelines/tableKeys.ts).
  const keys = await followTableKeys(ctx.cfg, log, ctx.cfg.partitionKeys);
  const stage = await startStage<In>(ctx, {
    name: 'catalog',
    groupId: opts.groupId ?? 'shardcast-catalog',
    topics: [TOPICS.results.name, TOPICS.aggregates.name, ...Object.values(COMMAND_TOPICS)],
    fromBeginning: opts.fromBeginning,
    batchSize: 2000,
    batchMs: 500,
    handle: async (batch: Envelope<In>[]) => {
      const commands: AnyCommand[] = [];
      const results: CommandResult[] = [];
      const aggregates: WorkloadAggregate[] = [];
      const cmdTopics = new Set<string>(Object.values(COMMAND_TOPICS));
      for (const m of batch) {
        if (m.topic === TOPICS.results.name) {
          const r = m.value as CommandResult;
          if (r.details.refused === undefined || AUTHENTIC_REFUSALS.has(r.details.refused)) results.push(r);
        } else if (m.topic === TOPICS.aggregates.name) aggregates.push(m.value as WorkloadAggregate);
        else if (cmdTopics.has(m.topic)) {
          if (verifyKeys && !verifyRecord(verifyKeys, m.topic, m.raw, m.headers, 0, ANY_AGE).ok) continue;
          commands.push(toAnyCommand(m.topic, m.value as PartitionCommand | ShardCommand | ResourceCommand));
        }
      }
      // Commands first: a result in the same batch then finds what its command targets.
      await recordCommands(driver, commands, names);
      const succeeded = await recordResults(driver, results);
      // One rediscovery per changed target, then the links (which need the new partitions).
      const jobs = new Map<string, { run: () => Promise<string[]>; cmds: typeof succeeded }>();
      for (const c of succeeded) {
        const what = rediscoveryFor(c, discovery.sources, names);
        const fresh = what && (discovery.lastFull.get(what.source.source) ?? 0) > c.resultTs;
        const key = what && !fresh ? `${what.source.source}|${what.target?.table ?? ''}|${what.target?.topic ?? ''}` : '';
        const job = jobs.get(key) ?? {
          run: async () => {
            if (!what || fresh) return [];
            rediscoveries++;
            try {
              const diff = await discovery.discover(what.source, what.target);
              return diff.added.filter((a) => a.label === 'Partition').map((a) => a.id);
            } catch (err) {
              // The store did not answer: the links still go to what the graph has; the
              // next periodic discovery brings the graph up to date.
              log.warn(
                { err: (err as Error).message, source: what.source.source, target: what.target },
                'rediscovery after a result failed',
              );
              return [];
            }
          },
          cmds: [],
        };
        job.cmds.push(c);
        jobs.set(key, job);
      }
      for (const job of jobs.values()) {
        const created = await job.run();
        for (const c of job.cmds) {
          await linkOutcome(driver, c, { createdIds: created });
          log.info({ commandId: c.commandId, action: c.action, table: c.table, created: created.length }, 'catalog updated from a result');
        }
      }
      await recordAggregates(driver, aggregates, keys.current());
      await recordTemplates(driver, aggregates);
      return [];
    },
  });

  return {
    ...stage,
    driver,
    discovery,
    rediscoveries: () => rediscoveries,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await stage.stop();
      await periodic;
      await keys.stop();
      await discovery.close();
      await driver.close();
    },
  };
}
