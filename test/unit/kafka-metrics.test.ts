import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KAFKA_METRICS, type OffsetSnapshot, kafkaMetricSamples } from '../../collectors/kafkaRates.js';
import { metricObservation } from '../../processors/forecast/metricSeries.js';

const T0 = 1_700_000_000_000;
const snap = (ts: number, highs: number[], committed: Record<number, number> = {}): OffsetSnapshot => ({
  ts,
  topics: [{ topic: 'events', partitions: highs.map((high, partition) => ({ partition, high })) }],
  groups: Object.entries(committed).map(([p, c]) => ({ groupId: 'g1', topic: 'events', partition: Number(p), committed: c })),
});
const find = (s: ReturnType<typeof kafkaMetricSamples>, metric: string, partition: string) =>
  s.find((x) => x.metric === metric && x.labels.partition === partition);

test('two reads give per-partition and per-topic produce rates, consume rates and lag', () => {
  const s = kafkaMetricSamples(snap(T0, [100, 50], { 0: 90, 1: 50 }), snap(T0 + 2_000, [300, 70], { 0: 250, 1: 60 }), 'kafka');
  assert.equal(find(s, KAFKA_METRICS.partitionIn, '0')?.value, 100);
  assert.equal(find(s, KAFKA_METRICS.partitionIn, '1')?.value, 10);
  const total = find(s, KAFKA_METRICS.topicIn, '*')!;
  assert.equal(total.value, 110);
  assert.equal(total.labels.partitions, '2');
  assert.equal(total.node, 'events');
  assert.equal(total.ts, T0 + 2_000);
  assert.equal(find(s, KAFKA_METRICS.groupOut, '0')?.value, 80);
  assert.equal(find(s, KAFKA_METRICS.groupLag, '0')?.value, 50);
  assert.equal(find(s, KAFKA_METRICS.groupLag, '1')?.value, 10);
  assert.equal(find(s, KAFKA_METRICS.groupLag, '1')?.labels.group, 'g1');
});

test('the first read gives lag only; a watermark that went back gives no rate', () => {
  const first = kafkaMetricSamples(null, snap(T0, [100], { 0: 40 }), 'kafka');
  assert.deepEqual(
    first.map((x) => x.metric),
    [KAFKA_METRICS.groupLag],
  );
  const recreated = kafkaMetricSamples(snap(T0, [100]), snap(T0 + 1_000, [5]), 'kafka');
  assert.equal(recreated.length, 0);
});

test('a topic-rate sample is the value of its series in the window it falls in; other metrics are not forecast', () => {
  const s = kafkaMetricSamples(snap(T0, [0]), snap(T0 + 2_500, [500]), 'kafka');
  const o = metricObservation(find(s, KAFKA_METRICS.topicIn, '*')!, 2_000);
  assert.deepEqual(o, { source: 'kafka', seriesId: 'kafka|events|topic.records_in_total', windowStart: T0 + 2_000, queries: 200 });
  assert.equal(metricObservation(find(s, KAFKA_METRICS.partitionIn, '0')!, 2_000), null);
  assert.equal(metricObservation({ ...find(s, KAFKA_METRICS.topicIn, '*')!, value: Number.NaN }, 2_000), null);
});
