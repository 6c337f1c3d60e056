/**
 * `shardcast run decide`: shardcast.forecasts + shardcast.workload.aggregates + the partition
 * schema and placement → decision engine → shardcast.commands.partition | .shard | .resource.
 *
 * Each round (processors/decide/rounds.ts, the core the simulator's predictive policy runs too):
 * when new forecasts are due, read the planning state (decideState.ts: the Neo4j catalog, else
 * the routing map), decide (forecasts and aggregates folded onto key buckets, discounted where
 * the forecasts' skill is poor, the engine with its plan selector and safety limits),
 * rename the commands to the executor's shards (processors/decide/postgres/commands.ts), send
 * those with nothing to wait for and hold the others until the executors' ledger shows that
 * what they depend on succeeded (processors/decide/dependencies.ts). Every command is signed
 * (lib/signing.ts) with the configured key when it is encoded, so executors can refuse forgeries.
 * Operators' controls (stores/postgres/controls.ts: pause, approval mode per store) are read at
 * every round: a paused stage keeps its state current and plans nothing.
 * Kafka topics are planned beside the tables, on the forecasts of their produce rates
 * (decideKafka.ts), at the time of those forecasts: metric series run on the wall clock.
 */
import { newPgPool } from '../stores/postgres/pool.js';
import { type SigningKey, signRecord } from '../lib/signing.js';
import { loadSigningKey } from '../lib/signingKeys.js';
import type { AnyCommand, CommandResult, Forecast, WorkloadAggregate } from '../schemas/types.js';
import { COMMAND_TOPICS, TOPICS } from '../schemas/topics.js';
import type { Envelope } from '../schemas/envelope.js';
import { decideConfig, type DecideConfigInput, withApprovalModes } from '../processors/decide/config.js';
import { dependsOn, heldCheckDue, judgeHeld, releaseWithinMoveLimits } from '../processors/decide/dependencies.js';
import { DATA_MOVE_ACTIONS } from '../processors/decide/actions/registry.js';
import { moveLimitsOf } from '../processors/decide/safety.js';
import { toStoreCommands } from '../processors/decide/postgres/commands.js';
import { DecideRounds } from '../processors/decide/rounds.js';
import type { SelectorModel } from '../processors/decide/selector.js';
import { foldForecasts, isSeriesOf } from '../processors/decide/series.js';
import { isMetricSeries } from '../processors/forecast/metricSeries.js';
import { isTemplateSeries } from '../processors/forecast/templateSeries.js';
import type { ClusterStateInput } from '../processors/decide/state.js';
import { CommandedDesigns } from '../processors/decide/commandedDesigns.js';
import { WorkloadProfile } from '../processors/decide/workloadProfile.js';
import { existingDesigns, loadTableDesigns } from '../stores/postgres/designs.js';
import { readControls } from '../stores/postgres/controls.js';
import { RunningMoves, ledgerStatuses } from '../stores/postgres/ledger.js';
import { COORDINATOR, configNodes } from '../stores/postgres/nodes.js';
import type { PipelineContext } from './context.js';
import { PlanningSource } from './decideState.js';
import { ClickHousePlanning, type ClickHousePlanOptions } from './decideClickHouse.js';
import { KafkaPlanning, type KafkaPlanOptions, type KafkaRound } from './decideKafka.js';
import { startStage, type RunningStage, type StageOutput } from './stage.js';

/** Queries per window one node serves, when not configured. */
export const DEFAULT_NODE_CAPACITY = 1000;

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
  /** Runs after a batch's commands were sent in their transaction, before it commits (tests put a crash here). */
  beforeCommit?: () => Promise<void>;
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
  /**
   * Add-partitions planning of Kafka topics on their forecast produce rate (the metric series
   * of `shardcast.telemetry.metrics`); false: none. Default: records/s per partition 1000.
   */
  kafka?: KafkaPlanOptions | false;
  /**
   * Precompute and repartition planning of ClickHouse tables from their own workload (the
   * query-log collector's templates, profiled by ingest); false: none.
   */
  clickhouse?: ClickHousePlanOptions | false;
  /** Whose pause orders this stage obeys (stores/postgres/controls.ts): the `run --group` prefix, default shardcast. */
  controlScope?: string;
  /**
   * Plan, log and report every round (onDecision, the commands count) but publish no command:
   * for a run with no executor (the demo's control run), whose commands would otherwise wait on
   * the command topics for any executor that starts later.
   */
  dryRun?: boolean;
  /** Called after each round with where its partition schema came from. */
  onState?: (via: 'catalog' | 'routing', state: ClusterStateInput) => void;
}

