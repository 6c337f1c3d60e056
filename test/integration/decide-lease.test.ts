/**
 * One writer for single-writer stages (pipelines/lease.ts), on the real broker: three instances
 * of a leased stage run as child processes; exactly one runs the stage, the others stand by.
 * SIGKILL of the holder hands the lease to a standby within the session timeout; a holder frozen
 * with SIGSTOP past its session timeout loses the lease to a standby and, thawed, stops its stage.
 * Run as a child (LEASE_CHILD set), this file is one instance: its "stage" prints when it starts
 * and stops.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { openContext } from '../../pipelines/context.js';
import { startLeased } from '../../pipelines/lease.js';
import { cfg, uniq, launchChild, type ChildInstance } from './helpers.js';

const SESSION_MS = 6_000;

async function childMain(): Promise<void> {
  const ctx = await openContext('lease-test-child', cfg);
  const stage = await startLeased(ctx, { stage: 'decide', groupId: process.env.LEASE_GROUP!, sessionTimeoutMs: SESSION_MS }, async () => {
    process.stdout.write(`ACTIVE ${Date.now()}\n`);
    let end: () => void = () => undefined;
    const done = new Promise<void>((r) => (end = r));
    return {
      stats: { consumed: 0, produced: 0, handled: 0, deadLettered: 0, batches: 0 },
      groupId: process.env.LEASE_GROUP!,
      topics: [],
      source: undefined as never,
      done,
      async stop() {
        process.stdout.write(`STOPPED ${Date.now()}\n`);
        end();
      },
    };
  });
  process.stdout.write(`READY ${stage.holder}\n`);
  await new Promise<void>((r) => process.once('SIGTERM', r));
  await stage.stop();
  await ctx.close();
  process.exit(0);
}

type Instance = ChildInstance & { name: string };

function launch(name: string, group: string): Instance {
  return { name, ...launchChild(fileURLToPath(import.meta.url), { LEASE_CHILD: '1', LEASE_GROUP: group }) };
}

/** Whether the instance's stage runs now: its last ACTIVE/STOPPED line says. */
const running = (i: Instance) =>
  i.lines
    .filter((l) => /^(ACTIVE|STOPPED)/.test(l))
    .at(-1)
    ?.startsWith('ACTIVE') ?? false;
const activations = (i: Instance) => i.lines.filter((l) => l.startsWith('ACTIVE')).length;

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
  return Date.now() - t0;
}

if (process.env.LEASE_CHILD) {
  await childMain();
} else {
  test('one holder runs the stage; a killed or frozen holder is replaced within the session timeout', { timeout: 180_000 }, async () => {
    const group = uniq('lease-test');
    const all: Instance[] = [];
    const others = (i: Instance) => all.filter((x) => x !== i);
    try {
      const a = launch('a', group);
      all.push(a);
      await until('a to hold the lease', () => running(a), 60_000);
      const b = launch('b', group);
      const c = launch('c', group);
      all.push(b, c);
      await until('b and c to start', () => [b, c].every((i) => i.lines.some((l) => l.startsWith('READY'))), 60_000);
      await sleep(SESSION_MS); // their joins rebalanced the group: still one holder
      assert.deepEqual(all.map(running), [true, false, false], 'only the first instance runs the stage');

      a.child.kill('SIGKILL');
      const took = await until('a standby to take over from the killed holder', () => others(a).some(running), 3 * SESSION_MS + 10_000);
      const second = others(a).find(running)!;
      assert.equal(others(a).filter(running).length, 1, 'exactly one standby took over');
      process.stdout.write(`# takeover after SIGKILL: ${took} ms (session timeout ${SESSION_MS} ms)\n`);

      second.child.kill('SIGSTOP');
      const third = others(a).find((i) => i !== second)!;
      const froze = await until('the last standby to take over from the frozen holder', () => running(third), 3 * SESSION_MS + 10_000);
      process.stdout.write(`# takeover after SIGSTOP: ${froze} ms\n`);
      second.child.kill('SIGCONT');
      await until('the thawed holder to stop its stage', () => !running(second), 30_000);
      assert.ok(running(third) && !running(second), 'one holder after the thaw');
      assert.equal(activations(third), 1);
    } finally {
      for (const i of all) {
        if (i.child.exitCode === null && i.child.signalCode === null) {
          i.child.kill('SIGCONT');
          i.child.kill('SIGTERM');
        }
      }
      await Promise.all(
        all.map((i) =>
          i.child.exitCode !== null || i.child.signalCode !== null
            ? undefined
            : Promise.race([new Promise((r) => i.child.once('exit', r)), sleep(20_000).then(() => i.child.kill('SIGKILL'))]),
        ),
      );
    }
  });
}
