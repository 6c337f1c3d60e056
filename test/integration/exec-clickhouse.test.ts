/**
 * The ClickHouse executor against the local server (CLICKHOUSE_URL), through the executor engine
 * and the PostgreSQL ledger:
 *  - an online repartition under a concurrent writer: partition_key changes in system.tables,
 *    count and checksum of the original rows are equal, every acknowledged write is present once;
 *  - a failure midway (online copy, or after the write pause began) and an abort roll back and
 *    leave the original untouched;
 *  - an executor killed (SIGKILL) during the write pause: the table stays readable, and the
 *    restarted executor restores and finishes it (or rolls it back when told to);
 *  - hostile commands are REJECTED with a reason and change nothing;
 *  - a precomputation as a materialized view, backfilled under a concurrent writer, matches the
 *    table's own aggregate.
 * Run as a child process (EXEC_CH_CHILD set), this file is the executor that gets killed.
 * One file because the cases share one table, its writer and one executor child process.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { createClickHouse } from '../../analytics/clickhouse.js';
import { ClickHouseAdapter, type ClickHouseAdapterOptions } from '../../executors/clickhouse/adapter.js';
import { workNames } from '../../executors/clickhouse/checks.js';
import { ExecutorEngine } from '../../executors/engine.js';
import { CommandLedger } from '../../executors/ledger.js';
import type { AnyCommand, CommandResult } from '../../schemas/types.js';
import { testCommand } from './commands.js';
import { cfg, ledgerUnreachable } from './helpers.js';

const DB = 'shardcast_exec_test';
const ROWS = 40_000;
const WRITER_BASE = 10_000_000;
/** Ids of writer rows, unique across every writer of the run. */
let nextId = WRITER_BASE;
const ch = createClickHouse(cfg);

const sql = async (query: string) => void (await ch.command({ query }));
async function one<T = Record<string, string>>(query: string): Promise<T> {
  const rs = await ch.query({ query, format: 'JSONEachRow' });
  return ((await rs.json()) as T[])[0]!;
}

const baseOpts: ClickHouseAdapterOptions = { databases: [DB], batchBytes: 64 * 1024, pauseBytes: 4 * 1024, maxRounds: 6 };

const chCommand = (table: string, action: string, params: Record<string, string>, fields: Record<string, unknown> = {}): AnyCommand =>
  testCommand('exec-ch', table, 'partition', action, { store: 'clickhouse', storeKind: 'clickhouse', ...fields }, params);

async function makeTable(name: string): Promise<void> {
  await sql(`DROP TABLE IF EXISTS ${DB}.${name}`);
  await sql(`CREATE TABLE ${DB}.${name} (id UInt64, ts DateTime, k String, v Float64, n Nullable(Int32))
             ENGINE = MergeTree() PARTITION BY toYYYYMM(ts) ORDER BY (id, ts) SETTINGS index_granularity = 1024`);
  // Several inserts, so the table has several parts per partition.
  for (let i = 0; i < 4; i++) {
    const lo = (ROWS / 4) * i;
    await sql(`INSERT INTO ${DB}.${name} SELECT number, toDateTime('2024-01-01 00:00:00') + number * 571, concat('k', toString(number % 13)), number / 7,
               if(number % 5 = 0, NULL, toInt32(number % 1000)) FROM system.numbers WHERE number >= ${lo} LIMIT ${ROWS / 4}`);
  }
}

/** What must not change when a command is refused or rolled back. */
async function snapshot(name: string) {
  const t = await one<{ engine: string; pk: string; ef: string }>(
    `SELECT engine, partition_key AS pk, engine_full AS ef FROM system.tables WHERE database = '${DB}' AND name = '${name}'`,
  );
  const s = await one<{ c: string; h: string }>(
    `SELECT count() AS c, sum(cityHash64(id, ts, k, v, isNull(n), assumeNotNull(n))) AS h FROM ${DB}.${name}`,
  );
  return { ...t, ...s };
}

async function workTables(name: string): Promise<string[]> {
  const rs = await ch.query({
    query: `SELECT name FROM system.tables WHERE database = '${DB}' AND position(name, '${name}__sc') = 1`,
    format: 'JSONEachRow',
  });
  return ((await rs.json()) as { name: string }[]).map((r) => r.name);
}

