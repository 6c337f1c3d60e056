/**
 * `stackDown` stops exactly what we started and `stackUp` recovers from what is left behind
 * (a stale pid file, a port taken by someone else). Named zz- so it runs after the other
 * integration tests (the runner takes files in order, --test-concurrency=1); it leaves the
 * stack UP again at the end.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { loadConfig } from '../../lib/config.js';
import { isAlive, pidFilePath, portTaken, writePidFile } from '../../infra/process.js';
import { stackDown, stackServices, stackStatus, stackUp } from '../../infra/stack.js';

const cfg = loadConfig();
const log = (line: string) => process.stderr.write(`  [stack] ${line}\n`);
const local = stackServices(cfg).filter((s) => !s.isExternal(cfg));

after(async () => {
  // Whatever happened above, leave the stack up for whoever comes next.
  await stackUp(cfg, { log });
});

test('down stops every process we started, and up brings the stack back', {
  timeout: 20 * 60_000,
}, async (t) => {
  if (local.length === 0) {
    // every service is external: down has nothing of ours to stop and must leave them alone
    await stackDown(cfg, { log });
    for (const r of await stackStatus(cfg)) assert.equal(r.state, 'external', `${r.name}: ${r.state}`);
    return;
  }
  await stackUp(cfg, { log });
  const pids = (await stackStatus(cfg)).flatMap((r) => (r.pid ? [{ name: r.name, pid: r.pid }] : []));
  assert.equal(pids.length, local.length, 'every local service should have a pid of ours');

  await t.test('after down: nothing of ours runs, status says down, ports are free', async () => {
    await stackDown(cfg, { log });
    for (const { name, pid } of pids) {
      assert.equal(await isAlive(pid), false, `${name} pid ${pid} is still alive`);
      assert.equal(existsSync(pidFilePath(cfg.stackDir, name)), false, `${name} pid file left behind`);
    }
    for (const r of await stackStatus(cfg)) {
      if (r.state === 'external') continue;
      assert.equal(r.state, 'down', `${r.name}: ${r.state} ${r.note ?? ''}`);
      assert.equal(r.pid, undefined);
    }
    for (const s of local)
      for (const port of s.ports(cfg)) assert.equal(await portTaken(port), false, `${s.name}: port ${port} still taken`);
  });

  await t.test('a pid file whose process is gone shows as stale', async () => {
    const victim = local[0]!;
    const gone = spawnSync('true').pid!;
    await writePidFile(pidFilePath(cfg.stackDir, victim.name), gone, 'true');
    const row = (await stackStatus(cfg)).find((r) => r.name === victim.name)!;
    assert.equal(row.state, 'stale');
  });

  await t.test('a port taken by another process fails that service with a clear error; the others come up', async () => {
    const victim = local.find((s) => s.name === 'kafka') ?? local[0]!;
    const port = victim.ports(cfg)[0]!;
    // A server that accepts and hangs up at once (so health checks fail fast and close() is prompt).
    const squatter = net.createServer((sock) => sock.destroy());
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    try {
      await assert.rejects(stackUp(cfg, { log }), (err: Error) => {
        assert.match(err.message, new RegExp(`^${victim.name}: port ${port} on 127\\.0\\.0\\.1 is taken by process ${process.pid}\\b`));
        assert.match(err.message, /log: .*\.log/);
        return true;
      });
      for (const r of await stackStatus(cfg)) {
        if (r.state === 'external') continue;
        if (r.name === victim.name) assert.equal(r.pid, undefined);
        else assert.equal(r.state, 'up', `${r.name}: ${r.state} ${r.note ?? ''}`);
      }
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
  });

  await t.test('up again: every service up', async () => {
    await stackUp(cfg, { log });
    for (const r of await stackStatus(cfg)) assert.ok(r.state === 'up' || r.state === 'external', `${r.name}: ${r.state} ${r.note ?? ''}`);
  });
});
