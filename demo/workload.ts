/**
 * A small concurrent workload against a sharded `orders`-shaped table, through the routing
 * client, that remembers every write the database acknowledged. Used by the integration tests
 * (and usable by the demo) to prove that a migration under load loses and duplicates nothing:
 * afterwards the table must equal the state before plus the acknowledged writes.
 */
import { createHash } from 'node:crypto';
import { quoteIdent } from '../stores/identifiers.js';
import { inRange, physicalName } from '../stores/postgres/keys.js';
import { keySql } from '../stores/postgres/keySql.js';
import type pg from 'pg';
import { listNodes, loadRoutes, type TableRoutes } from '../stores/postgres/routing.js';
import { RoutedPool } from '../stores/postgres/routedPool.js';
import { PgPools, q, sleep } from '../stores/postgres/nodes.js';
import { StateError } from '../lib/errors.js';

export interface Row {
  id: string;
  customer_id: string | null;
  amount: string | null;
  payload: string | null;
}

/** The customer_id `seedRows` gives key k. */
export const seededCustomer = (k: string): string => String(BigInt(k) % 97n);

/** Fills `table` with keys [from, to): customer_id = k % 97, amount = (k % 1000) / 4, payload = 'p<k>'. */
export async function seedRows(cfg: { pgNodes: string[] }, table: string, from: number, to: number): Promise<void> {
  await withRoutes(cfg, table, async (routes, node) => {
    for (const s of routes.shards) {
      await q(
        node(s.node),
        `INSERT INTO public.${quoteIdent(physicalName(table, s.shard))} (id, customer_id, amount, payload, updated_at)
         SELECT g, g % 97, ((g % 1000) / 4.0)::numeric(12,2), 'p' || g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'
         FROM generate_series(greatest($1::bigint, coalesce($3::bigint, $1::bigint)), least($2::bigint - 1, coalesce($4::bigint - 1, $2::bigint - 1))) g`,
        [from, to, s.lo, s.hi],
      );
    }
  });
}

/** Runs `fn` with `table`'s routing map and a pool per node name, closed afterwards. */
async function withRoutes<T>(
  cfg: { pgNodes: string[] },
  table: string,
  fn: (routes: TableRoutes, node: (name: string) => pg.Pool) => Promise<T>,
): Promise<T> {
  const pools = new PgPools({ executor: false, max: 2 });
  try {
    const coord = pools.get(cfg.pgNodes[0]!);
    const routes = await loadRoutes(coord, table);
    if (!routes) throw new StateError(`unknown table ${table}`);
    const urls = new Map((await listNodes(coord)).map((n) => [n.node, n.url]));
    return await fn(routes, (name) => pools.get(urls.get(name)!));
  } finally {
    await pools.end();
  }
}

/**
 * Every row of `table`, read shard by shard through the routing map, with the keys that appear
 * in more than one shard table (duplicates) and rows lying outside their shard's range.
 */
export async function readAll(
  cfg: { pgNodes: string[] },
  table: string,
): Promise<{ rows: Map<string, Row>; duplicates: string[]; misplaced: number }> {
  return withRoutes(cfg, table, async (routes, node) => {
    const rows = new Map<string, Row>();
    const duplicates: string[] = [];
    let misplaced = 0;
    for (const s of routes.shards) {
      const got = await q<Row & { route_key: string }>(
        node(s.node),
        `SELECT id::text, customer_id::text, amount::text, payload, ${keySql(routes.keyColumn, routes.keyHash)}::text AS route_key
         FROM public.${quoteIdent(physicalName(table, s.shard))}`,
      );
      for (const { route_key, ...r } of got) {
        if (!inRange(route_key, s.lo, s.hi)) misplaced++;
        if (rows.has(r.id)) duplicates.push(r.id);
        rows.set(r.id, r);
      }
    }
    return { rows, duplicates, misplaced };
  });
}

/**
 * Each replica the routing map lists for `table`'s shards, compared with its primary by key:
 * rows it holds, keys of the primary it lacks (missing) and keys it holds beyond them or twice (extra).
 */
