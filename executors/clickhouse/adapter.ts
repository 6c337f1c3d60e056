/**
 * StoreAdapter for ClickHouse (storeKind 'clickhouse', store 'clickhouse' by default: the one
 * server of lib/config.ts's CLICKHOUSE_URL).
 *
 * Partition commands:
 *   repartition  change PARTITION BY online through a shadow table (repartition.ts).
 *                params: partitionBy (column | toYYYYMM | toYYYYMMDD | toDate | toMonday | intDiv |
 *                hashMod | none), partitionColumn, partitionN, graceMs, keepOld (true|false), database.
 *   precompute   a materialized view into a SummingMergeTree target, backfilled (precompute.ts).
 *                params: template (count_by | sum_by | daily_sum), groupBy, value, name, database.
 *
 * `validate` checks the command against system.tables / system.columns: the table exists in an
 * allowed database, is a MergeTree-family table whose engine clause can be re-rendered, has no
 * dependent views and no unfinished mutations, no other repartition is in flight on it, and the
 * new key is a whitelisted template whose partition count stays under the cap. A command whose
 * key the table already has, or whose precomputation exists, succeeds without change (redelivery).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { createClickHouse } from '../../stores/clickhouse/client.js';
import type { Config } from '../../lib/config.js';
import type { AnyCommand } from '../../schemas/types.js';
import { isPlainIdentifier, quoteQualified, quoteToken } from '../../stores/identifiers.js';
import type { ExecutionContext, Outcome, StoreAdapter } from '../types.js';
import { checkPartitionKey, checkPrecompute, isWorkName, normalizeKey, precomputeNames, renderEngine, workNames } from './checks.js';
import { runPrecompute, undoPrecompute, type PrecomputePlan } from './precompute.js';
import { Repartition, type RepartitionHooks, type RepartitionPlan } from './repartition.js';
import { finishSwitch, restoreOriginal, switched } from './switch.js';
import { ChStore } from './store.js';

export const CLICKHOUSE_STORE = 'clickhouse';

export interface ClickHouseAdapterOptions extends RepartitionHooks {
  /** The store id commands name (default 'clickhouse'). */
  store?: string;
  /** Databases commands may touch (default: the config's CLICKHOUSE_DATABASE). */
  databases?: string[];
  /** Most partitions a new key may produce (default 500). */
  maxPartitions?: number;
  /** Largest copy batch in uncompressed bytes; a bigger partition is copied in slices (default 256 MiB). */
  batchBytes?: number;
  /** Online copy rounds stop, and the write pause begins, once less than this is left (default 8 MiB). */
  pauseBytes?: number;
  /** Online copy rounds at most (default 5). */
  maxRounds?: number;
  /** How long the write pause waits for INSERTs that began before it (default 30 s). */
  drainTimeoutMs?: number;
  /** How long the old table is kept after the switch before it is dropped (default 0). */
  defaultGraceMs?: number;
  /** Attempts to attach a precomputation's view at a moment without running INSERTs (default 40). */
  attachAttempts?: number;
}

type Planned =
  | { op: 'repartition'; plan: RepartitionPlan }
  | { op: 'precompute'; plan: PrecomputePlan; leftover: boolean }
  | { op: 'noop'; why: string }
  | { op: 'resume' }
  | { reason: string };

const ACTIONS = new Set(['repartition', 'precompute']);
const MAX_GRACE_MS = 3_600_000;

export class ClickHouseAdapter implements StoreAdapter {
  readonly name = 'clickhouse';
  readonly store: string;
  private readonly ch: ClickHouseClient;
  private readonly db: ChStore;
  private readonly databases: string[];

  private constructor(
    cfg: Pick<Config, 'clickhouseUrl' | 'clickhouseUser' | 'clickhousePassword' | 'clickhouseDatabase'>,
    private readonly opts: ClickHouseAdapterOptions,
  ) {
    this.store = opts.store ?? CLICKHOUSE_STORE;
    this.ch = createClickHouse(cfg);
    this.db = new ChStore(this.ch);
    this.databases = opts.databases ?? [cfg.clickhouseDatabase];
  }

  /** No connection is made here: a ClickHouse that is down only fails its own commands. */
  static open(
    cfg: Pick<Config, 'clickhouseUrl' | 'clickhouseUser' | 'clickhousePassword' | 'clickhouseDatabase'>,
    opts: ClickHouseAdapterOptions = {},
  ): ClickHouseAdapter {
    return new ClickHouseAdapter(cfg, opts);
  }

  handles(cmd: AnyCommand): boolean {
    return cmd.kind === 'partition' && cmd.storeKind === 'clickhouse' && cmd.store === this.store && ACTIONS.has(cmd.action);
  }

  async validate(cmd: AnyCommand): Promise<string | null> {
    const p = await this.plan(cmd);
    return 'reason' in p ? p.reason : null;
  }

