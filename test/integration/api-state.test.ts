/**
 * The console's views of the running system through the HTTP API on the real stack: the key
 * space and node load of a fresh table from ClickHouse (with the forecast after them), stage
 * state from Kafka, lineage from Neo4j, proposals from a dry run of the real decision engine and
 * one of them executed onto its command topic, the operators' controls, live updates by
 * Server-Sent Events, stopping a command, the audit trail copied to ClickHouse by the sink;
 * roles and parameters refused by name.
 */
import assert from 'node:assert/strict';
import { PIPELINES } from '../../pipelines/run.js';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { parseTokens } from '../../console/http/auth.js';
import { type RunningServer, startServer } from '../../console/http/server.js';
import { openOperations, type Operations } from '../../console/ops/operations.js';
import { createClickHouse, insertRows, queryRows } from '../../analytics/clickhouse.js';
import { forecastRows } from '../../analytics/rows.js';
import { CommandLedger } from '../../executors/ledger.js';
import { openContext } from '../../pipelines/context.js';
import { startSink } from '../../pipelines/sink.js';
import { TOPICS } from '../../schemas/topics.js';
import type { PartitionCommand } from '../../schemas/types.js';
import { consumeAudit, consumeTopic } from './api-helpers.js';
import { testCommand } from './commands.js';
import { BUCKETS, CAPACITY, type ConsoleFixture, openConsoleFixture, risingForecast, STEP, WINDOWS } from './console-fixture.js';
import { eventually, uniq } from './helpers.js';

const VIEWER = `v-${uniq('token')}-0123456789`;
const OPERATOR = `o-${uniq('token')}-0123456789`;
const ADMIN = `a-${uniq('token')}-0123456789`;
const operatorName = uniq('state-op').replace(/[^A-Za-z0-9._@-]/g, '');

let fx: ConsoleFixture;
let ops: Operations;
let server: RunningServer;
let ledger: CommandLedger;
const settle: string[] = [];

before(async () => {
  fx = await openConsoleFixture('apistate');
  ledger = await CommandLedger.open(fx.cfg.pgNodes[0]!);
  ops = openOperations(fx.cfg, {
    log: pino({ level: 'silent' }),
    proposals: { decide: fx.decide, source: fx.source, nodeCapacity: CAPACITY, scope: fx.id },
  });
  const tokens = parseTokens(`viewer1:viewer:${VIEWER},${operatorName}:operator:${OPERATOR},root:admin:${ADMIN}`);
  server = await startServer({ ops, tokens, log: pino({ level: 'silent' }), port: 0 });
});

after(async () => {
  for (const id of settle) await ledger.setStatus(id, 'REJECTED', { reason: 'test command, settled by the test' });
  await server?.close();
  await ops?.close();
  await ledger?.close();
  await fx?.cleanup();
});

