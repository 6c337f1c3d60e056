/**
 * Executors scaled out on one consumer group, on the real stack.
 *
 * First the store lock itself (executors/storeLocks.ts): a second holder waits, sees who holds
 * it, and gets it when the first lets go or its session dies.
 *
 * Then three `run execute` instances (child processes of this file) share the three command
 * topics, one each. A throttled PostgreSQL move goes to one of them; a composite index on
 * another table of the same store goes to another and waits for the move (the store's lock),
 * while a Kafka command beside it runs at once (another store). A fourth instance added mid-move
 * (a rebalance hands the move's partition over and Kafka delivers the move again) does not touch
 * it. The instance carrying the move is SIGKILLed: another resumes the move from its checkpoint.
 * Every command SUCCEEDED exactly once, nothing was REJECTED, the two PostgreSQL commands never
 * ran at once, and every row is on its new node with the same checksum.
 * Run as a child (EXEC_SCALE_OUT_CHILD set), this file is one executor instance.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { Admin, Consumer } from '../../lib/kafkajs.js';
import pg from 'pg';
import type { Config } from '../../lib/config.js';
import { signingKeyFromPem } from '../../lib/signing.js';
import { generateKeyPair } from '../../lib/signingKeys.js';
import { openContext, type PipelineContext } from '../../pipelines/context.js';
import { startExecute } from '../../pipelines/execute.js';
import { commandOutputs } from '../../pipelines/decide.js';
import { StoreLocks } from '../../executors/storeLocks.js';
import { readAll, rowsChecksum } from '../../demo/workload.js';
import { dropShardedTable } from '../../stores/postgres/tables.js';
import { loadRoutes } from '../../stores/postgres/routing.js';
import { COMMAND_TOPICS, TOPICS } from '../../schemas/topics.js';
import type { AnyCommand, CommandResult } from '../../schemas/types.js';
import { createKafka } from '../../topics/kafka.js';
import { addTopicPartitionsCommand, testCommand } from './commands.js';
import {
  cfg,
  eventually,
  launchChild,
  ledgerUnreachable,
  seededTwoShardOrders,
  startAtLatest,
  uniq,
  type ChildInstance,
} from './helpers.js';

const SESSION_MS = 8_000;
/** Rows of the moved shard, copied 100 a batch at about a batch a second: a move of about a minute. */
const MOVED_ROWS = 6_000;

const childConfig = (publicPem: string): Config => ({ ...cfg, commandVerifyKeys: publicPem, commandVerify: 'required' });

async function childMain(): Promise<void> {
  const env = process.env;
  const ctx = await openContext('exec-scale-out-child', childConfig(env.ESO_VERIFY_PEM!));
  const stage = await startExecute(ctx, {
    groupId: env.ESO_GROUP!,
    // about one copy batch a second
    bytesPerSecond: 1024,
    pgGraceMs: 100,
    catalogCheck: 'off',
    sessionTimeoutMs: SESSION_MS,
  });
  stage.done.catch((err: unknown) => process.stdout.write(`FAILED ${(err as Error).message}\n`));
  process.stdout.write(`READY ${process.pid}\n`);
  await new Promise<void>((r) => process.once('SIGTERM', r));
  await stage.stop();
  await ctx.close();
  process.exit(0);
}