  async execute(cmd: AnyCommand, ctx: ExecutionContext): Promise<Outcome> {
    const onResume = cmd.params.onResume === 'rollback' ? 'rollback' : 'finish';
    const st = ctx.resumeFrom;
    if (st && st.commandId === cmd.commandId && (st.op === 'repartition' || st.op === 'precompute')) {
      const resumed = await this.resume(st, onResume, ctx);
      if (resumed) return resumed;
    } else if (cmd.action === 'repartition' && cmd.kind === 'partition') {
      // Work tables without a checkpoint: a crash between creating them and saving progress.
      const db = cmd.params.database ?? this.databases[0]!;
      if (
        this.databases.includes(db) &&
        isPlainIdentifier(cmd.table) &&
        (await this.workTablesOf(db, cmd.table, cmd.commandId)).length > 0
      ) {
        const n = { db, table: cmd.table, ...workNames(cmd.table, cmd.commandId) };
        await restoreOriginal(this.db, n);
        if (onResume === 'rollback') return { status: 'ROLLED_BACK', reason: 'an interrupted run was rolled back (onResume=rollback)' };
      }
    }
    const p = await this.plan(cmd);
    if ('reason' in p) return { status: 'FAILED', reason: `no longer valid: ${p.reason}` };
    switch (p.op) {
      case 'noop':
        return { status: 'SUCCEEDED', verified: true, details: { noop: p.why } };
      case 'resume':
        return { status: 'FAILED', reason: 'work tables of an earlier run are still present after recovery' };
      case 'repartition':
        return new Repartition(this.db, p.plan, ctx, this.opts).run();
      case 'precompute':
        if (p.leftover) await undoPrecompute(this.db, p.plan);
        return runPrecompute(this.db, p.plan, ctx);
    }
  }

  /**
   * A restarted executor's run of a command it had in flight. A repartition whose switch happened
   * is finished (the new table already took writes; going back would lose them); anything
   * earlier is rolled back, then, unless onResume=rollback, run again from the start.
   * Returns null when the caller should plan and run the command afresh.
   */
  private async resume(st: Record<string, string>, onResume: 'finish' | 'rollback', ctx: ExecutionContext): Promise<Outcome | null> {
    const db = st.db ?? '';
    const names = [st.table, st.shadow, st.old, st.gate, st.target, st.view].filter((x): x is string => x !== undefined);
    if (!this.databases.includes(db) || !names.every(isPlainIdentifier))
      return { status: 'FAILED', reason: 'checkpoint names are not valid identifiers' };
    if (st.op === 'repartition') {
      const n = { db, table: st.table!, shadow: st.shadow!, old: st.old!, gate: st.gate!, keyCanonical: st.keyCanonical ?? '' };
      if (await switched(this.db, n)) {
        const details = await finishSwitch(this.db, { ...n, graceMs: Number(st.graceMs ?? 0), keepOld: st.keepOld === 'true' }, ctx.signal);
        return { status: 'SUCCEEDED', verified: true, details: { ...details, resumed: 'after the switch' } };
      }
      await restoreOriginal(this.db, n);
    } else {
      await undoPrecompute(this.db, { db, table: st.table!, target: st.target!, view: st.view! });
    }
    if (onResume === 'rollback') return { status: 'ROLLED_BACK', reason: `an interrupted run (phase ${st.phase ?? '?'}) was rolled back` };
    return null;
  }

  /** This command's work tables that exist. */
  private async workTablesOf(db: string, table: string, commandId: string): Promise<string[]> {
    const w = workNames(table, commandId);
    const out: string[] = [];
    for (const n of [w.shadow, w.old, w.gate]) if ((await this.db.engineOf(db, n)) !== null) out.push(n);
    return out;
  }

