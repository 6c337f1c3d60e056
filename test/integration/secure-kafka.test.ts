/**
 * A secured cluster: a second broker, started by this test with a SASL_SSL listener (SCRAM-SHA-256
 * over TLS, certificates made here), and the product's own clients against it. Records go through
 * the pipeline context and both consumers (the ingest's worker thread included); `shardcast
 * publish` runs as a user would run it; a wrong password and an untrusted CA are configuration
 * errors within seconds; no secret appears in any log line or error the runs printed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { firstValueFrom, take, toArray } from 'rxjs';
import { loadConfig } from '../../lib/config.js';
import { openContext } from '../../pipelines/context.js';
import { AvroSerde } from '../../schemas/serde.js';
import { TOPICS } from '../../schemas/topics.js';
import type { QueryEvent } from '../../schemas/types.js';
import { consumeTopics } from '../../topics/consumer.js';
import { createKafka } from '../../topics/kafka.js';
import { consumeTopicsOnThread } from '../../topics/threadedConsumer.js';
import { queryEvent, uniq } from './helpers.js';
import { brokerEnv, makeCertificates, secret, startSecureBroker, type SecureBroker } from './secureBroker.js';

const stackDir = loadConfig().stackDir;
let broker: SecureBroker;
/** Everything the product printed or threw in this file, searched for secrets at the end. */
const captured: string[] = [];

before(async () => {
  broker = await startSecureBroker(stackDir);
});

after(async () => {
  await broker?.stop();
});

const event = (source: string, i: number): QueryEvent =>
  queryEvent(`${source}-${i}`, source, { database: 'shop', sql: `SELECT * FROM orders WHERE id = ${i}`, tables: ['orders'] });

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function cli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<CliRun> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('node', ['bin/shardcast.js', ...args], { env: { ...env, LOG_LEVEL: 'debug', SHARDCAST_LOG_FORMAT: 'json' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      captured.push(stdout, stderr);
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

test('records go through SASL_SSL: pipeline context, consumer and consumer thread', { timeout: 180_000 }, async () => {
  const cfg = broker.config();
  const ctx = await openContext('secure-kafka-test', cfg);
  const source = uniq('secure');
  const n = 200;
  try {
    await ctx.producer.send(
      TOPICS.queries.name,
      Array.from({ length: n }, (_, i) => ({ key: source, value: event(source, i) })),
    );
    const consumers = [
      () => consumeTopics(ctx.kafka, { groupId: uniq('secure-plain'), topics: [TOPICS.queries.name] }),
      () => consumeTopicsOnThread(cfg, { groupId: uniq('secure-thread'), topics: [TOPICS.queries.name], clientId: 'secure-thread' }),
    ];
    for (const open of consumers) {
      const s = await open();
      const got = await firstValueFrom(s.messages$.pipe(take(n), toArray()));
      await s.stop();
      const ids = await Promise.all(got.map(async (m) => (await ctx.serde.decode<QueryEvent>(m.topic, m.value)).eventId));
      assert.deepEqual(ids.sort(), Array.from({ length: n }, (_, i) => `${source}-${i}`).sort());
    }
  } finally {
    await ctx.close();
  }
});

test('shardcast publish over SASL_SSL; a wrong password or CA is a config error, fast; no secret printed', {
  timeout: 300_000,
}, async (t) => {
  const dir = path.join(broker.dir, 'cli');
  await mkdir(dir);
  const file = path.join(dir, 'events.jsonl');
  const source = uniq('secure-cli');
  await writeFile(file, `${Array.from({ length: 25 }, (_, i) => JSON.stringify(event(source, i))).join('\n')}\n`);

  const ok = await cli(['publish', 'queries', '--file', file], brokerEnv(broker, stackDir));
  assert.equal(ok.code, 0, ok.stderr.slice(-2000));
  assert.match(ok.stdout, /25/);

  const kafka = createKafka(broker.config(), 'secure-cli-check');
  const serde = AvroSerde.create(broker.config());
  const consumer = await consumeTopics(kafka, { groupId: uniq('secure-cli'), topics: [TOPICS.queries.name] });
  const mine = new Set<string>();
  const sub = consumer.messages$.subscribe((m) => {
    void serde.decode<QueryEvent>(m.topic, m.value).then((e) => e.source === source && mine.add(e.eventId));
  });
  const deadline = Date.now() + 60_000;
  while (mine.size < 25 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  sub.unsubscribe();
  await consumer.stop();
  assert.equal(mine.size, 25, 'every published event is on the secured broker');

  const wrong = secret('wrong');
  const badPassword = await cli(['publish', 'queries', '--file', file], brokerEnv(broker, stackDir, { KAFKA_SASL_PASSWORD: wrong }));
  assert.equal(badPassword.code, 2, badPassword.stderr.slice(-2000));
  assert.match(badPassword.stderr, /KAFKA_SASL_PASSWORD: .*refused the scram-sha-256 credentials of user "shardcast-app"/);
  assert.ok(badPassword.ms < 60_000, `refused credentials end the run in ${badPassword.ms} ms`);

  const other = path.join(broker.dir, 'other-ca');
  const otherCa = (await makeCertificates(other)).ca;
  const badCa = await cli(['publish', 'queries', '--file', file], brokerEnv(broker, stackDir, { KAFKA_SSL_CA: otherCa }));
  assert.equal(badCa.code, 2, badCa.stderr.slice(-2000));
  assert.match(badCa.stderr, /KAFKA_SSL_CA: the certificate of 127\.0\.0\.1:\d+ does not verify/);
  assert.ok(badCa.ms < 60_000, `an untrusted certificate ends the run in ${badCa.ms} ms`);

  t.diagnostic(
    `publish ${ok.ms} ms; wrong password refused in ${badPassword.ms} ms; untrusted CA refused in ${badCa.ms} ms (process start included)`,
  );
  const all = captured.join('\n');
  assert.ok(all.length > 1000, 'the runs logged (debug level)');
  for (const s of [broker.password, wrong]) assert.ok(!all.includes(s), 'a password appears in the captured output');
});
