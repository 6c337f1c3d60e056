/**
 * The Kafka executor against the local broker (KAFKA_BROKERS), through the executor engine and
 * the PostgreSQL ledger: add partitions to a topic (verified in the metadata), a redelivery under
 * a new id is a no-op, a replayed id is refused, and hostile commands are REJECTED with a reason
 * and change nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Admin } from '../../lib/kafkajs.js';
import { ExecutorEngine } from '../../executors/engine.js';
import { KafkaTopicAdapter, topicAlias } from '../../executors/kafka/adapter.js';
import { CommandLedger } from '../../executors/ledger.js';
import type { AnyCommand, CommandResult } from '../../schemas/types.js';
import { createKafka } from '../../topics/kafka.js';
import { testCommand } from './commands.js';
import { cfg, ledgerUnreachable } from './helpers.js';

const kafkaCommand = (table: string, params: Record<string, string>, fields: Record<string, unknown> = {}): AnyCommand =>
  testCommand('exec-kafka', table, 'partition', 'add_topic_partitions', { store: 'kafka', storeKind: 'kafka', ...fields }, params);

async function reachable(admin: Admin): Promise<string | null> {
  try {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise((_, rej) => (timer = setTimeout(() => rej(new Error('connect timeout')), 15_000)));
    await Promise.race([admin.connect(), timeout]).finally(() => clearTimeout(timer));
  } catch (err) {
    return `Kafka unreachable at ${cfg.kafkaBrokers.join(',')} (${(err as Error).message}); start the stack (shardcast stack up)`;
  }
  return ledgerUnreachable();
}

const admin = createKafka(cfg, 'exec-kafka-test').admin();
// CI starts the stack first: a server that does not answer is a failure, not a skip.
const unreachable = await reachable(admin);
if (unreachable) {
  await admin.disconnect().catch(() => {});
  throw new Error(unreachable);
}

describe('kafka executor: add partitions, redelivery, hostile commands', {}, () => {
  const suffix = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
  const TOPIC = `exec_kafka_${suffix}`;
  const DOTTED = `exec.kafka-dotted.${suffix}`;
  const COMPACTED = `exec_kafka_compacted_${suffix}`;
  const results: CommandResult[] = [];
  let ledger: CommandLedger;
  let adapter: KafkaTopicAdapter;
  let engine: ExecutorEngine;
  const last = (cmd: AnyCommand) => results.filter((r) => r.commandId === cmd.commandId).at(-1)!;
  const partitions = async (topic: string) => (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]!.partitions.length;
  let grown: AnyCommand;

  before(async () => {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        { topic: TOPIC, numPartitions: 2, replicationFactor: 1 },
        { topic: DOTTED, numPartitions: 1, replicationFactor: 1 },
        { topic: COMPACTED, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
      ],
    });
    ledger = await CommandLedger.open(cfg.pgNodes[0]!);
    adapter = KafkaTopicAdapter.open(cfg, { maxPartitions: 64, maxIncrease: 16 });
    engine = new ExecutorEngine({
      executorName: 'exec-kafka-test',
      adapters: [adapter],
      ledger,
      emit: async (r) => void results.push(r),
      bytesPerSecond: 1e12,
    });
  });

  after(async () => {
    await adapter?.close();
    await ledger?.close();
    await admin.deleteTopics({ topics: [TOPIC, DOTTED, COMPACTED] }).catch(() => {});
    await admin.disconnect();
  });

  test('a topic over capacity grows to the asked count, verified in the metadata', async () => {
    assert.equal(await partitions(TOPIC), 2);
    grown = kafkaCommand(
      TOPIC,
      { partitions: '6' },
      {
        evidence: {
          seriesId: null,
          currentLoad: 900,
          forecastPeak: 2400,
          forecastLower: 2000,
          forecastUpper: 2800,
          peakAt: null,
          capacity: 1000,
          model: 'test',
        },
      },
    );
    const status = await engine.run(grown);
    const r = last(grown);
    assert.equal(status, 'SUCCEEDED', `reason: ${r.reason}`);
    assert.equal(r.verified, true);
    assert.equal(r.details.from, '2');
    assert.equal(r.details.partitions, '6');
    const md = await admin.fetchTopicMetadata({ topics: [TOPIC] });
    const parts = md.topics[0]!.partitions;
    assert.equal(parts.length, 6);
    assert.ok(
      parts.every((p) => p.leader >= 0),
      'every partition has a leader',
    );

    // A topic whose name is not an identifier: params.topic, table = its alias.
    const dotted = kafkaCommand(topicAlias(DOTTED), { topic: DOTTED, partitions: '3' });
    assert.equal(await engine.run(dotted), 'SUCCEEDED', `reason: ${last(dotted).reason}`);
    assert.equal(await partitions(DOTTED), 3);
  });

  test('redelivery: a new id for a count the topic already has is a SUCCEEDED no-op; a replayed id is REJECTED', async () => {
    for (const count of ['6', '4']) {
      const again = kafkaCommand(TOPIC, { partitions: count });
      assert.equal(await engine.run(again), 'SUCCEEDED');
      assert.match(last(again).details.noop ?? '', /already 6 partitions/);
    }
    assert.equal(await engine.run(grown), 'REJECTED');
    assert.match(last(grown).reason ?? '', /duplicate command id \(already SUCCEEDED\)/);
    assert.equal(await partitions(TOPIC), 6);
  });

  test('hostile commands are REJECTED with a reason and change nothing', async () => {
    // the adapter's reason, or the command contract's (schemas/commandParams.ts), which is checked first
    const WHOLE = /not a whole number|params\.partitions: expected partitions, the topic partition count wanted \(a whole number\)/;
    const bad: [AnyCommand, RegExp][] = [
      [kafkaCommand(`exec_kafka_missing_${suffix}`, { partitions: '4' }), /unknown topic/],
      [kafkaCommand(`x; DROP TABLE y`, { partitions: '8' }), /not a plain identifier/],
      [kafkaCommand('alias_x', { topic: 'x; rm -rf /', partitions: '8' }), /not a legal topic name/],
      [kafkaCommand('wrong_alias', { topic: DOTTED, partitions: '4' }), /does not name topic/],
      [kafkaCommand(TOPIC, { partitions: '100000' }), /outside 1\.\.64/],
      [kafkaCommand(TOPIC, { partitions: '40' }), /more than 16 at once/],
      [kafkaCommand(TOPIC, { partitions: '-3' }), WHOLE],
      [kafkaCommand(TOPIC, { partitions: '7.5' }), WHOLE],
      [kafkaCommand(TOPIC, {}), /not a whole number|params\.partitions: missing: partitions/],
      [kafkaCommand('__consumer_offsets', { partitions: '60' }), /internal topic/],
      [kafkaCommand(COMPACTED, { partitions: '4' }), /compacted/],
      [
        kafkaCommand(
          TOPIC,
          { partitions: '8' },
          {
            evidence: {
              seriesId: null,
              currentLoad: 10,
              forecastPeak: 20,
              forecastLower: 10,
              forecastUpper: 30,
              peakAt: null,
              capacity: 1000,
              model: null,
            },
          },
        ),
        /no overload/,
      ],
      [kafkaCommand(TOPIC, { partitions: '8' }, { store: 'other-kafka' }), /no executor/],
    ];
    for (const [cmd, reason] of bad) {
      const status = await engine.run(cmd);
      const r = last(cmd);
      assert.equal(status, 'REJECTED', `${JSON.stringify(cmd.params)} should be rejected`);
      assert.match(r.reason ?? '', reason, `${JSON.stringify(cmd.params)}: ${r.reason}`);
      assert.equal((await ledger.get(cmd.commandId))?.status, 'REJECTED');
    }
    assert.equal(await partitions(TOPIC), 6);
    assert.equal(await partitions(COMPACTED), 1);
    assert.equal(await partitions(DOTTED), 3);
    assert.ok(!(await admin.listTopics()).includes(`exec_kafka_missing_${suffix}`), 'validation did not create the missing topic');
  });
});
