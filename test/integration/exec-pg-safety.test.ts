/**
 * Safety of the PostgreSQL executor on real shard nodes (loadConfig().pgNodes):
 *  - hostile commands through the engine + ledger are REJECTED with a reason and change nothing;
 *  - a failure, an abort or a failed verification midway rolls back to the old routing;
 *  - an executor process killed (SIGKILL) in the middle of a move, restarted, finishes the move
 *    (or rolls it back when told to) with no row lost under a concurrent writer.
 * Run as a child process (EXEC_PG_CHILD set), this file is that executor process.
 * One file because the cases share one executor child process and its shard nodes.
 */
import { testCommand } from './commands.js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../lib/config.js';
import type { AnyCommand, CommandResult } from '../../schemas/types.js';
import { ExecutorEngine } from '../../executors/engine.js';
import { CommandLedger } from '../../executors/ledger.js';
import { PostgresShardAdapter, type PostgresAdapterOptions } from '../../executors/postgres/adapter.js';
import { dropShardedTable } from '../../stores/postgres/tables.js';
import { listNodes, loadRoutes, type TableRoutes } from '../../stores/postgres/routing.js';
import { PgPools, q } from '../../stores/postgres/nodes.js';
import { AckedLoad, diffRows, readAll, rowsChecksum } from '../../demo/workload.js';
import type { ExecutionContext } from '../../executors/types.js';
import { seededTwoShardOrders, shardNodesUnreachable } from './helpers.js';

const cfg = loadConfig();
const TABLE = 'exec_pg_safe';
const ROWS = 12_000;

/** Commands made so far; also spreads each scenario's new keys apart. */
let n = 0;
const command = (
  kind: 'partition' | 'shard',
  action: string,
  fields: Record<string, unknown>,
  params: Record<string, string> = {},
): AnyCommand => {
  n++;
  return testCommand('exec-pg-safe', TABLE, kind, action, fields, params);
};

function context(signal?: AbortSignal): ExecutionContext {
  return {
    signal: signal ?? new AbortController().signal,
    resumeFrom: null,
    async report() {},
    async throttle() {},
    async checkpoint() {},
  };
}

// ---------------------------------------------------------------------------------------------
// Child mode: one executor process running one command, killing itself at a chosen point.

async function childMain(): Promise<void> {
  const cmd = JSON.parse(process.env.EXEC_PG_CHILD_CMD!) as AnyCommand;
  const crash = process.env.EXEC_PG_CHILD!; // 'copy:<batch>' | 'switch'
  const opts: PostgresAdapterOptions = { batchRows: 500 };
  const die = () => {
    process.kill(process.pid, 'SIGKILL');
  };
  if (crash.startsWith('copy:')) {
    const k = Number(crash.slice(5));
    opts.afterBatch = async (b) => {
      if (b >= k) die();
      await new Promise((r) => setTimeout(r, 30));
    };
  }
  // 'switch': die between the source fence and the routing commit.
  if (crash === 'switch') opts.beforeRoutingCommit = die;
  const adapter = await PostgresShardAdapter.open(cfg, opts);
  const ledger = await CommandLedger.open(cfg.pgNodes[0]!);
  const engine = new ExecutorEngine({
    executorName: 'exec-pg-child',
    adapters: [adapter],
    ledger,
    emit: async (r) => void process.stdout.write(`${JSON.stringify({ status: r.status, reason: r.reason })}\n`),
    bytesPerSecond: 1e12,
  });
  const status = await engine.run(cmd);
  process.stdout.write(`finished ${status}\n`);
  process.exit(3); // the test expects a kill; finishing is a failure of the setup
}

function runChild(cmd: AnyCommand, crash: string): Promise<{ code: number | null; signal: string | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
      env: { ...process.env, EXEC_PG_CHILD: crash, EXEC_PG_CHILD_CMD: JSON.stringify(cmd) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code, signal) => resolve({ code, signal, out }));
  });
}

// ---------------------------------------------------------------------------------------------

