/**
 * Proposals: what the decide stage would do now, as a dry run through the real decision engine
 * (processors/decide/engine.ts) on the same inputs the stage uses: the latest forecast and the
 * latest aggregate of each series (from ClickHouse), the planning state (the Neo4j catalog, else
 * the routing map: pipelines/decideState.ts) and the operators' controls. Nothing is sent until
 * an operator executes a proposal: then that command is signed and published to its topic, as
 * the stage would, and the executor carries it out (or holds it, if it needs approval).
 */
import { newPgPool } from '../../stores/postgres/pool.js';
import type pg from 'pg';
import { type ClickHouseClient, queryRows } from '../../analytics/clickhouse.js';
import { aggregateFromRow, forecastsFromRows } from '../../analytics/rows.js';
import type { Config } from '../../lib/config.js';
import type { Logger } from '../../lib/log.js';
import { loadSigningKey } from '../../lib/signingKeys.js';
import { commandOutputs, DEFAULT_NODE_CAPACITY } from '../../pipelines/decide.js';
import { PlanningSource } from '../../pipelines/decideState.js';
import { type DecideConfigInput, withApprovalModes } from '../../processors/decide/config.js';
import { decide } from '../../processors/decide/engine.js';
import { toStoreCommands } from '../../processors/decide/postgres/commands.js';
import { PG_STORE } from '../../processors/decide/postgres/state.js';
import { foldAggregates, foldForecasts } from '../../processors/decide/series.js';
import type { AnyCommand, Evidence } from '../../schemas/types.js';
import { quoteToken } from '../../stores/identifiers.js';
import { readControls } from '../../stores/postgres/controls.js';
import { COORDINATOR, configNodes } from '../../stores/postgres/nodes.js';
import type { TopicProducer } from '../../topics/producer.js';
import type { Actor, AuditLog } from './audit.js';
import { checkCommandId } from './commands.js';
import { NotFoundError } from './errors.js';

/** Series whose last window is older than this are not planned on (the stage forgets them on restart too). */
const FRESH_MS = 3_600_000;
/** A proposal can be executed this long after it was computed (then: compute again). */
const PROPOSAL_TTL_MS = 10 * 60_000;

export interface ProposalView {
  commandId: string;
  kind: string;
  action: string;
  store: string;
  table: string | null;
  partition: string | null;
  target: string;
  requiresApproval: boolean;
  expectedBenefit: number;
  expectedCost: number;
  evidence: Evidence;
  explanation: string;
  params: Record<string, string>;
}

export interface ProposalsView {
  computedAt: number;
  /** catalog or routing: where the partition schema came from; none: nothing to plan on yet. */
  via: 'catalog' | 'routing' | 'none';
  paused: boolean;
  strategy: string | null;
  plans: { strategy: string; scoreBefore: number; scoreAfter: number; actions: number; deferred: number }[];
  proposals: ProposalView[];
  /** Lines explaining each proposal, then the candidates deferred or blocked by safety limits. */
  explanations: string[];
  /** Why there are no proposals, when there are none. */
  note: string | null;
}

/** A command as an operator reads it (pure). */
export function proposalView(c: AnyCommand): ProposalView {
  const table = 'table' in c ? c.table : null;
  const partition = 'partition' in c ? c.partition : null;
  const node = c.kind === 'resource' ? c.node : null;
  return {
    commandId: c.commandId,
    kind: c.kind,
    action: c.action,
    store: c.store,
    table,
    partition,
    target: [table, partition ?? node].filter(Boolean).join('/'),
    requiresApproval: c.requiresApproval,
    expectedBenefit: c.expectedBenefit,
    expectedCost: c.expectedCost,
    evidence: c.evidence,
    explanation: c.explanation,
    params: { ...c.params },
  };
}

export interface ProposalDeps {
  cfg: Config;
  log: Logger;
  ch: ClickHouseClient;
  db: string;
  ensureSchema: () => Promise<void>;
  /** The producer that publishes an executed proposal (its command topics registered). */
  producer: () => Promise<TopicProducer>;
  audit: () => Promise<AuditLog>;
  /** As the decide stage runs: queries per window a node serves, the engine's configuration, the series source, the controls' scope. */
  nodeCapacity?: number;
  decide?: DecideConfigInput;
  source?: string;
  scope?: string;
  now?: () => number;
}

export class ProposalService {
  private readonly pools: Map<string, pg.Pool>;
  private planning: PlanningSource | null = null;
  private readonly computed = new Map<string, { command: AnyCommand; at: number }>();

  constructor(private readonly d: ProposalDeps) {
    this.pools = new Map(
      configNodes(d.cfg.pgNodes).map(({ node, url }) => [
        node,
        newPgPool({ connectionString: url, max: 2, application_name: 'shardcast-console' }),
      ]),
    );
  }

