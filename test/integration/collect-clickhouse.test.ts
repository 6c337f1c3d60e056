/**
 * The ClickHouse telemetry collector against the real server: queries a plain HTTP client runs
 * come out of system.query_log as QueryEvents on shardcast.telemetry.queries, each once, with
 * dialect, duration and rows; shardcast's own client's queries are not telemetry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startClickHouseCollector } from '../../pipelines/collectClickHouse.js';
import { openContext } from '../../pipelines/context.js';
import type { QueryEvent } from '../../schemas/types.js';
import { TOPICS } from '../../schemas/topics.js';
import { createClickHouse } from '../../stores/clickhouse/client.js';
import { startGroupsAtEnd } from '../../topics/admin.js';
import { consumeTopics } from '../../topics/consumer.js';
import { cfg, eventually, uniq } from './helpers.js';

/** A client that is not shardcast: plain HTTP, its own user agent. */
async function appQuery(sql: string): Promise<string> {
  const res = await fetch(cfg.clickhouseUrl, { method: 'POST', body: sql, headers: { 'user-agent': 'orders-app/1.0' } });
  const text = await res.text();
  if (!res.ok) throw new Error(`ClickHouse: ${text}`);
  return text;
}

test('queries run on ClickHouse become QueryEvents, each once; shardcast’s own are skipped', { timeout: 180_000 }, async () => {
  const marker = uniq('chq').replace(/[^a-z0-9]/g, '_');
  const source = `ch_${marker}`;
  const table = `${cfg.clickhouseDatabase}.it_${marker}`;
  const ctx = await openContext('collect-clickhouse-test', cfg);
  await startGroupsAtEnd(ctx.kafka, [[`${marker}-reader`, [TOPICS.queries.name]]]);
  const seen: QueryEvent[] = [];
  const reader = await consumeTopics(ctx.kafka, { groupId: `${marker}-reader`, topics: [TOPICS.queries.name], fromBeginning: false });
  reader.batches$.subscribe(async (ms) => {
    for (const m of ms) {
      if (m.key?.toString() !== source) continue;
      const e = await ctx.serde.decode<QueryEvent>(m.topic, m.value).catch(() => null);
      if (e?.sql?.includes(marker)) seen.push(e);
    }
  });
  const collector = await startClickHouseCollector(cfg, { source, pollMs: 300, flushLogs: true });
  const own = createClickHouse(cfg);
  try {
    await appQuery(`CREATE TABLE ${table} (id UInt64, region String, amount Float64) ENGINE = MergeTree() ORDER BY id`);
    await appQuery(`INSERT INTO ${table} SELECT number, concat('r', toString(number % 7)), number / 3 FROM system.numbers LIMIT 1000`);
    for (let i = 0; i < 5; i++) await appQuery(`SELECT region, sum(amount) FROM ${table} WHERE id < ${100 * (i + 1)} GROUP BY region`);
    // shardcast's own client: not telemetry
    await own.query({ query: `SELECT count() FROM ${table}`, format: 'JSONEachRow' }).then((r) => r.json());
    await assert.rejects(appQuery(`SELECT no_such_column FROM ${table}`));

    const events = await eventually(async () => (seen.length >= 8 ? seen : undefined), 90_000, 'eight collected queries').catch((err) => {
      throw new Error(`${err.message}: ${seen.length} seen, collector ${JSON.stringify(collector.stats)}`);
    });
    await new Promise((r) => setTimeout(r, 2_000)); // a duplicate or shardcast's own query would have arrived by now
    assert.equal(seen.length, 8, seen.map((e) => e.sql).join('\n'));
    assert.equal(new Set(seen.map((e) => e.eventId)).size, 8, 'each query once');
    const selects = events.filter((e) => e.operation === 'select' && e.status === 'ok');
    assert.equal(selects.length, 5);
    for (const e of selects) {
      assert.equal(e.dialect, 'clickhouse');
      assert.equal(e.client, 'orders-app/1.0');
      assert.ok(e.rowsRead > 0 && e.rowsRead <= 1000, `rows read ${e.rowsRead}`);
      assert.ok(e.durationMs >= 0);
      assert.ok(Math.abs(e.ts - Date.now()) < 120_000, 'event time from the log');
    }
    assert.equal(events.filter((e) => e.operation === 'insert')[0]?.rowsWritten, 1000);
    assert.equal(events.filter((e) => e.status === 'error').length, 1, 'the failed query, as an error');
    assert.ok(!events.some((e) => e.sql?.startsWith('SELECT count()')), 'shardcast’s own query is not telemetry');
  } finally {
    await appQuery(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await own.close();
    await collector.stop();
    await reader.stop();
    await ctx.close();
  }
});
