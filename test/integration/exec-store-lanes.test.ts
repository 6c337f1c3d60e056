/**
 * The executor's lanes on the real stores: in one batch, a throttled PostgreSQL move, a Kafka
 * add-partitions and a second move. The Kafka command does not wait for the move (another
 * store's lane); the second move starts only after the first succeeded (the same store's lane).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ExecutorEngine } from '../../executors/engine.js';
import { KafkaTopicAdapter } from '../../executors/kafka/adapter.js';
import { CommandLedger } from '../../executors/ledger.js';
import { PostgresShardAdapter } from '../../executors/postgres/adapter.js';
import { StoreLanes } from '../../executors/storeLanes.js';
import { readAll } from '../../demo/workload.js';
import { dropShardedTable } from '../../stores/postgres/tables.js';
import { loadRoutes } from '../../stores/postgres/routing.js';
import type { CommandResult } from '../../schemas/types.js';
import { createKafka } from '../../topics/kafka.js';
import { addTopicPartitionsCommand, testCommand } from './commands.js';
import { cfg, ledgerUnreachable, seededTwoShardOrders, uniq } from './helpers.js';

const id = uniq('lanes').replace(/[^a-z0-9]/g, '_');
const T = `t_${id}`.slice(0, 40);
const TOPIC = `it_${id}`;
const admin = createKafka(cfg, 'exec-store-lanes-test').admin();
let pgAdapter: PostgresShardAdapter;
let kafkaAdapter: KafkaTopicAdapter;
let ledger: CommandLedger;

before(async () => {
  const down = await ledgerUnreachable();
  if (down) assert.fail(down);
  await seededTwoShardOrders(T, 2000, 4000);
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 1 }], waitForLeaders: true });
  pgAdapter = await PostgresShardAdapter.open(cfg, { batchRows: 100, defaultGraceMs: 100 });
  kafkaAdapter = KafkaTopicAdapter.open(cfg, { maxPartitions: 64, maxIncrease: 16 });
  ledger = await CommandLedger.open(cfg.pgNodes[0]!);
});

after(async () => {
  await pgAdapter?.close();
  await kafkaAdapter?.close();
  await ledger?.close();
  await admin.deleteTopics({ topics: [TOPIC] }).catch(() => undefined);
  await admin.disconnect();
  await dropShardedTable(cfg, T).catch(() => undefined);
});

test("another store's command runs beside a long move; the same store's waits for it", { timeout: 180_000 }, async () => {
  const results: CommandResult[] = [];
  const engine = new ExecutorEngine({
    executorName: 'exec-store-lanes-test',
    adapters: [pgAdapter, kafkaAdapter],
    ledger,
    emit: async (r) => void results.push(r),
    // slow enough that the first move takes seconds
    bytesPerSecond: 64 * 1024,
  });
  const first = testCommand('lanes', T, 'shard', 'move', { partition: 's0', sourceNode: 'node0', targetNode: 'node2' });
  const topic = addTopicPartitionsCommand('lanes', TOPIC, 3);
  const second = testCommand('lanes', T, 'shard', 'move', { partition: 's1', sourceNode: 'node1', targetNode: 'node0' });
  await new StoreLanes(engine).runBatch([first, topic, second].map((cmd, i) => ({ at: `batch:${i}`, cmd })));

  const at = (commandId: string, status: string) => results.findIndex((r) => r.commandId === commandId && r.status === status);
  for (const c of [first, topic, second])
    assert.ok(
      at(c.commandId, 'SUCCEEDED') >= 0,
      `${c.action} ${c.commandId} SUCCEEDED: ${JSON.stringify(results.filter((r) => r.commandId === c.commandId).at(-1))}`,
    );
  assert.ok(at(topic.commandId, 'SUCCEEDED') < at(first.commandId, 'SUCCEEDED'), 'the Kafka command did not wait for the move');
  assert.ok(at(second.commandId, 'ACCEPTED') > at(first.commandId, 'SUCCEEDED'), 'the second move started after the first succeeded');
  const routes = await loadRoutes(pgAdapter.coord, T);
  assert.deepEqual(
    routes!.shards.map((s) => [s.shard, s.node]),
    [
      ['s0', 'node2'],
      ['s1', 'node0'],
    ],
  );
  assert.equal((await readAll(cfg, T)).rows.size, 4000, 'every row kept');
  assert.equal((await admin.fetchTopicMetadata({ topics: [TOPIC] })).topics[0]!.partitions.length, 3);
});