  private async inputs(now: number) {
    await this.d.ensureSchema();
    // Only this source's series, as the decide stage reads them: another source's later forecast
    // (a replay, another table's test run) would set the round's time past this source's horizon.
    const source = this.d.source ?? PG_STORE;
    const mine = `substring(series_id, 1, ${source.length + 1}) = concat(${quoteToken(source)}, '|')`;
    const since = now - FRESH_MS;
    const f = await queryRows(
      this.d.ch,
      `SELECT * FROM ${this.d.db}.forecasts FINAL WHERE (series_id, origin_ms) IN (
         SELECT series_id, max(origin_ms) FROM ${this.d.db}.forecasts WHERE origin_ms >= ${since} AND ${mine} GROUP BY series_id)`,
    );
    const a = await queryRows(
      this.d.ch,
      `SELECT * FROM ${this.d.db}.aggregates FINAL WHERE (series_id, window_start_ms) IN (
         SELECT series_id, max(window_start_ms) FROM ${this.d.db}.aggregates WHERE window_start_ms >= ${since} AND ${mine} GROUP BY series_id)`,
    );
    return { forecasts: forecastsFromRows(f, 0.9), aggregates: a.map(aggregateFromRow) };
  }

  /** The dry run: what the decide stage would plan from what it knows now. Sends nothing. */
  async compute(): Promise<ProposalsView> {
    const clock = this.d.now ?? Date.now;
    const coord = this.pools.get(COORDINATOR)!;
    const controls = await readControls(coord, this.d.scope);
    const { forecasts, aggregates } = await this.inputs(clock());
    const empty = (note: string, via: ProposalsView['via'] = 'none'): ProposalsView => ({
      computedAt: clock(),
      via,
      paused: controls.paused !== null,
      strategy: null,
      plans: [],
      proposals: [],
      explanations: [],
      note,
    });
    const fs = foldForecasts(forecasts);
    if (fs.length === 0)
      return empty(`no forecasts of ${this.d.source ?? PG_STORE} in the last hour: run the forecast stage (and the sink) first`);
    const now = Math.max(...fs.map((f) => f.originTs + f.stepMs));
    const capacity = this.d.nodeCapacity ?? DEFAULT_NODE_CAPACITY;
    this.planning ??= new PlanningSource(this.d.cfg, this.d.log, this.pools, coord, {
      source: this.d.source ?? PG_STORE,
      capacity,
      nodeCapacity: this.d.nodeCapacity,
    });
    const { via, state, taken } = await this.planning.read(now);
    if (state.partitions.length === 0) return empty('no partitioned tables to plan on', via);
    const modes = Object.fromEntries(Object.entries(controls.approval).map(([store, c]) => [store, c.mode]));
    const result = decide(state, fs, foldAggregates(aggregates), now, withApprovalModes(this.d.decide ?? {}, modes), null);
    const commands = toStoreCommands(result.commands, state, taken);
    const at = clock();
    for (const [id, c] of this.computed) if (at - c.at > PROPOSAL_TTL_MS) this.computed.delete(id);
    for (const c of commands) this.computed.set(c.commandId, { command: c, at });
    return {
      computedAt: at,
      via,
      paused: controls.paused !== null,
      strategy: result.strategy,
      plans: result.plans,
      proposals: commands.map(proposalView),
      explanations: result.explanations,
      note: commands.length === 0 ? 'the engine plans nothing now: no forecast crosses the limits, or safety limits hold it back' : null,
    };
  }

  /**
   * Publishes a proposal computed in the last ten minutes, signed, to its command topic: the
   * executor runs it, or holds it for approval if it needs one. Audited.
   */
  async execute(id: string, actor: Actor): Promise<ProposalView> {
    checkCommandId(id);
    const p = this.computed.get(id);
    const clock = this.d.now ?? Date.now;
    if (!p || clock() - p.at > PROPOSAL_TTL_MS)
      throw new NotFoundError(
        `no proposal ${id} computed in the last ${PROPOSAL_TTL_MS / 60_000} minutes (GET /api/proposals computes them)`,
      );
    const audit = await this.d.audit();
    const signing = await loadSigningKey(this.d.cfg);
    const producer = await this.d.producer();
    await producer.sendMany(commandOutputs([p.command], signing));
    this.computed.delete(id);
    await audit.record({ actor, action: 'proposal.execute', target: id, outcome: `published ${p.command.kind}/${p.command.action}` });
    return proposalView(p.command);
  }

  async close(): Promise<void> {
    await this.planning?.close();
    for (const p of this.pools.values()) await p.end();
  }
}
