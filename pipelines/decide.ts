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
 */
import pg from 'pg';
import { type SigningKey, signRecord } from '../lib/signing.js';
import { loadSigningKey } from '../lib/signingKeys.js';
import type { AnyCommand, CommandResult, Forecast, WorkloadAggregate } from '../schemas/types.js';
import { COMMAND_TOPICS, TOPICS } from '../schemas/topics.js';
import type { Envelope } from '../schemas/envelope.js';
import type { DecideConfigInput } from '../processors/decide/config.js';
import { dependsOn, judgeHeld } from '../processors/decide/dependencies.js';
import { toStoreCommands } from '../processors/decide/postgres/commands.js';
import { DecideRounds } from '../processors/decide/rounds.js';
import type { SelectorModel } from '../processors/decide/selector.js';
import type { ClusterStateInput } from '../processors/decide/state.js';
import { ledgerStatuses } from '../stores/postgres/ledger.js';
import { COORDINATOR, configNodes } from '../stores/postgres/nodes.js';
import type { PipelineContext } from './context.js';
import { PlanningSource } from './decideState.js';
import { startStage, type RunningStage, type StageOutput } from './stage.js';

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
      new pg.Pool({ connectionString: url, max: 2, application_name: 'shardcast-decide' }),
    ]),
  );
  const coord = pools.get(COORDINATOR)!;
  let issued = 0;
  const capacity = opts.nodeCapacity ?? 1000;
  const held = new Map<string, AnyCommand>();
  const planning = new PlanningSource(ctx.cfg, ctx.log, pools, coord, {
    source,
    capacity,
    nodeCapacity: opts.nodeCapacity,
    catalog: opts.catalog,
    historySince: opts.historySince,
  });
  // Forecasts, aggregates and results in; rounds with the plan selector's rewards and the
  // forecasts' skill kept across them (processors/decide/rounds.ts).
  const rounds = new DecideRounds({
    capacity,
    ...(opts.decide ? { decide: opts.decide } : {}),
    ...(opts.warmupWindows !== undefined ? { warmupWindows: opts.warmupWindows } : {}),
  });
  let rewards = 0;

  const stage = await startStage<Forecast | WorkloadAggregate | CommandResult>(ctx, {
    name: 'decide',
    groupId: opts.groupId ?? 'shardcast-decide',
    topics: [TOPICS.forecasts.name, TOPICS.aggregates.name, TOPICS.results.name],
    batchSize: 5000,
    batchMs: 500,
    handle: async (batch: Envelope<Forecast | WorkloadAggregate | CommandResult>[]) => {
      for (const m of batch) {
        if (m.topic === TOPICS.forecasts.name) rounds.observeForecast(m.value as Forecast);
        else if (m.topic === TOPICS.results.name) {
          const r = m.value as CommandResult;
          // A record refused before the engine (forged, replayed) says nothing about the command whose id it carries.
          if (r.details.refused !== undefined) continue;
          if (r.status !== 'ACCEPTED' && r.status !== 'RUNNING') planning.markStoreChanged();
          rounds.observeResult(r);
        } else rounds.observeAggregate(m.value as WorkloadAggregate);
      }
      const now = rounds.due();
      if (now === null) return [];
      const { via, state, taken } = await planning.read(now);
      opts.onState?.(via, state);
      if (state.partitions.length === 0) return [];
      const { result, settled } = rounds.decide(state, now);
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
      return commandOutputs(ready, signing);
    },
  });

  // Held commands are released once the executor's ledger shows every dependency SUCCEEDED,
  // dropped when one failed or when their deadline passed.
  let releasing: Promise<void> = Promise.resolve();
  const release = async () => {
    if (held.size === 0) return;
    const deps = [...new Set([...held.values()].flatMap(dependsOn))];
    const status = await ledgerStatuses(coord, deps);
    const out: AnyCommand[] = [];
    for (const v of judgeHeld(held.values(), status, Date.now())) {
      if (v.verdict === 'wait') continue;
      const c = held.get(v.commandId)!;
      held.delete(v.commandId);
      if (v.verdict === 'release') out.push(c);
      else if (v.verdict === 'drop-failed')
        ctx.log.warn({ commandId: v.commandId, failed: v.failed }, 'dropped: a command it depends on did not succeed');
      else ctx.log.warn({ commandId: v.commandId }, 'dropped: its dependencies did not finish before its deadline');
    }
    if (out.length === 0) return;
    await ctx.producer.sendMany(commandOutputs(out, signing));
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
    selector: () => rounds.selector,
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
      await planning.close();
    },
  };
}
