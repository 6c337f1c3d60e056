/**
 * StoreAdapter for the PostgreSQL shard nodes (storeKind 'postgres').
 *
 * Partition commands: split, merge, rekey (the whole table re-sharded by keyColumns, one
 * integer column, or with keyHash by ranges of its hash; planned in rekeyPlan.ts, run by
 * rekey.ts), composite_index, derived_attribute, precompute. A table keyed on a hash migrates
 * ranges of the hash like any other (split points inside the hash's int4 range).
 * Shard commands: move, colocate (a move next to the shard named in params.with, verified to
 * end with both on one node), replicate, dereplicate (targetNode: the node whose copy is dropped).
 *
 * `validate` checks a command against the routing map on node 0 (the table and shard exist,
 * split point strictly inside the shard's range, target node exists and differs, columns exist,
 * expressions and templates are on the whitelists, identifiers are plain) and returns the
 * reason to reject it. `execute` carries it out online (see migrate.ts, replication.ts,
 * design.ts) and resumes or rolls back a run a crashed executor left behind.
 */
import { firstFreeShardName } from '../../schemas/shardNames.js';
import { InputError, UnavailableError } from '../../lib/errors.js';
import type { AnyCommand } from '../../schemas/types.js';
import { isPlainIdentifier } from '../../stores/identifiers.js';
import type { ExecutionContext, Outcome, StoreAdapter } from '../types.js';
import {
  checkColumnList,
  checkMerge,
  checkPrecompute,
  checkSplitPoint,
  msParam,
  parseDerivedExpression,
  type DerivedExpr,
} from './checks.js';
import type { PrecomputeSpec } from '../../stores/postgres/precomputed.js';
import { columnTypes, compositeIndex, derivedAttribute, precompute, reapplyDesigns, shardTables, type ShardTable } from './design.js';
import { ensureRoutingSchema } from '../../stores/postgres/setup.js';
import { listNodes, loadRoutes, type ShardRoute } from '../../stores/postgres/routing.js';
import { physicalName } from '../../stores/postgres/keys.js';
import { RangeMigration } from './migrate.js';
import { RekeyMigration } from './rekey.js';
import { type NodeDb, planRekey, rowIdentity } from './rekeyPlan.js';
import { checkColocated } from './colocate.js';
import { planFromState, rangeMigrationPlan, type MigrationEnv, type MigrationPlan, type RekeyPlan } from './migrationPlan.js';
import { PgPools } from '../../stores/postgres/nodes.js';
import { dereplicate, replicate, type ReplicaPlan } from './replication.js';

export interface PostgresAdapterOptions {
  /** Rows per copy batch (default 1000; a command may set params.batchRows, 100..50000). */
  batchRows?: number;
  /** How long a moved/merged source stays readable before it is dropped (default 2000 ms). */
  defaultGraceMs?: number;
  /** How long replicate waits for the initial sync (default 120 s). */
  replicationTimeoutMs?: number;
  /** Test hook, called after each copied batch of a migration. */
  afterBatch?: MigrationEnv['afterBatch'];
  /** Test hook, called between the source fence commit and the routing commit. */
  beforeRoutingCommit?: MigrationEnv['beforeRoutingCommit'];
}

type Planned =
  | { op: 'migrate'; plan: MigrationPlan; colocateWith?: string }
  | { op: 'rekey'; plan: RekeyPlan }
  | { op: 'replicate' | 'dereplicate'; plan: ReplicaPlan }
  | { op: 'index'; table: string; wholeTable: boolean; tables: ShardTable[]; columns: string[] }
  | { op: 'derived'; table: string; tables: ShardTable[]; name: string; expr: DerivedExpr }
  | { op: 'precompute'; table: string; tables: ShardTable[]; spec: PrecomputeSpec }
  | { op: 'resume' }
  | { reason: string };

const PARTITION_ACTIONS = new Set(['split', 'merge', 'rekey', 'composite_index', 'derived_attribute', 'precompute']);
/** Actions that copy key ranges, rows by their identity (migrate.ts). */
const RANGE_MIGRATIONS = new Set(['split', 'merge', 'move', 'colocate']);
const SHARD_ACTIONS = new Set(['move', 'colocate', 'replicate', 'dereplicate']);

export class PostgresShardAdapter implements StoreAdapter {
  readonly name = 'postgres';
  private readonly pools = new PgPools({ executor: true, max: 6 });
  private nodeCache: { at: number; urls: Map<string, { url: string; state: string }> } | null = null;

  private constructor(
    private readonly pgNodes: string[],
    private readonly opts: PostgresAdapterOptions,
  ) {}

  /** Connects to node 0 and makes sure the routing map exists. */
  static async open(cfg: { pgNodes: string[] }, opts: PostgresAdapterOptions = {}): Promise<PostgresShardAdapter> {
    const a = new PostgresShardAdapter(cfg.pgNodes, opts);
    await ensureRoutingSchema(a.coord, cfg.pgNodes);
    return a;
  }