  /** Validates `cmd` against the server's catalog and plans it. */
  private async plan(cmd: AnyCommand): Promise<Planned> {
    const reject = (reason: string): Planned => ({ reason });
    if (!this.handles(cmd) || cmd.kind !== 'partition')
      return reject(`the clickhouse executor does not carry out ${cmd.kind}/${cmd.action}`);
    const params = cmd.params;
    const db = params.database ?? this.databases[0]!;
    if (!isPlainIdentifier(db) || !this.databases.includes(db))
      return reject(`database ${JSON.stringify(db)} is not one this executor may change (${this.databases.join(', ')})`);
    const table = cmd.table;
    if (!isPlainIdentifier(table)) return reject(`table ${JSON.stringify(table)} is not a plain identifier`);
    if (isWorkName(table)) return reject(`${table} is a work table of another command`);
    if (cmd.partition !== null) return reject('a ClickHouse command applies to the whole table; partition must be null');
    if (!(await this.db.databaseExists(db))) return reject(`unknown database ${db}`);
    if (cmd.action === 'repartition' && (await this.workTablesOf(db, table, cmd.commandId)).length > 0) return { op: 'resume' };
    const meta = await this.db.tableMeta(db, table);
    if (!meta) return reject(`unknown table ${db}.${table}`);
    const busy = await this.db.rows<{ name: string }>(
      `SELECT name FROM system.tables WHERE database = ${quoteToken(db)} AND position(name, ${quoteToken(`${table.slice(0, 40)}__sc`)}) = 1`,
    );
    const others = busy.map((b) => b.name).filter(isWorkName);
    if (others.length > 0) return reject(`${table} is busy: work tables of another repartition exist (${others.join(', ')})`);
    const cols = await this.db.columns(db, table);
    const maxPartitions = this.opts.maxPartitions ?? 500;
    const batchBytes = this.opts.batchBytes ?? 256 * 1024 * 1024;

    if (cmd.action === 'precompute') {
      if (
        !['MergeTree', 'ReplacingMergeTree', 'SummingMergeTree', 'CollapsingMergeTree', 'VersionedCollapsingMergeTree'].includes(
          meta.engine,
        )
      ) {
        return reject(`engine ${meta.engine} is not supported for a precomputation (MergeTree family only)`);
      }
      const spec = checkPrecompute(params, cols.stored);
      if (!spec.ok) return reject(spec.reason);
      const names = precomputeNames(table, spec.value.name);
      if (!names.ok) return reject(names.reason);
      const target = await this.db.engineOf(db, names.value.target);
      const view = await this.db.engineOf(db, names.value.view);
      // An executor finishes or undoes its interrupted runs before it takes new commands, so
      // target and view together are a finished precomputation.
      if (target !== null && view !== null) return { op: 'noop', why: `precomputation ${db}.${names.value.target} exists already` };
      // One without the other: what an interrupted run leaves; removed before running again,
      // but only when it is recognisably one of ours.
      if (target !== null && !(target === 'SummingMergeTree' && (await this.db.columns(db, names.value.target)).all.has('sc_n'))) {
        return reject(`${db}.${names.value.target} exists already and is not a precomputation`);
      }
      if (view !== null && view !== 'MaterializedView')
        return reject(`${db}.${names.value.view} exists already and is not a materialized view`);
      return {
        op: 'precompute',
        plan: {
          commandId: cmd.commandId,
          db,
          table,
          ...names.value,
          spec: spec.value,
          maxPartitions,
          batchBytes,
          attempts: this.opts.attachAttempts ?? 40,
        },
        leftover: target !== null || view !== null,
      };
    }

    // repartition
    const key = checkPartitionKey(params, cols.stored);
    if (!key.ok) return reject(key.reason);
    const engine = renderEngine(meta, cols.all, key.value.sql);
    if (!engine.ok) return reject(engine.reason);
    if (normalizeKey(meta.partitionKey) === normalizeKey(key.value.canonical)) {
      return { op: 'noop', why: `${db}.${table} is already partitioned by ${key.value.canonical || 'tuple()'}` };
    }
    if (meta.dependencies.length > 0)
      return reject(`${db}.${table} has dependent views (${meta.dependencies.join(', ')}); they would keep reading the old table`);
    if ((await this.db.unfinishedMutations(db, table)) > 0) return reject(`${db}.${table} has unfinished mutations`);
    const grace = msParam(params.graceMs, 'graceMs', this.opts.defaultGraceMs ?? 0, MAX_GRACE_MS);
    if (typeof grace === 'string') return reject(grace);
    if (params.keepOld !== undefined && params.keepOld !== 'true' && params.keepOld !== 'false')
      return reject(`keepOld ${JSON.stringify(params.keepOld)} is not true or false`);
    if (cols.stored.size === 0) return reject(`${db}.${table} has no stored columns`);
    // The partition count the new key would produce, on today's data (uniq: approximate, cheap).
    const [u] = await this.db.rows<{ n: string }>(`SELECT uniq(${key.value.sql}) AS n FROM ${quoteQualified(db, table)}`);
    const partitions = Number(u?.n ?? 0);
    if (partitions > maxPartitions) return reject(`the new key would make about ${partitions} partitions (limit ${maxPartitions})`);
    const w = workNames(table, cmd.commandId);
    return {
      op: 'repartition',
      plan: {
        commandId: cmd.commandId,
        db,
        table,
        ...w,
        keySql: key.value.sql,
        keyCanonical: key.value.canonical,
        engineSql: engine.value,
        columns: [...cols.stored.keys()],
        nullable: [...cols.stored].filter(([, t]) => t.startsWith('Nullable(')).map(([c]) => c),
        graceMs: grace,
        keepOld: params.keepOld === 'true',
        maxPartitions,
        batchBytes,
        pauseBytes: this.opts.pauseBytes ?? 8 * 1024 * 1024,
        maxRounds: this.opts.maxRounds ?? 5,
        drainTimeoutMs: this.opts.drainTimeoutMs ?? 30_000,
      },
    };
  }

  async close(): Promise<void> {
    await this.ch.close();
  }
}

/** A whole number of milliseconds up to `max`, `dflt` when absent; else the reason. */
function msParam(raw: string | undefined, name: string, dflt: number, max: number): number | string {
  if (raw === undefined) return dflt;
  if (!/^[0-9]{1,10}$/.test(raw)) return `parameter ${name} is not a whole number of milliseconds: ${JSON.stringify(raw)}`;
  const v = Number(raw);
  return v > max ? `parameter ${name} ${v} is above the limit ${max}` : v;
}