/**
 * A writer inserting small batches with unique ids until stopped, retrying a refused batch (the
 * write pause) until it is acknowledged. `acked` holds every id the server acknowledged.
 */
function startWriter(name: string, intervalMs: number) {
  // Refusals during the write pause are expected: the writer's client does not log them.
  const w = createClient({
    url: cfg.clickhouseUrl,
    username: cfg.clickhouseUser,
    password: cfg.clickhousePassword,
    log: { level: ClickHouseLogLevel.OFF },
  });
  const acked: number[] = [];
  let refused = 0;
  let stop = false;
  const done = (async () => {
    const until = Date.now() + 120_000; // bounded even if never stopped
    while (!stop && Date.now() < until) {
      const ids = Array.from({ length: 20 }, () => nextId++);
      // Each batch into another month: parts spread over the partitions, as real writes do.
      const ts = `2024-0${1 + ((ids[0]! / 20) % 9)}-15 12:00:00`;
      const values = ids.map((id) => ({ id, ts, k: `w${id % 3}`, v: id % 11, n: id % 2 ? null : id % 7 }));
      for (;;) {
        try {
          await w.insert({ table: `${DB}.${name}`, values, format: 'JSONEachRow' });
          acked.push(...ids);
          break;
        } catch {
          refused++;
          if (Date.now() > until) return;
          await sleep(20);
        }
      }
      await sleep(intervalMs);
    }
  })();
  return {
    acked,
    refused: () => refused,
    async stop() {
      stop = true;
      await done;
      await w.close();
    },
  };
}

async function assertAllAcked(name: string, acked: number[]): Promise<void> {
  assert.ok(acked.length > 0, 'the writer was acknowledged at least once');
  const lo = Math.min(...acked),
    hi = Math.max(...acked);
  const r = await one<{ c: string; u: string; lo: string; hi: string }>(
    `SELECT count() AS c, uniqExact(id) AS u, min(id) AS lo, max(id) AS hi FROM ${DB}.${name} WHERE id >= ${lo} AND id <= ${hi}`,
  );
  assert.equal(Number(r.c), acked.length, 'every acknowledged row is present, and only once');
  assert.equal(Number(r.u), acked.length);
  assert.equal(Number(r.lo), lo);
  assert.equal(Number(r.hi), hi);
}

// ---------------------------------------------------------------------------------------------
// Child mode: an executor that kills itself right before the switch (during the write pause).

async function childMain(): Promise<void> {
  const cmd = JSON.parse(process.env.EXEC_CH_CHILD_CMD!) as AnyCommand;
  const adapter = ClickHouseAdapter.open(cfg, {
    ...baseOpts,
    beforeSwitch: async () => void process.kill(process.pid, 'SIGKILL'),
  });
  const ledger = await CommandLedger.open(cfg.pgNodes[0]!);
  const engine = new ExecutorEngine({
    executorName: 'exec-ch-child',
    adapters: [adapter],
    ledger,
    emit: async () => {},
    bytesPerSecond: 1e12,
  });
  const status = await engine.run(cmd);
  process.stdout.write(`finished ${status}\n`);
  process.exit(3); // the test expects the kill
}

function runChild(cmd: AnyCommand): Promise<{ code: number | null; signal: string | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
      env: { ...process.env, EXEC_CH_CHILD: '1', EXEC_CH_CHILD_CMD: JSON.stringify(cmd) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out });
    });
  });
}

async function reachable(): Promise<string | null> {
  try {
    await one('SELECT 1 AS x');
  } catch (err) {
    return `ClickHouse unreachable at ${cfg.clickhouseUrl} (${(err as Error).message}); start the stack (shardcast stack up)`;
  }
  return ledgerUnreachable();
}

