/**
 * Every `pg` pool of the product is made here: a pool re-emits an idle client's socket error
 * (its server restarted or was killed) as an 'error' event, which crashes the process when no
 * one listens. The next query on the pool gets a fresh connection and its own error.
 * (Found by the fault suite: a node killed mid-split crashed the executor through a held client.)
 */
import pg from 'pg';

export function newPgPool(config: pg.PoolConfig): pg.Pool {
  const pool = new pg.Pool(config);
  pool.on('error', () => {});
  // A checked-out client (a migration holds three across its switch) has no pool listener: its
  // socket error, its node killed between two queries, would crash the process. Its next query fails instead.
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}
