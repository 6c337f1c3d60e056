import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { newPgPool } from '../../stores/postgres/pool.js';

test("an idle client's socket error, re-emitted by the pool, does not throw (a bare pg.Pool would crash the process)", async () => {
  const idleClientLost = Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
  const bare = new pg.Pool({ connectionString: 'postgres://x@127.0.0.1:1/x' });
  assert.throws(() => bare.emit('error', idleClientLost), /Connection terminated/);
  const pool = newPgPool({ connectionString: 'postgres://x@127.0.0.1:1/x' });
  assert.doesNotThrow(() => pool.emit('error', idleClientLost));
  await Promise.all([bare.end(), pool.end()]);
});

test("a checked-out client's socket error does not throw either (the pool's listener does not cover it)", async () => {
  const lost = Object.assign(new Error('terminating connection due to unexpected postmaster exit'), { code: '57P01' });
  const bare = new pg.Client({ connectionString: 'postgres://x@127.0.0.1:1/x' });
  assert.throws(() => bare.emit('error', lost), /postmaster exit/);
  const pool = newPgPool({ connectionString: 'postgres://x@127.0.0.1:1/x' });
  const client = new pg.Client({ connectionString: 'postgres://x@127.0.0.1:1/x' });
  pool.emit('connect', client);
  assert.doesNotThrow(() => client.emit('error', lost));
  await pool.end();
});
