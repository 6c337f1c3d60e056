/**
 * PostgreSQL TLS from configuration, against a throwaway PostgreSQL 15 started by this test
 * through the stack's own node launcher (own port and temp dir), then switched to TLS only with
 * a password (hostssl + scram-sha-256, plain connections rejected) and stopped by its pid. The
 * product's pools connect with PG_SSL_MODE=verify-full and the test's CA; without TLS, with a
 * foreign CA or a wrong password they are refused, and no message shows the password.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { pidFilePath, readPidFile, stopPid } from '../../infra/process.js';
import { pgDataDir, postgresNode } from '../../infra/services/postgres.js';
import { loadConfig } from '../../lib/config.js';
import { PgPools } from '../../stores/postgres/nodes.js';
import { freePort, makeCertificates, secret } from './secureBroker.js';

let dir: string;
let port: number;
let ca: string;
let pid: number | undefined;
const password = secret('pg');
const node = postgresNode(0);

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'shardcast-pg-tls-'));
  await chmod(dir, 0o755); // the server runs as the postgres user when we are root
  port = await freePort();
  const cfg = loadConfig(
    {},
    { ...process.env, SHARDCAST_STACK_DIR: dir, SHARDCAST_PG_BASE_PORT: String(port), SHARDCAST_PG_NODE_COUNT: '1', PG_NODES: '' },
  );
  await node.start(cfg, () => undefined);
  pid = (await readPidFile(pidFilePath(dir, node.name)))?.pid;
  const certs = await makeCertificates(path.join(dir, 'pg'));
  ca = certs.ca;
  const data = pgDataDir(cfg, 0);
  const uid = process.getuid?.() === 0 ? (await import('node:fs')).statSync(data).uid : undefined;
  for (const f of [certs.cert, certs.key]) {
    await chmod(f, 0o600);
    if (uid !== undefined) await chown(f, uid, uid);
  }
  const admin = new PgPools({ executor: false, max: 1 });
  try {
    const db = admin.get(cfg.pgNodes[0]!);
    await db.query(`ALTER ROLE shardcast PASSWORD '${password}'`);
    await db.query(`ALTER SYSTEM SET ssl_cert_file = '${certs.cert}'`);
    await db.query(`ALTER SYSTEM SET ssl_key_file = '${certs.key}'`);
    await db.query('ALTER SYSTEM SET ssl = on');
    await writeFile(
      path.join(data, 'pg_hba.conf'),
      ['hostssl all all 127.0.0.1/32 scram-sha-256', 'hostnossl all all 127.0.0.1/32 reject', ''].join('\n'),
    );
    await db.query('SELECT pg_reload_conf()');
  } finally {
    await admin.end();
  }
});

after(async () => {
  if (pid) await stopPid(pid, { signals: ['SIGINT', 'SIGQUIT', 'SIGKILL'], timeoutMs: 20_000 });
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The first query's answer through the product's pool, or the error's full text. */
async function connectWith(env: NodeJS.ProcessEnv, pgPassword: string): Promise<{ ssl?: boolean; error?: string }> {
  const cfg = loadConfig({}, { PG_NODES: `postgres://shardcast@127.0.0.1:${port}/shardcast`, ...env });
  const saved = process.env.PGPASSWORD;
  process.env.PGPASSWORD = pgPassword; // node-postgres reads it per connection
  const pools = new PgPools({ executor: false, max: 1 });
  try {
    const r = await pools.get(cfg.pgNodes[0]!).query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    return { ssl: r.rows[0]?.ssl as boolean };
  } catch (err) {
    return { error: `${(err as Error).message}\n${inspect(err)}` };
  } finally {
    await pools.end();
    if (saved === undefined) delete process.env.PGPASSWORD;
    else process.env.PGPASSWORD = saved;
  }
}

test('PG_SSL_MODE=verify-full with the CA connects over TLS; no TLS, a foreign CA or a wrong password are refused', {
  timeout: 120_000,
}, async () => {
  assert.deepEqual(await connectWith({ PG_SSL_MODE: 'verify-full', PG_SSL_CA: ca }, password), { ssl: true });
  assert.deepEqual(await connectWith({ PG_SSL_MODE: 'require' }, password), { ssl: true });

  const plain = await connectWith({}, password);
  assert.match(plain.error ?? '', /no encryption|pg_hba\.conf rejects/);
  const foreign = (await makeCertificates(path.join(dir, 'other'))).ca;
  const untrusted = await connectWith({ PG_SSL_MODE: 'verify-full', PG_SSL_CA: foreign }, password);
  assert.match(untrusted.error ?? '', /self[- ]signed|unable to verify|certificate/i);
  const wrong = secret('wrong');
  const refused = await connectWith({ PG_SSL_MODE: 'verify-full', PG_SSL_CA: ca }, wrong);
  assert.match(refused.error ?? '', /password authentication failed/);
  for (const r of [plain, untrusted, refused]) {
    for (const s of [password, wrong]) assert.ok(!r.error?.includes(s), `a password in: ${r.error?.slice(0, 300)}`);
  }
});
