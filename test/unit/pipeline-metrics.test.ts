/** The metrics show a stage that retries as stalled, not as idle. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs from '../../lib/kafkajs.js';
import { pipelineMetrics, type MeteredStage } from '../../pipelines/metrics.js';
import { initialHealth } from '../../pipelines/failure.js';

const stats = () => ({ consumed: 0, produced: 0, handled: 0, deadLettered: 0, batches: 0 });

test('state, stalled seconds and retries per pipeline', async () => {
  const retrying = {
    ...initialHealth(Date.now() - 5_000),
    state: 'retrying' as const,
    retries: 3,
    lastError: 'send: Kafka did not answer',
  };
  const stages: MeteredStage[] = [
    { pipeline: 'sink', stage: { stats: stats(), groupId: 'g-sink', topics: [], health: retrying } },
    { pipeline: 'decide', stage: { stats: stats(), groupId: 'g-decide', topics: [], health: initialHealth() } },
    { pipeline: 'ingest', stage: { stats: stats(), groupId: 'g-ingest', topics: [] } },
  ];
  // never connected: the lag gauge is not collected here
  const kafka = new kafkajs.Kafka({ brokers: ['127.0.0.1:1'], logLevel: kafkajs.logLevel.NOTHING });
  const { registry, close } = pipelineMetrics(kafka, () => stages);
  try {
    const state = await registry.getSingleMetricAsString('shardcast_pipeline_state');
    assert.match(state, /shardcast_pipeline_state\{pipeline="sink",state="retrying"\} 1/);
    assert.match(state, /shardcast_pipeline_state\{pipeline="sink",state="running"\} 0/);
    assert.match(state, /shardcast_pipeline_state\{pipeline="decide",state="running"\} 1/);
    assert.match(state, /shardcast_pipeline_state\{pipeline="ingest",state="running"\} 1/);
    const stalled = await registry.getSingleMetricAsString('shardcast_pipeline_stalled_seconds');
    const sink = Number(/pipeline="sink"\} ([0-9.]+)/.exec(stalled)?.[1]);
    assert.ok(sink >= 5 && sink < 60, stalled);
    assert.match(stalled, /pipeline="decide"\} 0\b/);
    const retries = await registry.getSingleMetricAsString('shardcast_pipeline_retries_total');
    assert.match(retries, /pipeline="sink"\} 3/);
  } finally {
    await close();
  }
});

test('a scrape does not wait for a Kafka that does not answer: lag comes back without figures and its age says so', async () => {
  const stages: MeteredStage[] = [
    {
      pipeline: 'ingest',
      stage: { stats: stats(), groupId: 'g-ingest', topics: ['shardcast.telemetry.queries'], health: initialHealth() },
    },
  ];
  // nothing listens on port 1: kafkajs retries the connection for about 6 s here (tens of seconds by default)
  const kafka = new kafkajs.Kafka({
    brokers: ['127.0.0.1:1'],
    logLevel: kafkajs.logLevel.NOTHING,
    retry: { retries: 3, initialRetryTime: 1_000, maxRetryTime: 2_000 },
  });
  const { registry, close } = pipelineMetrics(kafka, () => stages, { lagWaitMs: 300 });
  try {
    const t0 = performance.now();
    const text = await registry.metrics();
    const took = performance.now() - t0;
    assert.ok(took < 2_000, `the scrape took ${Math.round(took)} ms`);
    assert.match(text, /^shardcast_consumer_lag_age_seconds -1$/m);
    assert.match(text, /shardcast_pipeline_state\{pipeline="ingest",state="running"\} 1/);
  } finally {
    await close();
  }
});