  get coord() {
    return this.pools.get(this.pgNodes[0]!);
  }

  private async nodes(): Promise<Map<string, { url: string; state: string }>> {
    if (!this.nodeCache || Date.now() - this.nodeCache.at > 2_000) {
      const list = await listNodes(this.coord);
      this.nodeCache = { at: Date.now(), urls: new Map(list.map((n) => [n.node, { url: n.url, state: n.state }])) };
    }
    return this.nodeCache.urls;
  }

  private readonly urlOf = async (node: string): Promise<string> => {
    let n = (await this.nodes()).get(node);
    if (!n) {
      this.nodeCache = null;
      n = (await this.nodes()).get(node);
    }
    if (!n) throw new InputError(`unknown node ${node}: not in the routing map's node table`);
    return n.url;
  };

  /** The pool of a node by its name. */
  private readonly db: NodeDb = async (node) => this.pools.get(await this.urlOf(node));

  /** Null when the node answers a trivial query, else why not: nothing is started on a node that is down. */
  /**
   * Why `node` cannot take a command: it does not answer. A command that already owns its shard
   * (resumed after a node went down under it) waits for the node instead: retriable, not refused.
   */
  private async silent(node: string, owned = false): Promise<string | null> {
    try {
      await this.pools.get(await this.urlOf(node)).query('SELECT 1');
      return null;
    } catch (err) {
      const why = `node ${node} does not answer (${(err as Error).message})`;
      if (owned) throw new UnavailableError(why, { cause: err });
      return why;
    }
  }

  private env(): MigrationEnv {
    return {
      pools: this.pools,
      coord: this.coord,
      urlOf: this.urlOf,
      afterBatch: this.opts.afterBatch,
      beforeRoutingCommit: this.opts.beforeRoutingCommit,
      afterSwitch: (table, shards) => reapplyDesigns({ pools: this.pools, coord: this.coord, urlOf: this.urlOf }, table, shards),
    };
  }

  handles(cmd: AnyCommand): boolean {
    if (cmd.storeKind !== 'postgres') return false;
    if (cmd.kind === 'partition') return PARTITION_ACTIONS.has(cmd.action);
    if (cmd.kind === 'shard') return SHARD_ACTIONS.has(cmd.action);
    return false;
  }

  async validate(cmd: AnyCommand): Promise<string | null> {
    const p = await this.plan(cmd);
    return 'reason' in p ? p.reason : null;
  }

  async execute(cmd: AnyCommand, ctx: ExecutionContext): Promise<Outcome> {
    const onResume = cmd.params.onResume === 'rollback' ? 'rollback' : 'finish';
    const saved = planFromState(ctx.resumeFrom);
    if (saved && saved.commandId === cmd.commandId) {
      const m = saved.kind === 'rekey' ? new RekeyMigration(this.env(), saved, ctx) : new RangeMigration(this.env(), saved, ctx);
      return m.run(ctx.resumeFrom, onResume);
    }
    const p = await this.plan(cmd, true);
    if ('reason' in p) return { status: 'FAILED', reason: `no longer valid: ${p.reason}` };
    switch (p.op) {
      case 'migrate': {
        const out = await new RangeMigration(this.env(), p.plan, ctx).run(null);
        return p.colocateWith !== undefined && out.status === 'SUCCEEDED' ? checkColocated(this.coord, p.plan, p.colocateWith, out) : out;
      }
      case 'rekey':
        return new RekeyMigration(this.env(), p.plan, ctx).run(null);
      case 'replicate':
        return replicate({ pools: this.pools, coord: this.coord, urlOf: this.urlOf }, p.plan, ctx);
      case 'dereplicate':
        return dereplicate({ pools: this.pools, coord: this.coord, urlOf: this.urlOf }, p.plan);
      case 'index':
        return compositeIndex({ pools: this.pools, coord: this.coord, urlOf: this.urlOf }, p, ctx);
      case 'derived':
        return derivedAttribute({ pools: this.pools, coord: this.coord, urlOf: this.urlOf }, p.table, p.tables, p.name, p.expr, ctx);
      case 'precompute':
        return precompute({ pools: this.pools, coord: this.coord, urlOf: this.urlOf }, p.table, p.tables, p.spec, ctx);
      case 'resume':
        return { status: 'FAILED', reason: 'an earlier run of this command left no checkpoint to resume from' };
    }
  }