async function call(method: string, path: string, token?: string, body?: string) {
  const res = await fetch(`${server.url}${path}`, { method, body, headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { parameter?: string } };
}

const span = () => `since=${fx.now - 3_600_000}&until=${fx.now + 3_600_000}`;

test('the key space of a table: every window and range from ClickHouse, the forecast after them, in key order', {
  timeout: 60_000,
}, async () => {
  const r = await call('GET', `/api/load/keyspace?table=${fx.table}&${span()}`, VIEWER);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const v = r.body as unknown as {
    buckets: string[];
    windowMs: number;
    cells: { t: number; bucket: string; reads: number; writes: number }[];
    forecast: { t: number; bucket: string; predicted: number; lower: number; upper: number }[];
  };
  assert.deepEqual(v.buckets, BUCKETS);
  assert.equal(v.cells.length, WINDOWS * BUCKETS.length);
  assert.equal(v.windowMs, 10_000);
  const want = fx.aggregates.filter((a) => a.table === fx.table);
  for (const a of want) {
    const c = v.cells.find((x) => x.t === a.windowStart && x.bucket === a.keyBucket);
    assert.deepEqual([c?.reads, c?.writes], [a.reads, a.writes], `window ${a.windowStart} ${a.keyBucket}`);
  }
  const lastObserved = Math.max(...v.cells.map((c) => c.t));
  assert.equal(v.forecast.length, 12 * BUCKETS.length);
  for (const f of v.forecast) {
    assert.ok(f.t > lastObserved, 'the forecast continues after the observed windows');
    assert.ok(f.lower <= f.predicted && f.predicted <= f.upper, 'the interval holds the prediction');
  }
});

test('node load against the forecast, forecasts with intervals, stage state and lineage answer from the servers', {
  timeout: 60_000,
}, async () => {
  const nodes = await call('GET', `/api/load/nodes?source=${fx.source}&${span()}`, VIEWER);
  assert.equal(nodes.status, 200, JSON.stringify(nodes.body));
  assert.deepEqual(nodes.body.nodes, ['node0', 'node1']);
  assert.equal((nodes.body.points as unknown[]).length, WINDOWS * 2);
  assert.equal((nodes.body.forecast as unknown[]).length, 24);

  const fc = await call('GET', `/api/forecasts?table=${fx.table}`, VIEWER);
  assert.equal(fc.status, 200);
  const series = fc.body.series as { seriesId: string; points: unknown[] }[];
  assert.equal(series.length, BUCKETS.length);
  assert.ok(series.every((s) => s.points.length === 12));

  const stages = await call('GET', '/api/stages', VIEWER);
  assert.equal(stages.status, 200, JSON.stringify(stages.body));
  const names = (stages.body.stages as { name: string; state: string }[]).map((s) => s.name);
  assert.deepEqual(names, [...PIPELINES], 'every pipeline, collectors included');
  const group = `console-test-${fx.id}`;
  const none = await call('GET', `/api/stages?group=${group}`, VIEWER);
  assert.ok(
    (none.body.stages as { state: string }[]).every((s) => s.state === 'unknown'),
    'groups nobody ran are unknown',
  );

  const proposals = await call('GET', '/api/proposals', VIEWER); // discovers the table into the catalog
  assert.equal(proposals.status, 200, JSON.stringify(proposals.body));
  const lineage = await call('GET', `/api/catalog/lineage?table=${fx.table}`, VIEWER);
  assert.equal(lineage.status, 200, JSON.stringify(lineage.body));
  const labels = (lineage.body.nodes as { label: string; name: string }[]).map((n) => `${n.label}:${n.name}`);
  for (const want of [`Table:${fx.table}`, 'Partition:s0', 'Partition:s1', 'Node:node0', 'Node:node1'])
    assert.ok(labels.includes(want), `${want} in ${labels.join(', ')}`);
  assert.equal((await call('GET', '/api/catalog/lineage?table=no_such_table_here', VIEWER)).status, 404);
});

test('where a key lives, what is hot and what derives from a table: the catalog questions the CLI asks, through the API', {
  timeout: 120_000,
}, async () => {
  await call('GET', '/api/proposals', VIEWER); // discovers the table into the catalog
  const low = await call('GET', `/api/catalog/where?table=${fx.table}&key=5`, VIEWER);
  assert.equal(low.status, 200, JSON.stringify(low.body));
  const at = (b: Record<string, unknown>) =>
    (b.partitions as { partition: string; nodes: { node: string; role: string }[] }[]).map(
      (p) => `${p.partition}@${p.nodes.map((n) => `${n.node}:${n.role}`).join(',')}`,
    );
  assert.equal(low.body.by, 'range');
  assert.deepEqual(at(low.body), ['s0@node0:primary']);
  assert.deepEqual(at((await call('GET', `/api/catalog/where?table=${fx.table}&key=1000`, VIEWER)).body), ['s1@node1:primary']);

  const deps = await call('GET', `/api/catalog/deps?table=${fx.table}`, VIEWER);
  assert.equal(deps.status, 200, JSON.stringify(deps.body));
  assert.equal((deps.body.object as { name: string }).name, fx.table);
  assert.ok(Array.isArray(deps.body.dependents));

  const hot = await call('GET', '/api/catalog/hot?limit=5&since=3600000', VIEWER);
  assert.equal(hot.status, 200, JSON.stringify(hot.body));
  assert.ok((hot.body.series as unknown[]).length <= 5);

  // bad parameters are refused by name; unknown tables are 404; discovery needs an operator
  for (const [path, parameter] of [
    [`/api/catalog/where?table=${fx.table}`, 'key'],
    [`/api/catalog/where?table=${fx.table}&key=${'9'.repeat(1001)}`, 'key'],
    ['/api/catalog/hot?limit=0', 'limit'],
    ['/api/catalog/hot?since=-1', 'since'],
    ['/api/catalog/deps?table=a%20b', 'table'],
  ] as const) {
    const r = await call('GET', path, VIEWER);
    assert.equal(r.status, 400, `${path}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.parameter, parameter, path);
  }
  assert.equal((await call('GET', '/api/catalog/where?table=no_such_table_here&key=1', VIEWER)).status, 404);
  assert.equal((await call('POST', '/api/catalog/discover', VIEWER, '{}')).status, 403);

  const audited = consumeAudit(fx.cfg, (a) => a.action === 'catalog.discover' && a.actor === operatorName, 90_000);
  const discovered = await call('POST', '/api/catalog/discover', OPERATOR, '{}');
  assert.equal(discovered.status, 200, JSON.stringify(discovered.body));
  const sources = (discovered.body.diffs as { source: string }[]).map((d) => d.source);
  assert.ok(sources.includes('pg-shards'), `discovered ${sources.join(', ')}`);
  assert.equal((await audited).role, 'operator');
});

test('proposals are a dry run of the decision engine with evidence; executing one publishes it signed, audited', {
  timeout: 120_000,
}, async () => {
  // another source's forecast from half an hour later (a replay, another table's run) must not
  // move this source's round past its own horizon
  const later = fx.now + 180 * STEP;
  const ch = createClickHouse(fx.cfg);
  await insertRows(
    ch,
    fx.cfg.clickhouseDatabase,
    'forecasts',
    forecastRows(risingForecast(`other_${fx.id}|*|*||node0`, later, later, 1, 0)),
  );
  await ch.close();
  const r = await call('GET', '/api/proposals', VIEWER);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.via, 'catalog');
  const props = r.body.proposals as {
    commandId: string;
    action: string;
    table: string;
    partition: string;
    evidence: { forecastPeak: number };
  }[];
  const split = props.find((p) => p.table === fx.table && p.action === 'split');
  assert.ok(split, `a split of the rising range is proposed: ${JSON.stringify(r.body).slice(0, 800)}`);
  assert.equal(split.partition, 's0');
  assert.ok(split.evidence.forecastPeak > CAPACITY, 'its evidence is the forecast over capacity');
  assert.ok((r.body.plans as unknown[]).length > 0, 'the plans are scored by the cost model');

  assert.equal((await call('POST', `/api/proposals/${split.commandId}/execute`, VIEWER)).status, 403);
  assert.equal((await call('POST', '/api/proposals/no-such-proposal/execute', OPERATOR)).status, 404);
  const published = consumeTopic<PartitionCommand>(fx.cfg, TOPICS.commandsPartition, (c) => c.commandId === split.commandId, 60_000);
  const audited = consumeAudit(fx.cfg, (e) => e.target === split.commandId && e.action === 'proposal.execute');
  const ex = await call('POST', `/api/proposals/${split.commandId}/execute`, OPERATOR);
  assert.equal(ex.status, 200, JSON.stringify(ex.body));
  const cmd = await published;
  assert.equal(cmd.table, fx.table);
  assert.equal((await audited).actor, operatorName);
  assert.equal((await call('POST', `/api/proposals/${split.commandId}/execute`, OPERATOR)).status, 404, 'executed once only');
});

test('controls: pause and resume one scope, approval mode per store (admin only), each audited and sent as events', {
  timeout: 60_000,
}, async () => {
  const events = new AbortController();
  const res = await fetch(`${server.url}/api/events`, { headers: { authorization: `Bearer ${VIEWER}` }, signal: events.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  let text = '';
  const reading = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) text += dec.decode(chunk);
  })().catch(() => undefined);
  try {
    const scope = fx.id;
    const paused = await call('POST', '/api/controls/decide/pause', OPERATOR, JSON.stringify({ scope }));
    assert.equal(paused.status, 200, JSON.stringify(paused.body));
    assert.equal(paused.body.deciding, 'paused');
    assert.equal(paused.body.pausedBy, operatorName);
    assert.equal((await call('GET', '/api/controls', VIEWER)).body.deciding, 'running', 'other scopes keep deciding');
    const props = await call('GET', '/api/proposals', VIEWER);
    assert.equal(props.body.paused, true, 'proposals say deciding is paused in their scope');
    const resumed = await call('POST', '/api/controls/decide/resume', OPERATOR, JSON.stringify({ scope }));
    assert.equal(resumed.body.deciding, 'running');

    const store = `store-${fx.id}`.slice(0, 60);
    assert.equal((await call('POST', `/api/controls/approval/${store}`, OPERATOR, '{"mode":"manual"}')).status, 403);
    const bad = await call('POST', `/api/controls/approval/${store}`, ADMIN, '{"mode":"never"}');
    assert.deepEqual([bad.status, bad.body.parameter], [400, 'mode']);
    const set = await call('POST', `/api/controls/approval/${store}`, ADMIN, '{"mode":"manual"}');
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.ok((set.body.approval as { store: string; mode: string }[]).some((a) => a.store === store && a.mode === 'manual'));

    const deadline = Date.now() + 10_000;
    while (!/event: audit[\s\S]*decide\.resume[\s\S]*approval\.mode/.test(text) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));
    assert.match(text, /event: hello/);
    for (const action of ['decide.pause', 'decide.resume', 'approval.mode']) assert.ok(text.includes(`"action":"${action}"`), action);
  } finally {
    events.abort();
    await reading;
  }
});

test('stop: a running command gets a stop request the executor acts on; one not in flight is a 409', { timeout: 60_000 }, async () => {
  const running = testCommand('api-state', fx.table, 'partition', 'split', { partition: 's0' }, { splitAt: '500' });
  await ledger.claim(running.commandId, running.action, running);
  await ledger.setStatus(running.commandId, 'RUNNING', { phase: 'copy' });
  settle.push(running.commandId);
  assert.equal((await call('POST', `/api/commands/${running.commandId}/stop`, VIEWER)).status, 403);
  const audited = consumeAudit(fx.cfg, (e) => e.target === running.commandId && e.action === 'command.stop');
  const r = await call('POST', `/api/commands/${running.commandId}/stop`, OPERATOR);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.stopRequestedBy, operatorName);
  assert.ok(
    (await ledger.stopRequests()).some((s) => s.commandId === running.commandId),
    'the executor sees the request',
  );
  assert.equal((await audited).actor, operatorName);

  const waiting = testCommand('api-state', fx.table, 'partition', 'split', { partition: 's0', requiresApproval: true }, { splitAt: '5' });
  await ledger.holdForApproval(waiting.commandId, waiting.action, waiting);
  settle.push(waiting.commandId);
  const refused = await call('POST', `/api/commands/${waiting.commandId}/stop`, OPERATOR);
  assert.equal(refused.status, 409);
  assert.match(String(refused.body.reason), /deny it instead/);
  assert.equal((await call('POST', `/api/commands/${uniq('ghost')}/stop`, OPERATOR)).status, 404);
});

test('the sink copies every audited write to ClickHouse', { timeout: 120_000 }, async () => {
  const ctx = await openContext('api-state-sink', fx.cfg);
  const sink = await startSink(ctx, { groupId: `api-state-sink-${fx.id}`, topics: [TOPICS.audit.name] });
  const ch = createClickHouse(fx.cfg);
  try {
    const want = ['proposal.execute', 'decide.pause', 'decide.resume', 'command.stop'];
    const rows = await eventually(
      async () => {
        const r = await queryRows<{ action: string; role: string; via: string }>(
          ch,
          `SELECT action, role, via FROM ${fx.cfg.clickhouseDatabase}.audit FINAL WHERE actor = '${operatorName}'`,
        );
        return want.every((a) => r.some((x) => x.action === a)) ? r : undefined;
      },
      60_000,
      `the audit rows of ${operatorName} in ClickHouse`,
    );
    assert.ok(rows.every((r) => r.role === 'operator' && r.via === 'api'));
  } finally {
    await sink.stop();
    await ctx.close();
    await ch.close();
  }
});
