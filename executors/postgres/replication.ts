/**
 * Read replicas of a shard through PostgreSQL logical replication: a publication for the shard
 * table on its primary node, a subscription on the replica node (initial copy + streaming).
 * The replica table carries the shard guard in state 'replica', so clients cannot write to it
 * (the apply worker runs with session_replication_role = replica and is not affected).
 * The routing map lists replicas once they are synced and verified.
 */
import pg from 'pg';
import { quoteIdent } from '../../stores/identifiers.js';
import { isRetriable, StateError, UnavailableError } from '../../lib/errors.js';
import { stopRequestedError, type ExecutionContext, type Outcome } from '../types.js';
import { describeTable, rangeChecksum, renderCreate, tableExists } from './ddl.js';
import { shardObjectName } from '../../stores/postgres/keys.js';
import { ensureNodeSupport, registerLocalShard } from '../../stores/postgres/setup.js';
import { switchRouting } from '../../stores/postgres/routing.js';
import { q, sleep, type PgPools } from '../../stores/postgres/nodes.js';

export interface ReplicaPlan {
  commandId: string;
  table: string;
  shard: string;
  keyColumn: string;
  /** The table's ranges cut the key's hash (the replica's guard entry says so, as its primary's does). */
  keyHash?: boolean;
  physical: string;
  primaryNode: string;
  replicaNode: string;
  timeoutMs: number;
}

export interface ReplicationEnv {
  pools: PgPools;
  coord: pg.Pool;
  urlOf(node: string): Promise<string>;
}

const shortName = (name: string) => (name.length <= 63 ? name : shardObjectName(name, 'r'));
export const publicationName = (physical: string) => shortName(`sc_pub_${physical}`);
export const subscriptionName = (physical: string, node: string) => shortName(`sc_sub_${physical}_${node}`);

/** A libpq connection string literal for CREATE SUBSCRIPTION (the URL comes from the node table). */
function connLiteral(url: string): string {
  const u = new URL(url);
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:')
    throw new StateError(`node URL ${u.protocol}//${u.host} in the node table is not a postgres:// URL; fix the node's entry`);
  return pg.Client.prototype.escapeLiteral(url);
}

export async function replicate(env: ReplicationEnv, p: ReplicaPlan, ctx: ExecutionContext): Promise<Outcome> {
  const started = Date.now();
  const src = env.pools.get(await env.urlOf(p.primaryNode));
  const tgt = env.pools.get(await env.urlOf(p.replicaNode));
  const pub = publicationName(p.physical);
  const sub = subscriptionName(p.physical, p.replicaNode);
  const T = `public.${quoteIdent(p.physical)}`;
  let pauseMs = 0;
  try {
    await claim(env.coord, p, 'replicating');
    await ensureNodeSupport(tgt);
    const hasPub = await q(src, 'SELECT 1 FROM pg_publication WHERE pubname = $1', [pub]);
    if (hasPub.length === 0) await q(src, `CREATE PUBLICATION ${quoteIdent(pub)} FOR TABLE ${T}`);
    const hasSub = await q(tgt, 'SELECT 1 FROM pg_subscription WHERE subname = $1', [sub]);
    if (hasSub.length === 0) {
      // Fresh start (or a leftover of a crashed attempt without its subscription).
      if (await tableExists(tgt, p.physical)) await q(tgt, `DROP TABLE ${T} CASCADE`);
      const desc = await describeTable(src, p.physical);
      for (const stmt of renderCreate(desc, p.physical, p.physical)) await q(tgt, stmt);
      await registerLocalShard(tgt, {
        physical: p.physical,
        table: p.table,
        shard: p.shard,
        keyColumn: p.keyColumn,
        keyHash: p.keyHash ?? false,
        lo: null,
        hi: null,
        state: 'replica',
      });
      await q(
        tgt,
        `CREATE SUBSCRIPTION ${quoteIdent(sub)} CONNECTION ${connLiteral(await env.urlOf(p.primaryNode))} PUBLICATION ${quoteIdent(pub)} WITH (copy_data = true)`,
      );
    }
    await ctx.checkpoint({ phase: 'subscribed', subscription: sub });
    // Wait for the initial copy to finish (every relation of the subscription 'r'eady).
    const deadline = Date.now() + p.timeoutMs;
    for (;;) {
      if (ctx.signal.aborted) throw stopRequestedError();
      const st = await q<{ n: string; ready: string }>(
        tgt,
        `SELECT count(*) AS n, count(*) FILTER (WHERE r.srsubstate = 'r') AS ready FROM pg_subscription_rel r
         JOIN pg_subscription s ON s.oid = r.srsubid WHERE s.subname = $1`,
        [sub],
      );
      if (Number(st[0]!.n) > 0 && st[0]!.n === st[0]!.ready) break;
      if (Date.now() > deadline)
        throw new UnavailableError(
          `replica not synced within ${p.timeoutMs} ms; retry with a longer timeoutMs or when the primary is less busy`,
        );
      const copied = await q<{ n: string }>(tgt, `SELECT count(*) AS n FROM ${T}`);
      await ctx.report({ status: 'RUNNING', progress: 0.5, rowsCopied: Number(copied[0]!.n), details: { phase: 'initial copy' } });
      await sleep(200);
    }
    // Verify: hold writes at the primary for a moment, wait until the replica shows the same
    // count and checksum.
    const S = await src.connect();
    let verified = false;
    let rows = 0;
    try {
      await S.query('BEGIN');
      await S.query(`SET LOCAL lock_timeout = '5s'`);
      await S.query(`LOCK TABLE ${T} IN EXCLUSIVE MODE`);
      const t0 = Date.now();
      const a = await rangeChecksum(S, p.physical, p.keyColumn, null, null);
      rows = a.count;
      while (Date.now() - t0 < 15_000) {
        const b = await rangeChecksum(tgt, p.physical, p.keyColumn, null, null);
        if (a.count === b.count && a.checksum === b.checksum) {
          verified = true;
          break;
        }
        await sleep(50);
      }
      pauseMs = Date.now() - t0;
      await S.query('COMMIT');
    } catch (err) {
      await S.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      S.release();
    }
    if (!verified) throw new StateError('verification failed: the replica did not converge to the primary within 15 s');
    await switchRouting(env.coord, p.table, null, async (c) => {
      await c.query(
        `INSERT INTO shardcast_route.replicas (table_name, shard, node, state) VALUES ($1, $2, $3, 'active')
         ON CONFLICT (table_name, shard, node) DO UPDATE SET state = 'active', since = now()`,
        [p.table, p.shard, p.replicaNode],
      );
    });
    await release(env.coord, p);
    const ms = Date.now() - started;
    return {
      status: 'SUCCEEDED',
      rowsCopied: rows,
      verified: true,
      details: {
        replica: `${p.replicaNode}/${p.physical}`,
        subscription: sub,
        publication: pub,
        verifyPauseMs: String(pauseMs),
        durationMs: String(ms),
      },
    };
  } catch (err) {
    try {
      await dropReplica(env, p);
      await release(env.coord, p);
    } catch (rb) {
      // a node down for the rollback too: the command stays RUNNING and its retry starts again (every step is idempotent)
      if (isRetriable(rb))
        throw new UnavailableError(`${(err as Error).message}; rollback deferred: ${(rb as Error).message}`, { cause: rb });
      return { status: 'FAILED', reason: `${(err as Error).message}; rollback failed: ${(rb as Error).message}` };
    }
    return { status: 'ROLLED_BACK', reason: (err as Error).message, verified: null };
  }
}