if (process.env.EXEC_SCALE_OUT_CHILD) {
  await childMain();
} else {
  const unreachable = await ledgerUnreachable();
  if (unreachable) throw new Error(unreachable);

  const keys = generateKeyPair();
  const signing = signingKeyFromPem(keys.privatePem);
  const group = uniq('exec-scale-out');
  const suffix = group.replace(/[^a-z0-9]/g, '_');
  const MOVED = `so_move_${suffix}`.slice(0, 40);
  const INDEXED = `so_index_${suffix}`.slice(0, 40);
  const TOPIC = `so_topic_${suffix}`;
  let ctx: PipelineContext;
  let admin: Admin;
  let watcher: Consumer;
  const results: CommandResult[] = [];
  const instances: ChildInstance[] = [];

  const launch = (): ChildInstance => {
    const inst = launchChild(fileURLToPath(import.meta.url), {
      EXEC_SCALE_OUT_CHILD: '1',
      ESO_GROUP: `${group}-execute`,
      ESO_VERIFY_PEM: keys.publicPem,
    });
    instances.push(inst);
    return inst;
  };
  const ready = (i: ChildInstance) =>
    eventually(async () => i.lines.some((l) => l.startsWith('READY')) || undefined, 90_000, 'an executor instance ready');
  const members = async () => (await admin.describeGroups([`${group}-execute`])).groups[0]?.members.length ?? 0;
  const pidOf = (executor: string) => Number(executor.split(':').at(-1));
  const of = (cmd: AnyCommand) => results.filter((r) => r.commandId === cmd.commandId);

  before(async () => {
    ctx = await openContext('exec-scale-out-test', { ...cfg, commandSigningKey: keys.privatePem });
    admin = createKafka(cfg, 'exec-scale-out-test').admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic: TOPIC, numPartitions: 1, replicationFactor: 1 }] });
    await startAtLatest(admin, `${group}-execute`, Object.values(COMMAND_TOPICS));
    await startAtLatest(admin, `${group}-watch`, [TOPICS.results.name]);
    watcher = createKafka(cfg, 'exec-scale-out-watch').consumer({ groupId: `${group}-watch` });
    await watcher.connect();
    await watcher.subscribe({ topics: [TOPICS.results.name] });
    await watcher.run({
      eachMessage: async ({ topic, message }) => {
        const r = await ctx.serde.decode<CommandResult>(topic, message.value);
        if (r.commandId.startsWith('scale-out-')) results.push(r);
      },
    });
    await seededTwoShardOrders(MOVED, MOVED_ROWS, MOVED_ROWS * 2);
    await seededTwoShardOrders(INDEXED, 500, 1000);
  });

  after(async () => {
    for (const i of instances) if (i.child.exitCode === null && i.child.signalCode === null) i.child.kill('SIGKILL');
    await watcher?.disconnect();
    await admin?.deleteTopics({ topics: [TOPIC] }).catch(() => undefined);
    await admin?.disconnect();
    await ctx?.close();
    await dropShardedTable(cfg, MOVED).catch(() => undefined);
    await dropShardedTable(cfg, INDEXED).catch(() => undefined);
  });

  test('a store lock has one holder across sessions, and goes when its holder does', { timeout: 60_000 }, async () => {
    const store = `lock-test-${suffix}`;
    const lost: string[] = [];
    const first = new StoreLocks(cfg.pgNodes[0]!, { holder: `first-${suffix}`, onLost: (s) => lost.push(s) });
    const second = new StoreLocks(cfg.pgNodes[0]!, { holder: `second-${suffix}` });
    const coord = new pg.Client({ connectionString: cfg.pgNodes[0]! });
    await coord.connect();
    try {
      await first.acquire(store);
      assert.equal(await second.holderOf(store), `first-${suffix}`);
      const waiting = AbortSignal.timeout(1_000);
      await assert.rejects(second.acquire(store, waiting), 'the second waits while the first holds');
      await first.release(store);
      await second.acquire(store, AbortSignal.timeout(5_000));
      assert.equal(await first.holderOf(store), `second-${suffix}`);
      await second.release(store);

      // the holder's session dies (as when its process is SIGKILLed): the lock is free, the holder told
      await first.acquire(store);
      await coord.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [`first-${suffix}`]);
      await second.acquire(store, AbortSignal.timeout(5_000));
      await eventually(async () => lost.length > 0 || undefined, 5_000, 'the first holder told it lost the lock');
      assert.deepEqual(lost, [store]);
      assert.equal(first.holds(store), false);
      await second.release(store);
    } finally {
      await first.close();
      await second.close();
      await coord.end();
    }
  });

  test('three executors, one added and one SIGKILLed mid-move: each command once, one store at a time', { timeout: 600_000 }, async () => {
    const started = [launch(), launch(), launch()];
    await Promise.all(started.map(ready));
    await eventually(async () => ((await members()) === 3 ? true : undefined), 60_000, 'three executors in the group');
    const before = rowsChecksum((await readAll(cfg, MOVED)).rows.values());

    const move = testCommand(
      'scale-out-move',
      MOVED,
      'shard',
      'move',
      { partition: 's0', sourceNode: 'node0', targetNode: 'node2' },
      { batchRows: '100' },
    );
    await ctx.producer.sendMany(commandOutputs([move], signing));
    const running = await eventually(async () => of(move).find((r) => r.status === 'RUNNING'), 60_000, 'the move RUNNING');
    const mover = pidOf(running.executor);

    // Another table of the same store, and another store, on another topic (another instance).
    const index = testCommand('scale-out-index', INDEXED, 'partition', 'composite_index', {}, { columns: 'customer_id,amount' });
    const grow = addTopicPartitionsCommand('scale-out-kafka', TOPIC, 3);
    await ctx.producer.sendMany(commandOutputs([index, grow], signing));
    await eventually(async () => of(grow).find((r) => r.status === 'SUCCEEDED'), 60_000, 'the Kafka command SUCCEEDED');
    assert.ok(!of(move).some((r) => r.status === 'SUCCEEDED'), 'the Kafka command did not wait for the PostgreSQL move');
    assert.ok(!of(index).some((r) => r.status === 'ACCEPTED'), 'the index waits while the move holds the store');

    // A fourth instance: the group rebalances mid-move.
    const added = launch();
    await ready(added);
    await eventually(async () => ((await members()) === 4 ? true : undefined), 60_000, 'four executors in the group');
    await new Promise((r) => setTimeout(r, 3_000));
    assert.ok(!of(move).some((r) => r.status === 'SUCCEEDED'), 'the move still runs (the test needs it to)');
    assert.ok(
      of(move).every((r) => pidOf(r.executor) === mover),
      `only the mover reported on the move while it lived: ${JSON.stringify(of(move).map((r) => [r.executor, r.status]))}`,
    );

    const killedAt = Date.now();
    const victim = instances.find((i) => i.child.pid === mover)!;
    victim.child.kill('SIGKILL');
    const done = await eventually(
      async () => of(move).find((r) => r.status !== 'ACCEPTED' && r.status !== 'RUNNING'),
      240_000,
      'the move finished',
    );
    assert.equal(done.status, 'SUCCEEDED', `move: ${done.reason}`);
    assert.notEqual(pidOf(done.executor), mover);
    assert.ok(
      of(move).some((r) => r.status === 'ACCEPTED' && r.details.resumed === 'true' && pidOf(r.executor) !== mover),
      'resumed from its checkpoint by another instance',
    );
    const indexed = await eventually(async () => of(index).find((r) => r.status === 'SUCCEEDED'), 120_000, 'the index SUCCEEDED');
    // give redeliveries time to show up (they must not)
    await new Promise((r) => setTimeout(r, SESSION_MS));
    for (const cmd of [move, index, grow]) {
      const finals = of(cmd).filter((r) => r.status !== 'ACCEPTED' && r.status !== 'RUNNING');
      assert.deepEqual(
        finals.map((r) => r.status),
        ['SUCCEEDED'],
        `${cmd.action}: one final result, SUCCEEDED: ${JSON.stringify(finals.map((r) => [r.status, r.reason]))}`,
      );
    }

    // One store at a time: the index ran entirely outside every stretch of the move on a live instance.
    const indexFrom = of(index).find((r) => r.status === 'ACCEPTED')!.ts;
    const stretches = new Map<number, { from: number; to: number }>();
    for (const r of of(move)) {
      const p = pidOf(r.executor);
      const s = stretches.get(p) ?? { from: r.ts, to: r.ts };
      stretches.set(p, { from: Math.min(s.from, r.ts), to: Math.max(s.to, p === mover ? killedAt : r.ts) });
    }
    for (const [p, s] of stretches)
      assert.ok(
        indexed.ts < s.from || indexFrom > s.to,
        `the index [${indexFrom}, ${indexed.ts}] overlaps the move on ${p} [${s.from}, ${s.to}]`,
      );

    const after = await readAll(cfg, MOVED);
    assert.equal(after.rows.size, MOVED_ROWS * 2, 'every row kept');
    assert.equal(after.duplicates.length, 0);
    assert.equal(rowsChecksum(after.rows.values()), before, 'same rows, same values');
    const coord = new pg.Client({ connectionString: cfg.pgNodes[0]! });
    await coord.connect();
    const routes = await loadRoutes(coord, MOVED).finally(() => coord.end());
    assert.equal(routes!.shards.find((s) => s.shard === 's0')!.node, 'node2');
    assert.equal((await admin.fetchTopicMetadata({ topics: [TOPIC] })).topics[0]!.partitions.length, 3);
    for (const i of instances) assert.ok(!i.lines.some((l) => l.startsWith('FAILED')), i.lines.join('\n'));
  });
}