export async function readReplicas(
  cfg: { pgNodes: string[] },
  table: string,
): Promise<{ shard: string; node: string; rows: number; missing: number; extra: number }[]> {
  return withRoutes(cfg, table, async (routes, pool) => {
    const ids = async (node: string, shard: string) =>
      (await q<{ id: string }>(pool(node), `SELECT id::text FROM public.${quoteIdent(physicalName(table, shard))}`)).map((r) => r.id);
    const out = [];
    for (const s of routes.shards) {
      if (s.replicas.length === 0) continue;
      const primary = new Set(await ids(s.node, s.shard));
      for (const node of s.replicas) {
        const got = await ids(node, s.shard);
        const seen = new Set(got);
        const missing = [...primary].filter((id) => !seen.has(id)).length;
        out.push({ shard: s.shard, node, rows: got.length, missing, extra: got.length - (primary.size - missing) });
      }
    }
    return out;
  });
}

/** Order-independent checksum over rows (sha1 of each row's text, summed mod 2^64). */
export function rowsChecksum(rows: Iterable<Row>): string {
  let sum = 0n;
  for (const r of rows) {
    const h = createHash('sha1').update(`${r.id}|${r.customer_id}|${r.amount}|${r.payload}`).digest();
    sum = (sum + h.readBigUInt64BE(0)) & 0xffff_ffff_ffff_ffffn;
  }
  return sum.toString(16);
}

export interface LoadStats {
  writes: number;
  writeErrors: number;
  reads: number;
  readErrors: number;
  /** Longest single read, route refreshes and retries included (ms). */
  maxReadMs: number;
  /** Longest single write, waits on a switch lock included (ms). */
  maxWriteMs: number;
  /** Longest stretch between a failed read and the next successful one (ms). */
  maxReadOutageMs: number;
  routeRefreshes: number;
  /** Reads a replica answered (the reader accepts replication lag). */
  replicaReads: number;
  errors: string[];
}

/**
 * A writer (updates, inserts, deletes on keys in [lo, hi)) and a reader (point reads), each a
 * loop until `stop()`. `acked` holds the last acknowledged state of every key written (null =
 * deleted); `expected(before)` applies it to a snapshot taken before the load started. Each
 * statement is routed by the row's id and customer_id, so the load follows a rekey between them.
 */
export class AckedLoad {
  readonly acked = new Map<string, Row | null>();
  readonly stats: LoadStats = {
    writes: 0,
    writeErrors: 0,
    reads: 0,
    readErrors: 0,
    maxReadMs: 0,
    maxWriteMs: 0,
    maxReadOutageMs: 0,
    routeRefreshes: 0,
    replicaReads: 0,
    errors: [],
  };
  private readonly router: RoutedPool;
  private running = false;
  private loops: Promise<void>[] = [];
  private nextKey: bigint;
  private seq = 0;
  /** customer_id of the rows this load inserted (kept after a delete, for a later write's route). */
  private readonly inserted = new Map<string, string>();

  constructor(
    cfg: { pgNodes: string[] },
    private readonly table: string,
    private readonly opts: { lo: number; hi: number; newKeysFrom: number; newKeysTo: number; writers?: number; pauseMs?: number },
  ) {
    this.router = new RoutedPool(cfg.pgNodes, { ttlMs: 300 });
    this.nextKey = BigInt(opts.newKeysFrom);
  }

  start(): void {
    this.running = true;
    const w = this.opts.writers ?? 2;
    for (let i = 0; i < w; i++) this.loops.push(this.writer(i, w));
    this.loops.push(this.reader());
  }

  async stop(): Promise<LoadStats> {
    this.running = false;
    await Promise.all(this.loops);
    this.stats.routeRefreshes = this.router.refreshes;
    this.stats.replicaReads = this.router.served.replica;
    await this.router.close();
    return this.stats;
  }

  /** The row's routable column values (customer_id: as inserted, else as seeded; updates keep it). */
  private routeKey(id: string): { id: string; customer_id: string } {
    return { id, customer_id: this.acked.get(id)?.customer_id ?? this.inserted.get(id) ?? seededCustomer(id) };
  }

  private randomKey(): string {
    return String(this.opts.lo + Math.floor(Math.random() * (this.opts.hi - this.opts.lo)));
  }

  /** A random existing-range key owned by writer `i` of `w` (key ≡ i mod w), so that no two
   *  writers race on one key and the acknowledgement order is the commit order. */
  private ownKey(i: number, w: number): string {
    let k = this.opts.lo + Math.floor(Math.random() * (this.opts.hi - this.opts.lo));
    k = k - (((k % w) + w) % w) + i;
    if (k >= this.opts.hi) k -= w;
    if (k < this.opts.lo) k += w;
    return String(k);
  }