  /** Validates `cmd` against the routing map and plans its execution. */
  private async plan(cmd: AnyCommand, forExecution = false): Promise<Planned> {
    const reject = (reason: string): Planned => ({ reason });
    if (!this.handles(cmd)) return reject(`the postgres executor does not carry out ${cmd.kind}/${cmd.action}`);
    if (cmd.kind === 'resource') return reject('not a table command');
    const table = cmd.table;
    if (!isPlainIdentifier(table)) return reject(`table ${JSON.stringify(table)} is not a plain identifier`);
    if (cmd.partition !== null && !isPlainIdentifier(cmd.partition))
      return reject(`partition ${JSON.stringify(cmd.partition)} is not a plain identifier`);
    const routes = await loadRoutes(this.coord, table);
    if (!routes) return reject(`unknown table ${table}`);
    const params = cmd.params;
    // A command that already owns shards is an interrupted run of itself: let it resume.
    if (routes.shards.some((s) => s.owner === cmd.commandId) && !forExecution) return { op: 'resume' };

    const shardOf = (name: string | null | undefined): ShardRoute | string => {
      if (name === null || name === undefined) return 'the command names no partition (shard)';
      if (!isPlainIdentifier(name)) return `shard ${JSON.stringify(name)} is not a plain identifier`;
      const s = routes.shards.find((x) => x.shard === name);
      if (!s) return `unknown shard ${name} of ${table}`;
      if (s.owner !== null && s.owner !== cmd.commandId) return `shard ${name} is busy with command ${s.owner}`;
      if (s.state !== 'active' && s.owner !== cmd.commandId) return `shard ${name} is ${s.state}`;
      return s;
    };
    this.nodeCache = null; // validation reads node states fresh
    const nodes = await this.nodes();
    const activeNode = (n: string | null): string | null => {
      if (n === null) return 'the command names no target node';
      const info = nodes.get(n);
      if (!info) return `unknown node ${JSON.stringify(n)}`;
      if (info.state !== 'active') return `node ${n} is ${info.state}`;
      return null;
    };
    const batch = msParam(params.batchRows, 'batchRows', this.opts.batchRows ?? 1000, 50_000);
    if (!batch.ok) return reject(batch.reason);
    if (batch.value < 100) return reject('batchRows must be at least 100');
    const grace = msParam(params.graceMs, 'graceMs', this.opts.defaultGraceMs ?? 2_000, 600_000);
    if (!grace.ok) return reject(grace.reason);

    let rowKey = routes.keyColumn;
    if (RANGE_MIGRATIONS.has(cmd.action)) {
      const id = await rowIdentity(this.db, routes);
      if (typeof id !== 'string') return reject(id.reason);
      rowKey = id;
    }
    switch (cmd.action) {
      case 'split': {
        const s = shardOf(cmd.partition);
        if (typeof s === 'string') return reject(s);
        if (s.replicas.length > 0) return reject(`shard ${s.shard} has replicas (${s.replicas.join(', ')}); dereplicate first`);
        const at = checkSplitPoint(params.splitAt, s.lo, s.hi, routes.keyHash);
        if (!at.ok) return reject(at.reason);
        const newShard = params.newShard ?? nextShardName(routes);
        if (!isPlainIdentifier(newShard)) return reject(`newShard ${JSON.stringify(newShard)} is not a plain identifier`);
        if (routes.shards.some((x) => x.shard === newShard)) return reject(`shard ${newShard} exists already`);
        let phys: string;
        try {
          phys = physicalName(table, newShard);
        } catch (e) {
          return reject((e as Error).message);
        }
        return {
          op: 'migrate',
          plan: rangeMigrationPlan(
            cmd.commandId,
            'split',
            routes,
            s,
            { shard: newShard, node: s.node, physical: phys, lo: at.value, hi: s.hi },
            grace.value,
            batch.value,
            rowKey,
          ),
        };
      }
      case 'merge': {
        const a = shardOf(cmd.partition);
        if (typeof a === 'string') return reject(a);
        const b = shardOf(params.with);
        if (typeof b === 'string') return reject(`with: ${b}`);
        const m = checkMerge(a, b);
        if (!m.ok) return reject(m.reason);
        if (a.replicas.length > 0 || b.replicas.length > 0) return reject('a shard to merge has replicas; dereplicate first');
        // b's rows move into a's table; a keeps its name and widens its range.
        const plan = rangeMigrationPlan(
          cmd.commandId,
          'merge',
          routes,
          b,
          { shard: a.shard, node: a.node, physical: physicalName(table, a.shard), lo: b.lo, hi: b.hi },
          grace.value,
          batch.value,
          rowKey,
        );
        return { op: 'migrate', plan: { ...plan, createTarget: false, targetLo: a.lo, targetHi: a.hi } };
      }
      case 'move':
      case 'colocate': {
        const s = shardOf(cmd.partition);
        if (typeof s === 'string') return reject(s);
        const target = cmd.kind === 'shard' ? cmd.targetNode : null;
        const bad = activeNode(target) ?? (await this.silent(target!, s.owner === cmd.commandId));
        if (bad) return reject(bad);
        if (target === s.node) return reject(`shard ${s.shard} is already on ${target}`);
        // colocate: the shard it joins must still be where the planner saw it
        const anchorName = cmd.action === 'colocate' ? params.with : undefined;
        if (anchorName !== undefined) {
          const a = routes.shards.find((x) => x.shard === anchorName);
          if (!a) return reject(`with: unknown shard ${anchorName} of ${table}`);
          if (a.shard === s.shard) return reject('a shard cannot be co-located with itself');
          if (a.node !== target) return reject(`stale command: shard ${a.shard} is on ${a.node}, not ${target}`);
        }
        if (cmd.kind === 'shard' && cmd.sourceNode !== null && cmd.sourceNode !== s.node) {
          return reject(`stale command: shard ${s.shard} is on ${s.node}, not ${cmd.sourceNode}`);
        }
        if (s.replicas.length > 0) return reject(`shard ${s.shard} has replicas (${s.replicas.join(', ')}); dereplicate first`);
        return {
          op: 'migrate',
          plan: rangeMigrationPlan(
            cmd.commandId,
            'move',
            routes,
            s,
            { shard: s.shard, node: target!, physical: physicalName(table, s.shard), lo: s.lo, hi: s.hi },
            grace.value,
            batch.value,
            rowKey,
          ),
          ...(cmd.action === 'colocate' ? { colocateWith: anchorName ?? s.shard } : {}),
        };
      }
      case 'replicate':
      case 'dereplicate': {
        const s = shardOf(cmd.partition);
        if (typeof s === 'string') return reject(s);
        const target = cmd.kind === 'shard' ? cmd.targetNode : null;
        const bad = activeNode(target) ?? (cmd.action === 'replicate' ? await this.silent(target!, s.owner === cmd.commandId) : null);
        if (bad) return reject(bad);
        if (target === s.node) return reject(`${target} is the primary node of shard ${s.shard}`);
        const has = s.replicas.includes(target!);
        if (cmd.action === 'replicate' && has) return reject(`shard ${s.shard} already has a replica on ${target}`);
        if (cmd.action === 'dereplicate' && !has) return reject(`shard ${s.shard} has no replica on ${target}`);
        const timeout = msParam(params.timeoutMs, 'timeoutMs', this.opts.replicationTimeoutMs ?? 120_000, 3_600_000);
        if (!timeout.ok) return reject(timeout.reason);
        return {
          op: cmd.action,
          plan: {
            commandId: cmd.commandId,
            table,
            shard: s.shard,
            keyColumn: routes.keyColumn,
            keyHash: routes.keyHash,
            physical: physicalName(table, s.shard),
            primaryNode: s.node,
            replicaNode: target!,
            timeoutMs: timeout.value,
          },
        };
      }
      case 'rekey':
        return planRekey(this.db, cmd.commandId, routes, params.keyColumns, cmd.partition, grace.value, batch.value, {
          keyHash: params.keyHash === 'true',
        });
      case 'composite_index':
      case 'derived_attribute':
      case 'precompute': {
        if (cmd.partition !== null) {
          const s = shardOf(cmd.partition);
          if (typeof s === 'string') return reject(s);
        }
        const tables = await shardTables(this.coord, table, cmd.partition);
        if (tables.length === 0) return reject(`table ${table} has no shards`);
        const first = tables[0]!;
        const cols = await columnTypes(this.pools.get(await this.urlOf(first.node)), first.physical);
        if (cols.size === 0) return reject(`shard table ${first.physical} is missing on ${first.node}`);
        if (cmd.action === 'composite_index') {
          const c = checkColumnList(params.columns, cols);
          if (!c.ok) return reject(c.reason);
          return { op: 'index', table, wholeTable: cmd.partition === null, tables, columns: c.value };
        }
        if (cmd.action === 'derived_attribute') {
          const name = params.name;
          if (!isPlainIdentifier(name)) return reject(`name ${JSON.stringify(name ?? null)} is not a plain identifier`);
          if (cols.has(name)) return reject(`column ${name} exists already`);
          const e = parseDerivedExpression(params.expression, cols);
          if (!e.ok) return reject(e.reason);
          return { op: 'derived', table, tables, name, expr: e.value };
        }
        const spec = checkPrecompute(params, cols);
        if (!spec.ok) return reject(spec.reason);
        return { op: 'precompute', table, tables, spec: spec.value };
      }
      default:
        return reject(`the postgres executor does not carry out ${cmd.action}`);
    }
  }

  async close(): Promise<void> {
    await this.pools.end();
  }
}

/** The name a split's new shard gets when the command names none (schemas/shardNames.ts). */
export function nextShardName(routes: { shards: { shard: string }[] }): string {
  return firstFreeShardName(new Set(routes.shards.map((s) => s.shard)));
}
