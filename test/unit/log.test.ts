import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { libraryLogClass, logFormat } from '../../lib/log.js';
import { ConfigError } from '../../lib/config.js';
import { kafkaLogCreator } from '../../topics/kafka.js';

/** Logs one line from a module logger and one kafkajs entry in a child process; returns its stderr. */
function logInChild(format: string): string {
  const script = [
    "import { logger } from './lib/log.ts';",
    "import { kafkaLogCreator } from './topics/kafka.ts';",
    "logger('ingest').info({ partition: 3 }, 'caught up');",
    "kafkaLogCreator()()({ namespace: 'Connection', level: 1, label: 'ERROR', log: { timestamp: 't', logger: 'kafkajs', message: 'Connection error', broker: 'b:9092' } });",
  ].join('\n');
  const r = spawnSync('node', ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, SHARDCAST_LOG_FORMAT: format, LOG_LEVEL: 'info' },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '', 'logs stay off stdout');
  return r.stderr;
}

test('log format: pretty on a terminal, JSON elsewhere, the environment decides first', () => {
  assert.equal(logFormat({}, true), 'pretty');
  assert.equal(logFormat({}, false), 'json');
  assert.equal(logFormat({ SHARDCAST_LOG_FORMAT: 'json' }, true), 'json');
  assert.equal(logFormat({ SHARDCAST_LOG_FORMAT: 'pretty' }, false), 'pretty');
  assert.throws(
    () => logFormat({ SHARDCAST_LOG_FORMAT: 'fancy' }, false),
    (e) => e instanceof ConfigError && /SHARDCAST_LOG_FORMAT/.test(e.message),
  );
});

test('pretty logs are human lines (module, message, fields), kafkajs entries included', () => {
  const lines = logInChild('pretty').trim().split('\n');
  assert.equal(lines.length, 2);
  for (const l of lines) assert.doesNotMatch(l, /^\{/, 'no raw JSON line');
  assert.match(lines[0]!, /INFO.*ingest: caught up.*"partition":3/);
  assert.match(lines[1]!, /ERROR.*kafkajs: Connection error.*"broker":"b:9092"/);
});

test('JSON logs are one object per line, for machines', () => {
  const lines = logInChild('json').trim().split('\n');
  const [ours, kafka] = lines.map((l) => JSON.parse(l));
  assert.deepEqual(
    { mod: ours.mod, msg: ours.msg, level: ours.level, partition: ours.partition },
    { mod: 'ingest', msg: 'caught up', level: 30, partition: 3 },
  );
  assert.equal(kafka.mod, 'kafkajs');
  assert.equal(kafka.level, 50);
});

test('kafkajs levels map to pino levels; its timestamp and logger name are dropped', () => {
  const out: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      out.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const log = pino({ level: 'debug', base: undefined }, sink);
  const write = kafkaLogCreator(log)();
  for (const [level, message] of [
    [1, 'e'],
    [2, 'w'],
    [4, 'i'],
    [5, 'd'],
  ] as const)
    write({ namespace: 'ns', level, label: '', log: { timestamp: 't', logger: 'kafkajs', message, clientId: 'c' } });
  assert.deepEqual(
    out.map((o) => [o.level, o.msg]),
    [
      [50, 'e'],
      [40, 'w'],
      [30, 'i'],
      [20, 'd'],
    ],
  );
  assert.equal(out[0]!.timestamp, undefined);
  assert.equal(out[0]!.logger, undefined);
  assert.equal(out[0]!.ns, 'ns');
  assert.equal(out[0]!.clientId, 'c');
});

test('the ClickHouse client logs through ours: level kept, the error as its message', () => {
  const out: Record<string, unknown>[] = [];
  const LibraryLog = libraryLogClass('clickhouse');
  const log = new LibraryLog();
  // a stand-in sink: the class writes through the root logger, so swap its method for the test
  (log as unknown as { log: { error: (o: object, m: string) => void } }).log = {
    error: (o, m) => out.push({ ...o, msg: m }),
  };
  log.error({ module: 'Connection', message: 'Query: HTTP request error.', args: { query_id: 'q1' }, err: new Error('Code: 81\n') });
  assert.deepEqual(out, [{ ns: 'Connection', query_id: 'q1', reason: 'Code: 81', msg: 'Query: HTTP request error.' }]);
});