if (process.env.EXEC_PG_CHILD) {
  await childMain();
} else {
  const missing = await shardNodesUnreachable();

  describe('postgres executor: hostile commands, rollback, crash and resume', () => {
    before(() => {
      // The test command starts the stack first: PostgreSQL missing here is a failure, not a skip.
      if (missing) assert.fail(missing);
    });
    const pools = new PgPools({ executor: true });
    let adapter: PostgresShardAdapter;
    let ledger: CommandLedger;
    const results: CommandResult[] = [];
    let engine: ExecutorEngine;

    const snapshot = async () => {
      const routes = (await loadRoutes(adapter.coord, TABLE))!;
      const all = await readAll(cfg, TABLE);
      return { routes, count: all.rows.size, sum: rowsChecksum(all.rows.values()) };
    };
    const urlOf = async (node: string) => (await listNodes(adapter.coord)).find((x) => x.node === node)!.url;
    const tableOn = async (node: string, physical: string) =>
      (await q(pools.get(await urlOf(node)), 'SELECT 1 FROM pg_tables WHERE tablename = $1', [physical])).length > 0;
    const sameRouting = (a: TableRoutes, b: TableRoutes) => {
      assert.equal(b.version, a.version, 'routing version unchanged');
      assert.deepEqual(
        b.shards.map((s) => [s.shard, s.lo, s.hi, s.node, s.state, s.owner]),
        a.shards.map((s) => [s.shard, s.lo, s.hi, s.node, s.state, s.owner]),
      );
    };

    before(async () => {
      await seededTwoShardOrders(TABLE, 6_000, ROWS);
      adapter = await PostgresShardAdapter.open(cfg, { batchRows: 500, defaultGraceMs: 200 });
      ledger = await CommandLedger.open(cfg.pgNodes[0]!);
      engine = new ExecutorEngine({
        executorName: 'exec-pg-test',
        adapters: [adapter],
        ledger,
        emit: async (r) => void results.push(r),
        bytesPerSecond: 1e12,
      });
      await q(pools.get(cfg.pgNodes[0]!), 'CREATE TABLE IF NOT EXISTS exec_pg_canary (x int)');
    });

    after(async () => {
      await adapter?.close();
      await ledger?.close();
      await dropShardedTable(cfg, TABLE).catch(() => {});
      await q(pools.get(cfg.pgNodes[0]!), 'DROP TABLE IF EXISTS exec_pg_canary').catch(() => {});
      await pools.end();
    });

    test('hostile commands are REJECTED with a reason and change nothing', async () => {
      const before0 = await snapshot();
      const hostile: [AnyCommand, RegExp][] = [
        [command('partition', 'split', { table: 'no_such_table', partition: 's0' }, { splitAt: '10' }), /unknown table/],
        [
          command('partition', 'split', { table: 'orders; drop table exec_pg_canary', partition: 's0' }, { splitAt: '10' }),
          /not a plain identifier/,
        ],
        [command('partition', 'split', { partition: 's0"; drop table exec_pg_canary; --' }, { splitAt: '10' }), /not a plain identifier/],
        [command('partition', 'split', { partition: 's9' }, { splitAt: '10' }), /unknown shard/],
        [command('partition', 'split', { partition: 's0' }, { splitAt: '6000' }), /not below the shard's upper bound/],
        [command('partition', 'split', { partition: 's1' }, { splitAt: '-5' }), /not above the shard's lower bound/],
        [
          command('partition', 'split', { partition: 's1' }, { splitAt: '99999999999999999999' }),
          /outside the bigint range|not an integer|params\.splitAt: expected splitAt \(an integer key\)/,
        ],
        [
          command('partition', 'split', { partition: 's1' }, { splitAt: '1e9' }),
          /not an integer key|params\.splitAt: expected splitAt \(an integer key\)/,
        ],
        [
          command('partition', 'split', { partition: 's1' }, { splitAt: '7000', newShard: 'x; drop table exec_pg_canary' }),
          /not a plain identifier|params\.newShard: expected newShard \(a plain identifier/,
        ],
        [command('partition', 'merge', { partition: 's0' }, { with: 's1' }), /different nodes/],
        [command('shard', 'move', { partition: 's0', targetNode: 'node0' }), /already on node0/],
        [command('shard', 'move', { partition: 's0', targetNode: 'node42' }), /unknown node/],
        [command('shard', 'move', { partition: 's0', targetNode: 'node2', sourceNode: 'node1' }), /stale command/],
        [
          command('shard', 'move', { partition: 's0', targetNode: 'node2' }, { graceMs: '-1' }),
          /not a whole number|params\.graceMs: expected graceMs \(a whole number\)/,
        ],
        [command('shard', 'dereplicate', { partition: 's0', targetNode: 'node2' }), /no replica/],
        [
          command('partition', 'composite_index', {}, { columns: 'id; drop table exec_pg_canary' }),
          /not a plain identifier|params\.columns: expected columns/,
        ],
        [command('partition', 'composite_index', {}, { columns: 'customer_id,nope' }), /does not exist/],
        [
          command('partition', 'derived_attribute', {}, { name: 'd', expression: 'lower(payload)); drop table exec_pg_canary; --' }),
          /not one of the allowed templates/,
        ],
        [command('partition', 'derived_attribute', {}, { name: 'd', expression: 'pg_sleep(10)' }), /not one of the allowed templates/],
        [command('partition', 'precompute', {}, { template: 'select * from pg_shadow', groupBy: 'customer_id' }), /template/],
      ];
      for (const [cmd, why] of hostile) {
        const status = await engine.run(cmd);
        const r = results.filter((x) => x.commandId === cmd.commandId).at(-1)!;
        assert.equal(status, 'REJECTED', `${cmd.action} ${JSON.stringify(cmd.params)} should be rejected`);
        assert.equal(r.status, 'REJECTED');
        assert.match(r.reason ?? '', why, `reason for ${JSON.stringify(cmd.params)} / ${cmd.kind === 'resource' ? '' : cmd.table}`);
        assert.equal((await ledger.get(cmd.commandId))?.status, 'REJECTED');
      }
      // A replayed id: the first run succeeds, the replay is rejected and runs nothing.
      const idx = command('partition', 'composite_index', {}, { columns: 'customer_id,amount' });
      assert.equal(await engine.run(idx), 'SUCCEEDED');
      const mid = await snapshot();
      assert.equal(await engine.run(idx), 'REJECTED');
      assert.match(results.at(-1)!.reason ?? '', /duplicate command id \(already SUCCEEDED\)/);
      const split = command('partition', 'split', { partition: 's1' }, { splitAt: '9000' });
      const splitOnce = { ...split };
      assert.equal(await engine.run(splitOnce), 'SUCCEEDED');
      const afterSplit = await snapshot();
      assert.equal(await engine.run(split), 'REJECTED', 'replayed split is not run twice');
      sameRouting(afterSplit.routes, (await snapshot()).routes);

      const now = await snapshot();
      assert.equal(now.count, before0.count);
      assert.equal(now.sum, before0.sum);
      assert.equal(mid.routes.version, before0.routes.version, 'hostile commands changed no routing');
      assert.equal(
        (await q(pools.get(cfg.pgNodes[0]!), `SELECT 1 FROM pg_tables WHERE tablename = 'exec_pg_canary'`)).length,
        1,
        'canary table survives',
      );
    });

    test('a failure midway rolls the move back: target dropped, routing unchanged → ROLLED_BACK', async () => {
      const before0 = await snapshot();
      const failing = await PostgresShardAdapter.open(cfg, {
        batchRows: 500,
        afterBatch: (b) => {
          if (b === 3) throw new Error('injected failure after batch 3');
        },
      });
      try {
        const cmd = command('shard', 'move', { partition: 's0', targetNode: 'node2' });
        assert.equal(await failing.validate(cmd), null);
        const out = await failing.execute(cmd, context());
        assert.equal(out.status, 'ROLLED_BACK');
        assert.match(out.reason ?? '', /injected failure/);
        sameRouting(before0.routes, (await snapshot()).routes);
        assert.equal(await tableOn('node2', 'exec_pg_safe__s0'), false, 'half-built target dropped');
        const trig = await q(pools.get(await urlOf('node0')), `SELECT 1 FROM pg_trigger WHERE tgname = 'shardcast_capture'`);
        assert.equal(trig.length, 0, 'capture trigger removed');
      } finally {
        await failing.close();
      }
      const now = await snapshot();
      assert.equal(now.count, before0.count);
      assert.equal(now.sum, before0.sum);
    });

    test('an abort (stop requested) midway rolls back → ROLLED_BACK', async () => {
      const before0 = await snapshot();
      const ac = new AbortController();
      const a = await PostgresShardAdapter.open(cfg, { batchRows: 500, afterBatch: (b) => void (b === 2 && ac.abort()) });
      try {
        const out = await a.execute(command('shard', 'move', { partition: 's0', targetNode: 'node2' }), context(ac.signal));
        assert.equal(out.status, 'ROLLED_BACK');
        assert.match(out.reason ?? '', /aborted/);
      } finally {
        await a.close();
      }
      sameRouting(before0.routes, (await snapshot()).routes);
      assert.equal(await tableOn('node2', 'exec_pg_safe__s0'), false);
    });

    test('a checksum mismatch at the switch rolls back → ROLLED_BACK (verification failed)', async () => {
      const before0 = await snapshot();
      const a = await PostgresShardAdapter.open(cfg, {
        batchRows: 500,
        afterBatch: async (b, plan) => {
          // Corrupt a copied row behind the executor's back (bypassing capture): the final
          // verification must catch it.
          if (b === 2 && plan.kind !== 'rekey')
            await q(pools.get(await urlOf(plan.targetNode)), `UPDATE public.exec_pg_safe__s0 SET payload = 'corrupt' WHERE id = 10`);
        },
      });
      try {
        const out = await a.execute(command('shard', 'move', { partition: 's0', targetNode: 'node2' }), context());
        assert.equal(out.status, 'ROLLED_BACK');
        assert.match(out.reason ?? '', /verification failed/);
      } finally {
        await a.close();
      }
      sameRouting(before0.routes, (await snapshot()).routes);
      assert.equal(await tableOn('node2', 'exec_pg_safe__s0'), false);
    });

    async function crashAndResume(t: { diagnostic(m: string): void }, crash: string, params: Record<string, string>) {
      const start = (await readAll(cfg, TABLE)).rows;
      const before0 = await snapshot();
      const load = new AckedLoad(cfg, TABLE, {
        lo: 0,
        hi: ROWS,
        newKeysFrom: 100_000 + n * 1000,
        newKeysTo: 100_000 + n * 1000 + 900,
        writers: 2,
        pauseMs: 2,
      });
      load.start();
      const cmd = command('shard', 'move', { partition: 's0', targetNode: 'node2', sourceNode: 'node0' }, params);
      const child = await runChild(cmd, crash);
      assert.equal(child.signal, 'SIGKILL', `child should have been killed: ${child.out}`);
      const inflight = await ledger.get(cmd.commandId);
      assert.ok(inflight && (inflight.status === 'RUNNING' || inflight.status === 'ACCEPTED'), 'the ledger shows the command in flight');
      t.diagnostic(`killed at ${crash}: checkpoint ${JSON.stringify({ ...inflight!.state, plan: undefined })}`);
      // Restart: a fresh engine over the same ledger picks the command up again.
      const resumedResults: CommandResult[] = [];
      const engine2 = new ExecutorEngine({
        executorName: 'exec-pg-restarted',
        adapters: [adapter],
        ledger,
        emit: async (r) => void resumedResults.push(r),
        bytesPerSecond: 1e12,
      });
      const status = await engine2.run(cmd);
      await new Promise((r) => setTimeout(r, 200));
      const stats = await load.stop();
      const final = resumedResults.at(-1)!;
      t.diagnostic(
        `resumed: ${status} ${final.reason ?? ''} ${JSON.stringify(final.details)}; load ${JSON.stringify({ ...stats, errors: stats.errors.slice(0, 2) })}`,
      );
      assert.equal(resumedResults[0]!.status, 'ACCEPTED');
      assert.equal(resumedResults[0]!.details.resumed, 'true');
      const got = await readAll(cfg, TABLE);
      const want = load.expected(start);
      assert.deepEqual(got.duplicates, []);
      assert.equal(got.misplaced, 0);
      assert.deepEqual(diffRows(want, got.rows), []);
      assert.equal(rowsChecksum(got.rows.values()), rowsChecksum(want.values()));
      assert.equal(stats.readErrors, 0);
      return { status, before0, final };
    }

    test('executor killed mid-copy (SIGKILL after 4 batches) under load; restart resumes and completes the move', async (t) => {
      const { status, final } = await crashAndResume(t, 'copy:4', {});
      assert.equal(status, 'SUCCEEDED', final.reason ?? '');
      assert.equal(final.verified, true);
      assert.equal(final.details.resumed, 'true');
      const r = (await loadRoutes(adapter.coord, TABLE))!;
      assert.equal(r.shards.find((s) => s.shard === 's0')!.node, 'node2');
      assert.equal(await tableOn('node0', 'exec_pg_safe__s0'), false, 'source dropped after grace');
    });

    test('executor killed between source fence and routing commit; restart finishes the switch', async (t) => {
      // s0 is on node2 now; move it back to node0 and die inside the switch.
      const cmdNode = 'node0';
      const start = (await readAll(cfg, TABLE)).rows;
      const load = new AckedLoad(cfg, TABLE, { lo: 0, hi: ROWS, newKeysFrom: 200_000, newKeysTo: 200_900, writers: 2, pauseMs: 2 });
      load.start();
      const cmd = command('shard', 'move', { partition: 's0', targetNode: cmdNode }, {});
      const child = await runChild(cmd, 'switch');
      assert.equal(child.signal, 'SIGKILL', child.out);
      const inflight = (await ledger.get(cmd.commandId))!;
      assert.equal(inflight.state.phase, 'switching');
      assert.equal(
        (await loadRoutes(adapter.coord, TABLE))!.shards.find((s) => s.shard === 's0')!.node,
        'node2',
        'routing not yet switched',
      );
      const res: CommandResult[] = [];
      const engine2 = new ExecutorEngine({
        executorName: 'exec-pg-restarted',
        adapters: [adapter],
        ledger,
        emit: async (r) => void res.push(r),
        bytesPerSecond: 1e12,
      });
      assert.equal(await engine2.run(cmd), 'SUCCEEDED', res.at(-1)?.reason ?? '');
      const stats = await load.stop();
      t.diagnostic(`load across the crash window: ${JSON.stringify({ ...stats, errors: stats.errors.slice(0, 2) })}`);
      assert.equal((await loadRoutes(adapter.coord, TABLE))!.shards.find((s) => s.shard === 's0')!.node, 'node0');
      const got = await readAll(cfg, TABLE);
      const want = load.expected(start);
      assert.deepEqual(got.duplicates, []);
      assert.deepEqual(diffRows(want, got.rows), []);
      assert.equal(rowsChecksum(got.rows.values()), rowsChecksum(want.values()));
    });

    test('executor killed mid-copy; restart with onResume=rollback rolls back cleanly', async (t) => {
      const { status, before0, final } = await crashAndResume(t, 'copy:3', { onResume: 'rollback' });
      assert.equal(status, 'ROLLED_BACK', final.reason ?? '');
      const now = (await loadRoutes(adapter.coord, TABLE))!;
      assert.deepEqual(
        now.shards.map((s) => [s.shard, s.node, s.state, s.owner]),
        before0.routes.shards.map((s) => [s.shard, s.node, 'active', null]),
      );
      assert.equal(await tableOn('node2', 'exec_pg_safe__s0'), false, 'half-built target dropped');
    });
  });
}
