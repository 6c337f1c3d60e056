/**
 * One store at a time across every executor instance: a PostgreSQL session advisory lock per
 * store, on the database that holds the ledger. Several `run execute` instances share the
 * command partitions of their consumer group, so one store's commands can reach two of them
 * (different topics, or a partition handed over while its old owner still works on a batch);
 * whoever holds the store's lock is the only one changing that store.
 *
 * A session lock, not a lease row with an expiry: it goes away exactly when its holder's
 * connection does (a SIGKILLed executor's socket is closed by its kernel at once; a dead host is
 * found by the server's TCP keepalive, set short on this session), and a frozen holder keeps it,
 * so nobody resumes a command that the frozen process may still be carrying on. Each store has
 * its own connection: a session lock belongs to the connection that took it.
 */
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { UnavailableError } from '../lib/errors.js';

/** The advisory lock namespace of store locks (first key of the two-key form). */
const NAMESPACE = 'shardcast.execute.store';

export interface StoreLockOptions {
  /** Names this executor to the others (`application_name` of its lock sessions). */
  holder: string;
  /** How often a waiter tries again (default 250 ms). */
  pollMs?: number;
  /** Called once when waiting for a store has lasted `slowWaitMs`, with who holds it. */
  onSlowWait?: (store: string, heldBy: string | null) => void;
  slowWaitMs?: number;
  /** Called when a held lock's session is lost: the store is no longer this executor's. */
  onLost?: (store: string, err: Error) => void;
}

interface Session {
  client: pg.Client;
  held: boolean;
  lost: boolean;
}

export class StoreLocks {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly connectionString: string,
    private readonly opts: StoreLockOptions,
  ) {}

  private async session(store: string): Promise<Session> {
    const open = this.sessions.get(store);
    if (open && !open.lost) return open;
    const client = new pg.Client({
      connectionString: this.connectionString,
      application_name: this.opts.holder.slice(0, 63),
      keepAlive: true,
    });
    const s: Session = { client, held: false, lost: false };
    client.on('error', (err) => {
      const wasHeld = s.held;
      s.lost = true;
      s.held = false;
      if (wasHeld) this.opts.onLost?.(store, err);
    });
    client.on('end', () => {
      if (s.lost) return;
      s.lost = true;
      if (s.held) {
        s.held = false;
        this.opts.onLost?.(store, new Error('lock session ended'));
      }
    });
    try {
      await client.connect();
      // a holder whose host is gone is found within about 25 s, not the system default of hours
      await client.query('SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3');
    } catch (err) {
      s.lost = true;
      await client.end().catch(() => undefined);
      throw new UnavailableError(`store lock for ${store}: ledger database unreachable: ${(err as Error).message}`, { cause: err });
    }
    this.sessions.set(store, s);
    return s;
  }

  /** Waits until this executor holds `store` (or `signal` aborts). */
  async acquire(store: string, signal?: AbortSignal): Promise<void> {
    const started = Date.now();
    let told = false;
    for (;;) {
      signal?.throwIfAborted();
      const s = await this.session(store);
      let got: boolean;
      try {
        const { rows } = await s.client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS ok', [
          NAMESPACE,
          store,
        ]);
        got = rows[0]!.ok;
      } catch (err) {
        throw new UnavailableError(`store lock for ${store}: ${(err as Error).message}`, { cause: err });
      }
      if (got) {
        s.held = true;
        return;
      }
      if (!told && Date.now() - started >= (this.opts.slowWaitMs ?? 30_000)) {
        told = true;
        this.opts.onSlowWait?.(store, await this.holderOf(store).catch(() => null));
      }
      await sleep(this.opts.pollMs ?? 250, undefined, signal ? { signal } : undefined);
    }
  }

  /** Gives `store` up; a lost session has given it up already. */
  async release(store: string): Promise<void> {
    const s = this.sessions.get(store);
    if (!s?.held) return;
    s.held = false;
    await s.client.query('SELECT pg_advisory_unlock(hashtext($1), hashtext($2))', [NAMESPACE, store]).catch(async () => {
      // the session is broken: closing it releases the lock on the server
      s.lost = true;
      await s.client.end().catch(() => undefined);
    });
  }

  /** Whether this executor holds `store` now. */
  holds(store: string): boolean {
    const s = this.sessions.get(store);
    return s?.held === true && !s.lost;
  }

  /** Who holds `store`'s lock (their `application_name`), or null when nobody does. */
  async holderOf(store: string): Promise<string | null> {
    const s = await this.session(store);
    const { rows } = await s.client.query<{ holder: string }>(
      `SELECT a.application_name AS holder FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND l.granted AND l.classid::int = hashtext($1) AND l.objid::int = hashtext($2) LIMIT 1`,
      [NAMESPACE, store],
    );
    return rows[0]?.holder ?? null;
  }

  async close(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) {
      s.lost = true;
      await s.client.end().catch(() => undefined);
    }
  }
}