  private async writer(i: number, w: number): Promise<void> {
    while (this.running) {
      const r = Math.random();
      const n = ++this.seq;
      const t0 = Date.now();
      try {
        if (r < 0.6) {
          const id = this.ownKey(i, w);
          const amount = `${n % 5000}.${String(n % 100).padStart(2, '0')}`;
          const { rows } = await this.router.query<{ customer_id: string }>(
            this.table,
            this.routeKey(id),
            `UPDATE {t} SET amount = $2, payload = $3, updated_at = now() WHERE id = $1 RETURNING customer_id::text`,
            [id, amount, `w${n}`],
          );
          if (rows[0]) this.acked.set(id, { id, customer_id: rows[0].customer_id, amount, payload: `w${n}` });
        } else if (r < 0.85 && this.nextKey < BigInt(this.opts.newKeysTo)) {
          const id = String(this.nextKey++);
          const amount = `${n % 700}.50`;
          this.inserted.set(id, String(n % 97));
          await this.router.query(
            this.table,
            this.routeKey(id),
            `INSERT INTO {t} (id, customer_id, amount, payload, updated_at) VALUES ($1, $2, $3, $4, now())`,
            [id, String(n % 97), amount, `i${n}`],
          );
          this.acked.set(id, { id, customer_id: String(n % 97), amount, payload: `i${n}` });
        } else {
          const id = this.ownKey(i, w);
          await this.router.query(this.table, this.routeKey(id), `DELETE FROM {t} WHERE id = $1`, [id]);
          this.acked.set(id, null);
        }
        this.stats.writes++;
      } catch (err) {
        // Not acknowledged: the write either did not happen or its outcome is unknown; the
        // statement is a single autocommit statement that failed, so it did not happen.
        this.stats.writeErrors++;
        if (this.stats.errors.length < 10) this.stats.errors.push(`write: ${(err as Error).message}`);
      }
      this.stats.maxWriteMs = Math.max(this.stats.maxWriteMs, Date.now() - t0);
      if (this.opts.pauseMs) await sleep(this.opts.pauseMs);
    }
  }

  private async reader(): Promise<void> {
    let failingSince: number | null = null;
    while (this.running) {
      const id = this.randomKey();
      const t0 = Date.now();
      try {
        await this.router.query(this.table, this.routeKey(id), `SELECT id, amount, payload FROM {t} WHERE id = $1`, [id], {
          readOnly: true,
          allowStale: true,
        });
        this.stats.reads++;
        if (failingSince !== null) {
          this.stats.maxReadOutageMs = Math.max(this.stats.maxReadOutageMs, Date.now() - failingSince);
          failingSince = null;
        }
      } catch (err) {
        this.stats.readErrors++;
        failingSince ??= t0;
        if (this.stats.errors.length < 10) this.stats.errors.push(`read: ${(err as Error).message}`);
      }
      this.stats.maxReadMs = Math.max(this.stats.maxReadMs, Date.now() - t0);
      if (this.opts.pauseMs) await sleep(this.opts.pauseMs);
    }
  }

  /** The table state that must result: `before` with every acknowledged write applied. */
  expected(before: Map<string, Row>): Map<string, Row> {
    const out = new Map(before);
    for (const [id, row] of this.acked) {
      if (row === null) out.delete(id);
      else out.set(id, row);
    }
    return out;
  }
}

/** Differences between two table states (first few), for test messages. */
export function diffRows(expected: Map<string, Row>, actual: Map<string, Row>, limit = 5): string[] {
  const out: string[] = [];
  for (const [id, e] of expected) {
    const a = actual.get(id);
    if (!a) out.push(`missing ${id}`);
    else if (a.amount !== e.amount || a.payload !== e.payload || a.customer_id !== e.customer_id)
      out.push(`changed ${id}: want ${JSON.stringify(e)} got ${JSON.stringify(a)}`);
    if (out.length >= limit) return out;
  }
  for (const id of actual.keys()) {
    if (!expected.has(id)) out.push(`unexpected ${id}`);
    if (out.length >= limit) break;
  }
  return out;
}