/**
 * Commands as stage outputs: one record per command on its kind's topic, keyed store/table (or
 * node), signed with `key` over its encoded bytes at the time it is sent.
 */
export function commandOutputs(cmds: readonly AnyCommand[], signing: SigningKey, now: () => number = Date.now): StageOutput[] {
  const byTopic = new Map<string, StageOutput>();
  for (const c of cmds) {
    const topic = COMMAND_TOPICS[c.kind];
    const { kind: _k, ...value } = c;
    const recordKey = c.kind === 'resource' ? `${c.store}/${c.node ?? ''}` : `${c.store}/${c.table}`;
    if (!byTopic.has(topic)) byTopic.set(topic, { topic, records: [] });
    byTopic.get(topic)!.records.push({ key: recordKey, value, headers: (bytes) => signRecord(signing, topic, bytes, now()) });
  }
  return [...byTopic.values()];
}

export interface RunningDecide extends RunningStage {
  commands: () => number;
  /** Candidates not issued because a command of theirs did not fit the command contract (a planner bug). */
  misfits: () => number;
  /** The plan selector as learned so far (null before the first decision). */
  selector: () => SelectorModel | null;
  /** Decisions whose outcome has been judged and learned from. */
  rewards: () => number;
}

export async function startDecide(ctx: PipelineContext, opts: DecideOptions = {}): Promise<RunningDecide> {
  const source = opts.source ?? 'pg-shards';
  // Before anything connects: a missing or bad key is a configuration error at start.
  const signing = await loadSigningKey(ctx.cfg);
  ctx.log.info({ keyId: signing.keyId }, 'signing commands');
  const pools = new Map(
    configNodes(ctx.cfg.pgNodes).map(({ node, url }) => [
      node,
      newPgPool({ connectionString: url, max: 2, application_name: 'shardcast-decide' }),
    ]),
  );
  const coord = pools.get(COORDINATOR)!;
  let issued = 0;
  let misfits = 0;
  const capacity = opts.nodeCapacity ?? DEFAULT_NODE_CAPACITY;
  const held = new Map<string, AnyCommand>();
  /** Held moves whose dependencies succeeded, waiting for a move slot. */
  let slotWaits = new Set<string>();
  const runningMoves = new RunningMoves(coord, DATA_MOVE_ACTIONS);
  const warmup = opts.warmupWindows ?? 5;
  let pausedLogged = false;
  const planning = new PlanningSource(ctx.cfg, ctx.log, pools, coord, {
    source,
    capacity,
    nodeCapacity: opts.nodeCapacity,
    catalog: opts.catalog,
    historySince: opts.historySince,
  });
  // Table series: forecasts, aggregates and results in; rounds with the plan selector's rewards
  // and the forecasts' skill kept across them (processors/decide/rounds.ts).
  // the physical-design planners' statistics: the template profiles ingest puts on the source's total series
  const workload = new WorkloadProfile();
  // designs commanded but not built yet count as existing: not planned again meanwhile
  const commanded = new CommandedDesigns();
  const withWorkloadStatistics = async (state: ClusterStateInput, now: number): Promise<ClusterStateInput> => {
    const tables = state.tables.map((t) => t.name);
    const designs = commanded.addTo(existingDesigns(await loadTableDesigns(coord, tables)), now);
    return { ...state, ...workload.statistics(tables, { source, designs }) };
  };
  const rounds = new DecideRounds({
    capacity,
    ...(opts.decide ? { decide: opts.decide } : {}),
    ...(opts.warmupWindows !== undefined ? { warmupWindows: warmup } : {}),
  });
  let rewards = 0;
  // Metric series (Kafka produce rates) run on the wall clock, table series on event time: each
  // part plans at its own forecasts' time, the topics on their own forecasts and warm-up.
  const kafkaPlanning = opts.kafka === false ? null : new KafkaPlanning(ctx, opts.kafka ?? {});
  const metricForecasts = new Map<string, Forecast>();
  const metricOrigins = new Set<number>();
  const decideCfg = decideConfig(opts.decide ?? {});
  const countMisfits = (ms: readonly { action: string; explanation: string; reason: string }[]) => {
    for (const m of ms) ctx.log.warn(m, 'candidate not issued: a command of it does not fit the command contract');
    misfits += ms.length;
  };
  const chPlanning = opts.clickhouse === false ? null : new ClickHousePlanning(ctx, opts.clickhouse ?? {});
  /** Event time of the newest ClickHouse template profile not yet planned (null: none). */
  let chDueAt: number | null = null;
  /** Commands out now, signed; those that depend on others held until those succeed (released below). */
  const issue = (commands: readonly AnyCommand[]): StageOutput[] => {
    const ready: AnyCommand[] = [];
    for (const c of commands) {
      // a dry run holds nothing: what it would wait for is never executed
      if (dependsOn(c).length === 0 || opts.dryRun) ready.push(c);
      else if (!held.has(c.commandId)) {
        held.set(c.commandId, c);
        ctx.log.info({ commandId: c.commandId, dependsOn: dependsOn(c) }, 'held until the commands it depends on succeed');
      }
    }
    issued += ready.length;
    if (opts.dryRun) return [];
    runningMoves.sending(ready);
    return commandOutputs(ready, signing);
  };
  /** A round of a store planned apart from the PostgreSQL one (Kafka, ClickHouse): logged, counted, issued. */
  const storeRound = (store: string, round: KafkaRound): StageOutput[] => {
    countMisfits(round.misfits);
    for (const line of round.explanations) ctx.log.info({ store }, line);
    if (round.commands.length)
      opts.onDecision?.(
        round.commands,
        round.commands.map((c) => `${c.commandId} ${c.action}: ${c.explanation}`),
      );
    return issue(round.commands);
  };

  /**
   * Held commands whose dependencies all SUCCEEDED in the executors' ledger, as outputs, data
   * moves only while they fit the move limits beside the moves running (the others wait for a
   * slot); those whose dependency did not succeed, or whose deadline passed, are dropped (and
   * said so).
   */
  const releaseHeld = async (): Promise<StageOutput[]> => {
    const deps = [...new Set([...held.values()].flatMap(dependsOn))];
    const status = await ledgerStatuses(coord, deps);
    const ready: AnyCommand[] = [];
    const at = Date.now();
    for (const v of judgeHeld(held.values(), status, at)) {
      if (v.verdict === 'wait') continue;
      const c = held.get(v.commandId)!;
      if (v.verdict === 'release') {
        ready.push(c);
        continue;
      }
      held.delete(v.commandId);
      if (v.verdict === 'drop-failed')
        ctx.log.warn({ commandId: v.commandId, failed: v.failed }, 'dropped: a command it depends on did not succeed');
      else ctx.log.warn({ commandId: v.commandId }, 'dropped: its dependencies did not finish before its deadline');
    }
    // an unreadable ledger releases no move: the limits cannot be checked
    const moving = ready.some((c) => DATA_MOVE_ACTIONS.has(c.action)) ? ((await runningMoves.count(at)) ?? Infinity) : 0;
    const { release, waiting, expired } = releaseWithinMoveLimits(ready, moving, moveLimitsOf(decideCfg), at);
    for (const c of [...release, ...expired]) held.delete(c.commandId);
    for (const c of expired) ctx.log.warn({ commandId: c.commandId }, 'dropped: no move slot freed before its deadline');
    for (const c of waiting)
      if (!slotWaits.has(c.commandId))
        ctx.log.info(
          { commandId: c.commandId, running: Number.isFinite(moving) ? moving : 'unknown' },
          'its dependencies succeeded; waits for a move slot',
        );
    slotWaits = new Set(waiting.map((c) => c.commandId));
    issued += release.length;
    for (const c of release) ctx.log.info({ commandId: c.commandId, action: c.action }, 'released: its dependencies succeeded');
    runningMoves.sending(release);
    return release.length ? commandOutputs(release, signing) : [];
  };

  const stage = await startStage<Forecast | WorkloadAggregate | CommandResult>(ctx, {
    name: 'decide',
    groupId: opts.groupId ?? 'shardcast-decide',
    topics: [TOPICS.forecasts.name, TOPICS.aggregates.name, TOPICS.results.name],
    batchSize: 5000,
    batchMs: 500,
    // Commands and the offsets of the inputs they came from commit in one transaction: after a
    // crash between the two, read-committed executors never see the first copy (0045's scheme).
    exactlyOnce: {
      transactionalId: `shardcast-decide-${opts.groupId ?? 'shardcast-decide'}`,
      commitAlone: true,
      beforeCommit: async () => opts.beforeCommit?.(),
      afterCommit: async () => undefined,
    },
    handle: async (batch: Envelope<Forecast | WorkloadAggregate | CommandResult>[]) => {
      let metricsFresh = false;
      /** Commands with a final result in this batch: what may release a held command. */
      const finished = new Set<string>();
      for (const m of batch) {
        if (m.topic === TOPICS.forecasts.name) {
          const f = m.value as Forecast;
          // a template's executions feed the physical-design planners, not the placement rounds
          if (isTemplateSeries(f.seriesId)) workload.observeForecast(f);
          else if (isMetricSeries(f.seriesId)) {
            metricForecasts.set(f.seriesId, f);
            if (metricOrigins.size < warmup) metricOrigins.add(f.originTs);
            metricsFresh = true;
          }
          // The placement rounds see only their source: another source's forecasts (a backlog,
          // a replay) would set the round's time and age this stage's issued commands out early.
          else if (isSeriesOf(f.seriesId, source)) rounds.observeForecast(f);
        } else if (m.topic === TOPICS.results.name) {
          const r = m.value as CommandResult;
          // A record refused before the engine (forged, replayed) says nothing about the command whose id it carries.
          if (r.details.refused !== undefined) continue;
          if (r.status !== 'ACCEPTED' && r.status !== 'RUNNING') {
            planning.markStoreChanged();
            finished.add(r.commandId);
          }
          rounds.observeResult(r);
          commanded.observeResult(r);
          planning.issued.observeResult(r);
        } else {
          const a = m.value as WorkloadAggregate;
          if (isSeriesOf(a.seriesId, source)) rounds.observeAggregate(a);
          workload.observe(a);
          if (chPlanning && a.source === chPlanning.source && a.templates?.length) chDueAt = Math.max(chDueAt ?? 0, a.windowEnd);
        }
      }
      const now = rounds.due();
      const kafkaDue = kafkaPlanning !== null && metricsFresh && metricOrigins.size >= warmup;
      const releaseDue = heldCheckDue(held.values(), finished, Date.now(), slotWaits.size > 0);
      if (now === null && !kafkaDue && chDueAt === null && !releaseDue) return [];
      const controls = await readControls(coord, opts.controlScope);
      if (controls.paused) {
        if (!pausedLogged) ctx.log.warn({ by: controls.paused.by }, 'deciding is paused by an operator; no plans until resumed');
        pausedLogged = true;
        return [];
      }
      if (pausedLogged) ctx.log.info('deciding resumed');
      pausedLogged = false;
      const modes = Object.fromEntries(Object.entries(controls.approval).map(([store, c]) => [store, c.mode]));
      const decideInput = withApprovalModes(opts.decide ?? {}, modes);
      // Held commands whose dependencies are done go out in this batch's transaction (a result
      // that settles a dependency arrives in a batch, so release follows it); then the Kafka
      // topics and ClickHouse tables: they do not depend on the PostgreSQL store's planning state.
      const sideOut: StageOutput[] = releaseDue ? await releaseHeld() : [];
      if (kafkaDue) {
        const metricFs = foldForecasts(metricForecasts.values());
        const at = Math.max(...metricFs.map((f) => f.originTs + f.stepMs));
        sideOut.push(...storeRound('kafka', await kafkaPlanning.round(metricFs, at, decideCfg.windowMs ?? decideCfg.decideEveryMs)));
      }
      if (chPlanning && chDueAt !== null) {
        const at = chDueAt;
        chDueAt = null;
        const templates = workload.templatesAhead(chPlanning.source);
        const chRound = await chPlanning.round(templates, at, decideCfg.windowMs ?? decideCfg.decideEveryMs, modes.clickhouse === 'manual');
        sideOut.push(...storeRound('clickhouse', chRound));
      }
      if (now === null) return sideOut;
      const { via, state, taken } = await planning.read(now);
      opts.onState?.(via, state);
      if (state.partitions.length === 0) return sideOut;
      const { result, settled } = rounds.decide(await withWorkloadStatistics(state, now), now, decideInput);
      for (const r of settled) {
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
      countMisfits(result.misfits);
      const commands = toStoreCommands(result.commands, state, taken);
      planning.issued.remember(commands);
      commanded.remember(commands);
      opts.onDecision?.(commands, result.explanations);
      for (const line of result.explanations) ctx.log.info({ strategy: result.strategy, state: via }, line);
      return [...sideOut, ...issue(commands)];
    },
  });

  return {
    ...stage,
    commands: () => issued,
    misfits: () => misfits,
    selector: () => rounds.selector,
    rewards: () => rewards,
    async stop() {
      if (held.size > 0)
        ctx.log.warn(
          { held: [...held.keys()] },
          'stopping with commands still waiting on their dependencies (the next decision re-plans them)',
        );
      await stage.stop();
      for (const p of pools.values()) await p.end();
      await planning.close();
      await kafkaPlanning?.close();
      await chPlanning?.close();
    },
  };
}
