/**
 * The PostgreSQL telemetry collector against real shard nodes: statements a plain client runs
 * (with bound parameters and without) come out of the nodes' csvlogs as QueryEvents on
 * shardcast.telemetry.queries, each once, with its node, duration, client and literal values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startCollector } from '../../pipelines/collect.js';
import { openContext } from '../../pipelines/context.js';
import type { QueryEvent } from '../../schemas/types.js';
import { TOPICS } from '../../schemas/topics.js';
import { consumeTopics } from '../../topics/consumer.js';
import { cfg, eventually, uniq } from './helpers.js';

test('statements run on the shard nodes become QueryEvents, each once, with node and duration', { timeout: 180_000 }, async () => {
  const marker = uniq('collect').replace(/[^a-z0-9]/g, '_');
  const app = `collect-test-${process.pid}`;
  const ctx = await openContext('collect-test', cfg);
  const seen: QueryEvent[] = [];
  const reader = await consumeTopics(ctx.kafka, { groupId: `${marker}-reader`, topics: [TOPICS.queries.name], fromBeginning: true });
  reader.batches$.subscribe(async (ms) => {
    for (const m of ms) {
      if (m.key?.toString() !== `collect_${marker}`) continue;
      const e = await ctx.serde.decode<QueryEvent>(m.topic, m.value).catch(() => null);
      if (e?.sql?.includes(marker)) seen.push(e);
    }
  });
  const collector = await startCollector(cfg, {
    source: `collect_${marker}`,
    fromNow: true,
    pollMs: 100,
    ignoreApplications: ['shardcast-executor'],
  });
  const clients = [1, 2].map((i) => new pg.Client({ connectionString: cfg.pgNodes[i]!, application_name: app }));
  try {
    for (const c of clients) await c.connect();
    for (let i = 0; i < 5; i++) {
      await clients[0]!.query(`SELECT ${i} AS n, '${marker}' AS tag`);
      await clients[1]!.query(`SELECT $1::int AS n, $2::text AS tag`, [100 + i, marker]);
    }
    const events = await eventually(async () => (seen.length >= 10 ? seen : undefined), 120_000, 'ten collected statements');
    await new Promise((r) => setTimeout(r, 1500)); // a duplicate would have arrived by now
    assert.equal(seen.length, 10, 'each statement exactly once');
    const byNode = (n: string) => events.filter((e) => e.node === n);
    assert.equal(byNode('node1').length, 5);
    assert.equal(byNode('node2').length, 5);
    for (const e of events) {
      assert.equal(e.dialect, 'postgres');
      assert.equal(e.client, app);
      assert.ok(e.durationMs >= 0 && Number.isFinite(e.durationMs));
      assert.ok(Math.abs(e.ts - Date.now()) < 120_000, 'event time from the log line');
    }
    // bound parameters are put back as literals, so templates and key ranges work downstream
    assert.ok(
      byNode('node2').some((e) => e.sql!.includes('102') && !e.sql!.includes('$1')),
      byNode('node2')[0]?.sql ?? '',
    );
  } finally {
    for (const c of clients) await c.end().catch(() => undefined);
    await collector.stop();
    await reader.stop();
    await ctx.close();
  }
});