export async function dereplicate(env: ReplicationEnv, p: ReplicaPlan): Promise<Outcome> {
  // Readers first: once the routing map no longer lists the replica, drop it.
  await switchRouting(env.coord, p.table, null, async (c) => {
    await c.query('DELETE FROM shardcast_route.replicas WHERE table_name = $1 AND shard = $2 AND node = $3', [
      p.table,
      p.shard,
      p.replicaNode,
    ]);
  });
  await dropReplica(env, p);
  return { status: 'SUCCEEDED', verified: true, details: { dropped: `${p.replicaNode}/${p.physical}` } };
}

/** Drops the replica copy `p.replicaNode` holds (subscription, table, local entry) and the primary's publication once no replica is routed. */
export async function dropReplica(env: ReplicationEnv, p: Omit<ReplicaPlan, 'commandId' | 'keyColumn' | 'timeoutMs'>): Promise<void> {
  const src = env.pools.get(await env.urlOf(p.primaryNode));
  const tgt = env.pools.get(await env.urlOf(p.replicaNode));
  const sub = subscriptionName(p.physical, p.replicaNode);
  const hasSub = await q(tgt, 'SELECT 1 FROM pg_subscription WHERE subname = $1', [sub]);
  if (hasSub.length > 0) await q(tgt, `DROP SUBSCRIPTION ${quoteIdent(sub)}`);
  const local = await q<{ state: string }>(tgt, 'SELECT state FROM shardcast_local.shards WHERE physical = $1', [p.physical]).catch(
    () => [],
  );
  if (local[0]?.state === 'replica' || (local.length === 0 && (await tableExists(tgt, p.physical)) && p.replicaNode !== p.primaryNode)) {
    await q(tgt, `DROP TABLE IF EXISTS public.${quoteIdent(p.physical)} CASCADE`);
    await q(tgt, 'DELETE FROM shardcast_local.shards WHERE physical = $1', [p.physical]);
  }
  const others = await q(env.coord, 'SELECT 1 FROM shardcast_route.replicas WHERE table_name = $1 AND shard = $2 AND node <> $3', [
    p.table,
    p.shard,
    p.replicaNode,
  ]);
  if (others.length === 0) await q(src, `DROP PUBLICATION IF EXISTS ${quoteIdent(publicationName(p.physical))}`);
}

async function claim(coord: pg.Pool, p: ReplicaPlan, state: string): Promise<void> {
  const res = await coord.query(
    `UPDATE shardcast_route.ranges SET state = $4, owner = $3 WHERE table_name = $1 AND shard = $2
     AND ((state = 'active' AND owner IS NULL) OR owner = $3)`,
    [p.table, p.shard, p.commandId, state],
  );
  if (res.rowCount !== 1) throw new UnavailableError(`shard ${p.shard} is busy with another command; retry when it is finished`);
}

async function release(coord: pg.Pool, p: ReplicaPlan): Promise<void> {
  await coord.query(
    `UPDATE shardcast_route.ranges SET state = 'active', owner = NULL WHERE table_name = $1 AND shard = $2 AND owner = $3`,
    [p.table, p.shard, p.commandId],
  );
}
