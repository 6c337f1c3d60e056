/**
 * Every `pg` pool of the product is made here: a pool re-emits an idle client's socket error
 * (its server restarted or was killed) as an 'error' event, which crashes the process when no
 * one listens. The next query on the pool gets a fresh connection and its own error.
 */
import pg from 'pg';

export function newPgPool(config: pg.PoolConfig): pg.Pool {
  const pool = new pg.Pool(config);
  pool.on('error', () => {});
  return pool;
}
