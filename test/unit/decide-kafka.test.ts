import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_TOPIC_PLAN, planTopicPartitions, type TopicPlanConfig } from '../../processors/decide/kafka/partitions.js';
import { commandParamsReason } from '../../schemas/commandParams.js';
import { NOW, fc } from './decide-helpers.js';

const cfg: TopicPlanConfig = { ...DEFAULT_TOPIC_PLAN, store: 'kafka', windowMs: 60_000, recordsPerPartitionPerSec: 100, targetUtil: 0.5 };
const series = (topic: string) => `kafka|${topic}|topic.records_in_total`;

test('a topic forecast over what its partitions carry gets the count that carries the upper bound', () => {
  // 2 partitions carry 2 × 100 × 0.5 = 100 records/s; the forecast rises to 260 (upper 312)
  const f = fc(series('orders.events'), [80, 150, 260, 200], 0.2);
  const r = planTopicPartitions([f], [{ topic: 'orders.events', partitions: 2 }], new Map(), NOW, 'kafka', cfg);
  assert.equal(r.commands.length, 1, r.explanations.join('\n'));
  const c = r.commands[0]!;
  assert.equal(c.kind, 'partition');
  assert.equal(c.action, 'add_topic_partitions');
  assert.equal(c.storeKind, 'kafka');
  assert.equal(c.table, 'orders_events');
  assert.equal(c.params.topic, 'orders.events');
  assert.equal(c.params.partitions, '7'); // ceil(312 / 50)
  assert.equal(c.evidence.capacity, 100);
  assert.ok(c.evidence.forecastUpper > c.evidence.capacity!);
  assert.equal(c.deadline, f.points[2]!.ts, 'due when the peak is forecast');
  assert.equal(commandParamsReason(c), null);
});

test('no command under capacity, for a compacted or an internal topic, in cooldown, at the cap, or for another series', () => {
  const hot = fc(series('t'), [500], 0);
  const internal = 'shardcast.internal.ingest.routed';
  const none = (r: ReturnType<typeof planTopicPartitions>) => assert.equal(r.commands.length, 0, r.explanations.join('\n'));
  none(planTopicPartitions([fc(series('t'), [40], 0.1)], [{ topic: 't', partitions: 1 }], new Map(), NOW, 'kafka', cfg));
  none(planTopicPartitions([hot], [{ topic: 't', partitions: 1, compacted: true }], new Map(), NOW, 'kafka', cfg));
  none(planTopicPartitions([fc(series(internal), [500], 0)], [{ topic: internal, partitions: 1 }], new Map(), NOW, 'kafka', cfg));
  none(planTopicPartitions([hot], [{ topic: 't', partitions: 1 }], new Map([['t', NOW - 1_000]]), NOW, 'kafka', cfg));
  none(planTopicPartitions([hot], [{ topic: 't', partitions: 256 }], new Map(), NOW, 'kafka', cfg));
  none(planTopicPartitions([fc('pg-shards|t|k0', [500], 0)], [{ topic: 't', partitions: 1 }], new Map(), NOW, 'kafka', cfg));
  none(planTopicPartitions([hot], [], new Map(), NOW, 'kafka', cfg));
});

test('one command adds at most maxIncrease partitions; the id is stable within a window', () => {
  const f = fc(series('t'), [100_000], 0);
  const a = planTopicPartitions([f], [{ topic: 't', partitions: 4 }], new Map(), NOW, 'kafka', cfg);
  assert.equal(a.commands[0]!.params.partitions, String(4 + cfg.maxIncrease));
  const b = planTopicPartitions([f], [{ topic: 't', partitions: 4 }], new Map(), NOW + 1_000, 'kafka', cfg);
  assert.equal(a.commands[0]!.commandId, b.commands[0]!.commandId);
});