if (process.env.EXEC_CH_CHILD) {
  await childMain();
} else {
  // CI starts the stack first: a server that does not answer is a failure, not a skip.
  const unreachable = await reachable();
  if (unreachable) throw new Error(unreachable);

  describe('clickhouse executor: online repartition, rollback, crash, hostile commands, precompute', {}, () => {
    const T = `exec_ch_${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
    const T_FAIL = `${T}_f`;
    const T_CRASH = `${T}_c`;
    const results: CommandResult[] = [];
    let ledger: CommandLedger;
    let adapter: ClickHouseAdapter;
    let engine: ExecutorEngine;
    const engineWith = (a: ClickHouseAdapter, signal?: AbortSignal, bytesPerSecond = 1e12) =>
      new ExecutorEngine({
        executorName: 'exec-ch-test',
        adapters: [a],
        ledger,
        emit: async (r) => void results.push(r),
        bytesPerSecond,
        signal,
      });
    const last = (cmd: AnyCommand) => results.filter((r) => r.commandId === cmd.commandId).at(-1)!;
    let repartitioned: AnyCommand;

    before(async () => {
      await sql(`CREATE DATABASE IF NOT EXISTS ${DB}`);
      await makeTable(T);
      ledger = await CommandLedger.open(cfg.pgNodes[0]!);
      // A short pause after each online batch, so the writer's rows arrive while the copy runs.
      adapter = ClickHouseAdapter.open(cfg, {
        ...baseOpts,
        afterBatch: async (_b, phase) => void (phase === 'online' && (await sleep(15))),
      });
      engine = engineWith(adapter);
    });

    after(async () => {
      await adapter?.close();
      await ledger?.close();
      await sql(`DROP TABLE IF EXISTS ${DB}.${T}__pc_by_k_mv`).catch(() => {});
      await sql(`DROP TABLE IF EXISTS ${DB}.${T}__pc_by_k`).catch(() => {});
      for (const t of [T, T_FAIL, T_CRASH]) {
        for (const w of await workTables(t).catch(() => [])) await sql(`DROP TABLE IF EXISTS ${DB}.${w}`).catch(() => {});
        await sql(`DROP TABLE IF EXISTS ${DB}.${t}`).catch(() => {});
      }
      await ch.close();
    });

    test('repartition under a concurrent writer: new partition_key, equal count and checksum, every acknowledged row present', async (t) => {
      const before = await snapshot(T);
      assert.equal(before.pk, 'toYYYYMM(ts)');
      const writer = startWriter(T, 40);
      await sleep(200);
      const ackedBefore = writer.acked.length;
      repartitioned = chCommand(T, 'repartition', { partitionBy: 'hashMod', partitionColumn: 'k', partitionN: '4' });
      // Throttled to RATE bytes per second. The engine's bucket admits RATE plus one batch
      // (< 100 kB here) per second, so the copy takes at least that long; unthrottled it takes < 2 s.
      const RATE = 200_000;
      const status = await engineWith(adapter, undefined, RATE).run(repartitioned);
      const ackedDuring = writer.acked.length - ackedBefore;
      await sleep(200); // writes after the switch go to the new table
      await writer.stop();
      const r = last(repartitioned);
      assert.equal(status, 'SUCCEEDED', `reason: ${r.reason}`);
      assert.equal(r.verified, true);
      assert.ok(r.bytesMoved > 2 * RATE, `bytes moved ${r.bytesMoved}`);
      assert.ok(
        r.durationMs >= (Math.ceil(r.bytesMoved / (RATE + 100_000)) - 1) * 1000,
        `throttled: ${r.bytesMoved} bytes in ${r.durationMs} ms at ${RATE} B/s`,
      );
      assert.ok(ackedDuring > 0, 'the writer was acknowledged while the repartition ran');
      assert.ok(
        results.some((x) => x.commandId === repartitioned.commandId && x.status === 'RUNNING' && x.progress > 0),
        'progress was reported',
      );
      t.diagnostic(
        `rows copied ${r.rowsCopied} (${r.bytesMoved} bytes in ${r.durationMs} ms), batches ${r.details.batches}, rounds ${r.details.rounds}, write pause ${r.details.writePauseMs} ms, writer acked ${writer.acked.length} rows, refused ${writer.refused()} times`,
      );

      const now = await snapshot(T);
      assert.equal(now.engine, 'MergeTree');
      assert.equal(now.pk, 'cityHash64(k) % 4', 'system.tables shows the new partition key');
      assert.match(now.ef, /ORDER BY \(id, ts\)/);
      assert.match(now.ef, /index_granularity = 1024/);
      const orig = await one<{ c: string; h: string }>(
        `SELECT count() AS c, sum(cityHash64(id, ts, k, v, isNull(n), assumeNotNull(n))) AS h FROM ${DB}.${T} WHERE id < ${WRITER_BASE}`,
      );
      assert.deepEqual({ c: orig.c, h: orig.h }, { c: before.c, h: before.h }, 'the original rows: same count and checksum');
      await assertAllAcked(T, writer.acked);
      const parts = await one<{ p: string }>(
        `SELECT uniqExact(partition_id) AS p FROM system.parts WHERE database = '${DB}' AND table = '${T}' AND active`,
      );
      assert.ok(Number(parts.p) <= 4, `at most 4 partitions, got ${parts.p}`);
      assert.deepEqual(await workTables(T), [], 'shadow, gate and old table are gone');

      // A redelivery of the same change under a new id: nothing to do.
      const again = chCommand(T, 'repartition', { partitionBy: 'hashMod', partitionColumn: 'k', partitionN: '4' });
      assert.equal(await engine.run(again), 'SUCCEEDED');
      assert.match(last(again).details.noop ?? '', /already partitioned/);
    });

    test('a failure midway (online copy, write pause, failed verification) and an abort roll back: original untouched → ROLLED_BACK', async () => {
      await makeTable(T_FAIL);
      const before = await snapshot(T_FAIL);
      const ac = new AbortController();
      const cases: { opts: (cmd: AnyCommand) => ClickHouseAdapterOptions; match: RegExp }[] = [
        {
          opts: () => ({
            afterBatch: async (b) => {
              if (b === 3) throw new Error('injected failure after batch 3');
            },
          }),
          match: /injected failure after batch 3/,
        },
        {
          opts: () => ({
            beforeSwitch: async () => {
              throw new Error('injected failure in the write pause');
            },
          }),
          match: /injected failure in the write pause/,
        },
        {
          // A row that is not in the original slips into the copy: the checksum must catch it.
          opts: (cmd) => ({
            afterBatch: async (b) => {
              if (b === 1)
                await sql(
                  `INSERT INTO ${DB}.${workNames(T_FAIL, cmd.commandId).shadow} (id, ts, k, v) VALUES (999, '2024-02-01 00:00:00', 'k1', 0)`,
                );
            },
          }),
          match: /verification failed/,
        },
        // Last: the abort leaves the signal aborted.
        { opts: () => ({ afterBatch: async (b) => void (b === 2 && ac.abort()) }), match: /aborted/ },
      ];
      for (const c of cases) {
        const cmd = chCommand(T_FAIL, 'repartition', { partitionBy: 'column', partitionColumn: 'k' });
        const a = ClickHouseAdapter.open(cfg, { ...baseOpts, ...c.opts(cmd) });
        const status = await engineWith(a, ac.signal).run(cmd);
        await a.close();
        assert.equal(status, 'ROLLED_BACK', `reason: ${last(cmd).reason}`);
        assert.match(last(cmd).reason ?? '', c.match);
        assert.deepEqual(await snapshot(T_FAIL), before, 'engine, partition key, count and checksum unchanged');
        assert.deepEqual(await workTables(T_FAIL), [], 'no work table left');
      }
      // Still a normal writable table with merges on.
      await sql(`INSERT INTO ${DB}.${T_FAIL} (id, ts, k, v) VALUES (1, '2024-01-01 00:00:00', 'x', 1)`);
      await sql(`OPTIMIZE TABLE ${DB}.${T_FAIL} PARTITION 202401 FINAL`);
    });

    test('executor killed during the write pause: the table stays readable; a restart restores and finishes', async () => {
      await makeTable(T_CRASH);
      const before = await snapshot(T_CRASH);
      const cmd = chCommand(T_CRASH, 'repartition', { partitionBy: 'intDiv', partitionColumn: 'id', partitionN: '10000' });
      const child = await runChild(cmd);
      assert.equal(child.signal, 'SIGKILL', `child should die in the pause, got ${child.code}: ${child.out.slice(-500)}`);
      // Left fenced: the name serves the read gate (a view of the original), writes are refused.
      const mid = await one<{ engine: string }>(`SELECT engine FROM system.tables WHERE database = '${DB}' AND name = '${T_CRASH}'`);
      assert.equal(mid.engine, 'View');
      assert.equal(
        (await one<{ c: string }>(`SELECT count() AS c FROM ${DB}.${T_CRASH}`)).c,
        before.c,
        'reads are served during the pause',
      );
      await assert.rejects(sql(`INSERT INTO ${DB}.${T_CRASH} (id) VALUES (1)`));
      assert.equal((await ledger.get(cmd.commandId))?.status, 'RUNNING');

      const status = await engine.run(cmd);
      assert.equal(status, 'SUCCEEDED', `reason: ${last(cmd).reason}`);
      assert.equal(results.find((r) => r.commandId === cmd.commandId && r.status === 'ACCEPTED')?.details.resumed, 'true');
      const now = await snapshot(T_CRASH);
      assert.equal(now.pk, 'intDiv(id, 10000)');
      assert.deepEqual({ c: now.c, h: now.h }, { c: before.c, h: before.h });
      assert.deepEqual(await workTables(T_CRASH), []);
    });

    test('executor killed during the write pause; restart with onResume=rollback restores the original', async () => {
      await makeTable(T_CRASH);
      const before = await snapshot(T_CRASH);
      const cmd = chCommand(T_CRASH, 'repartition', { partitionBy: 'toMonday', partitionColumn: 'ts', onResume: 'rollback' });
      const child = await runChild(cmd);
      assert.equal(child.signal, 'SIGKILL', child.out.slice(-500));
      const status = await engine.run(cmd);
      assert.equal(status, 'ROLLED_BACK', `reason: ${last(cmd).reason}`);
      assert.deepEqual(await snapshot(T_CRASH), before);
      assert.deepEqual(await workTables(T_CRASH), []);
      await sql(`INSERT INTO ${DB}.${T_CRASH} (id, ts, k, v) VALUES (1, '2024-01-01 00:00:00', 'x', 1)`);
    });

    test('hostile commands are REJECTED with a reason and change nothing', async () => {
      const before = await snapshot(T);
      const bad: [AnyCommand, RegExp][] = [
        [chCommand('exec_ch_no_such_table', 'repartition', { partitionBy: 'toDate', partitionColumn: 'ts' }), /unknown table/],
        [chCommand(`x; DROP TABLE ${T}`, 'repartition', { partitionBy: 'toDate', partitionColumn: 'ts' }), /not a plain identifier/],
        [
          chCommand(T, 'repartition', { partitionBy: 'toDate', partitionColumn: `ts); DROP TABLE ${DB}.${T} --` }),
          /not a plain column name|params\.partitionColumn: expected partitionColumn \(a plain identifier/,
        ],
        [
          chCommand(T, 'repartition', { partitionBy: `toYYYYMM(ts)) ENGINE = Log --`, partitionColumn: 'ts' }),
          /not one of|params\.partitionBy: expected partitionBy to be one of/,
        ],
        [chCommand(T, 'repartition', { partitionBy: 'toDate', partitionColumn: 'nope' }), /column nope does not exist/],
        [chCommand(T, 'repartition', { partitionBy: 'toDate', partitionColumn: 'k' }), /needs a Date or DateTime column/],
        [chCommand(T, 'repartition', { partitionBy: 'column', partitionColumn: 'n' }), /cannot be nullable/],
        [chCommand(T, 'repartition', { partitionBy: 'hashMod', partitionColumn: 'k', partitionN: '1000000' }), /outside 2\.\.1024/],
        [chCommand(T, 'repartition', { partitionBy: 'intDiv', partitionColumn: 'id', partitionN: '0' }), /outside 1\./],
        [
          chCommand(T, 'repartition', { partitionBy: 'intDiv', partitionColumn: 'id', partitionN: '1; DROP' }),
          /not a whole number|params\.partitionN: expected partitionN \(a whole number\)/,
        ],
        [chCommand(T, 'repartition', { partitionBy: 'column', partitionColumn: 'id' }), /about \d+ partitions \(limit 500\)/],
        [
          chCommand(T, 'repartition', { partitionBy: 'toDate', partitionColumn: 'ts', database: 'system' }),
          /not one this executor may change/,
        ],
        [chCommand(T, 'repartition', { partitionBy: 'toDate', partitionColumn: 'ts', graceMs: '-1' }), /graceMs/],
        [chCommand(`${T}__scn_0123abcd`, 'repartition', { partitionBy: 'toDate', partitionColumn: 'ts' }), /work table/],
        [chCommand(T, 'precompute', { template: 'sum_by', groupBy: 'k', value: 'k' }), /not numeric/],
        [
          chCommand(T, 'precompute', { template: 'count_by', groupBy: 'k; DROP TABLE x' }),
          /not a column|params\.groupBy: expected groupBy/,
        ],
        [chCommand(T, 'repartition', { partitionBy: 'toDate', partitionColumn: 'ts' }, { store: 'other-ch' }), /no executor/],
      ];
      for (const [cmd, reason] of bad) {
        const status = await engine.run(cmd);
        const r = last(cmd);
        assert.equal(status, 'REJECTED', `${cmd.kind === 'partition' ? cmd.table : ''} ${JSON.stringify(cmd.params)} should be rejected`);
        assert.match(r.reason ?? '', reason, `${JSON.stringify(cmd.params)}: ${r.reason}`);
        assert.equal((await ledger.get(cmd.commandId))?.status, 'REJECTED');
      }
      // A replayed command id is not run twice.
      assert.equal(await engine.run(repartitioned), 'REJECTED');
      assert.match(last(repartitioned).reason ?? '', /duplicate command id \(already SUCCEEDED\)/);
      assert.deepEqual(await snapshot(T), before, 'the table is unchanged');
      assert.deepEqual(await workTables(T), []);
    });

    test('precompute: a materialized view backfilled under a concurrent writer equals the table aggregate; redelivery is a no-op', async (t) => {
      const writer = startWriter(T, 50);
      await sleep(100);
      const cmd = chCommand(T, 'precompute', { template: 'sum_by', groupBy: 'k', value: 'v', name: 'by_k' });
      const status = await engine.run(cmd);
      await sleep(150);
      await writer.stop();
      const r = last(cmd);
      assert.equal(status, 'SUCCEEDED', `reason: ${r.reason}`);
      t.diagnostic(
        `view attached after ${r.details.attempts} attempt(s); backfilled ${r.rowsCopied} rows; verified ${r.verified}; writer acked ${writer.acked.length}`,
      );
      const view = await one<{ engine: string }>(`SELECT engine FROM system.tables WHERE database = '${DB}' AND name = '${T}__pc_by_k_mv'`);
      assert.equal(view.engine, 'MaterializedView');
      const rs1 = await ch.query({
        query: `SELECT k AS g, count() AS c, round(sum(v), 3) AS s FROM ${DB}.${T} GROUP BY g ORDER BY g`,
        format: 'JSONEachRow',
      });
      const rs2 = await ch.query({
        query: `SELECT sc_grp AS g, sum(sc_n) AS c, round(sum(sc_total), 3) AS s FROM ${DB}.${T}__pc_by_k GROUP BY g ORDER BY g`,
        format: 'JSONEachRow',
      });
      const want = await rs1.json();
      assert.ok(want.length > 3);
      assert.deepEqual(await rs2.json(), want, 'the precomputation equals the aggregate over the table (backfill + forwarded rows)');
      await assertAllAcked(T, writer.acked);

      const again = chCommand(T, 'precompute', { template: 'sum_by', groupBy: 'k', value: 'v', name: 'by_k' });
      assert.equal(await engine.run(again), 'SUCCEEDED');
      assert.match(last(again).details.noop ?? '', /exists already/);
      // With a view reading it, the table is no longer repartitioned (the view would be left behind).
      const blocked = chCommand(T, 'repartition', { partitionBy: 'toDate', partitionColumn: 'ts' });
      assert.equal(await engine.run(blocked), 'REJECTED');
      assert.match(last(blocked).reason ?? '', /dependent views/);
      await sql(`DROP TABLE ${DB}.${T}__pc_by_k_mv`);
      await sql(`DROP TABLE ${DB}.${T}__pc_by_k`);
    });
  });
}
