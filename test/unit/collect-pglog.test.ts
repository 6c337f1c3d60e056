import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inlineParameters, operationOf, parseCsvLog, parseLogTime, parseParameters } from '../../collectors/pglog.js';
import { completeRecordsLength } from '../../collectors/tail.js';

// Lines as PostgreSQL 15 writes them with log_destination=csvlog, log_min_duration_statement=0.
const simple = `2026-11-23 05:01:02.345 UTC,"shardcast","shardcast",4242,"127.0.0.1:50000",655e1a2b.1092,7,"SELECT",2026-11-23 05:00:00 UTC,3/17,0,LOG,00000,"duration: 0.412 ms  statement: SELECT * FROM orders WHERE id = 42",,,,,,,,,"app-1","client backend",,0\n`;
const extended = `2026-11-23 05:01:03.000 UTC,"shardcast","shardcast",4243,"127.0.0.1:50001",655e1a2b.1093,9,"SELECT",2026-11-23 05:00:00 UTC,4/2,0,LOG,00000,"duration: 1.500 ms  execute <unnamed>: SELECT amount FROM orders WHERE id = $1 AND note = $2","parameters: $1 = '7', $2 = 'it''s'",,,,,,,,"app-2","client backend",,0\n`;
const parsePhase = `2026-11-23 05:01:03.000 UTC,"shardcast","shardcast",4243,"127.0.0.1:50001",655e1a2b.1093,8,"PARSE",2026-11-23 05:00:00 UTC,4/2,0,LOG,00000,"duration: 0.100 ms  parse <unnamed>: SELECT amount FROM orders WHERE id = $1",,,,,,,,,"app-2","client backend",,0\n`;
const multiline = `2026-11-23 05:01:04.000 UTC,"shardcast","shardcast",4244,"127.0.0.1:50002",655e1a2b.1094,1,"UPDATE",2026-11-23 05:00:00 UTC,5/1,900,LOG,00000,"duration: 2.000 ms  statement: UPDATE orders
   SET amount = 1 WHERE id BETWEEN 10 AND 20",,,,,,,,,"app-3","client backend",,0\n`;
const other = `2026-11-23 05:01:05.000 UTC,,,4000,,655e1a2b.fa0,1,,2026-11-23 05:00:00 UTC,,0,LOG,00000,"checkpoint starting: time",,,,,,,,,"","checkpointer",,0\n`;

const opts = { source: 'pg-shards', node: 'node1' };

test('a simple-protocol statement becomes a QueryEvent', () => {
  const [line] = parseCsvLog(simple, opts);
  const e = line!.event!;
  assert.equal(e.sql, 'SELECT * FROM orders WHERE id = 42');
  assert.equal(e.durationMs, 0.412);
  assert.equal(e.ts, Date.parse('2026-11-23T05:01:02.345Z'));
  assert.equal(e.node, 'node1');
  assert.equal(e.database, 'shardcast');
  assert.equal(e.client, 'app-1');
  assert.equal(e.operation, 'select');
  assert.equal(e.dialect, 'postgres');
  assert.equal(e.txId, 'node1:3/17');
});

test('extended protocol: bound parameters are put back as literals', () => {
  const [line] = parseCsvLog(extended, opts);
  assert.equal(line!.event!.sql, "SELECT amount FROM orders WHERE id = 7 AND note = 'it''s'");
});

test('parse/bind phases and non-statement lines are skipped with a reason, statements spanning lines parse', () => {
  const lines = parseCsvLog(parsePhase + multiline + other, opts);
  assert.equal(lines.length, 3);
  assert.equal(lines[0]!.skipped, 'parse phase');
  assert.match(lines[1]!.event!.sql!, /UPDATE orders\n\s+SET amount = 1 WHERE id BETWEEN 10 AND 20/);
  assert.equal(lines[1]!.event!.operation, 'update');
  assert.equal(lines[2]!.skipped, 'not a statement duration line');
});

test('event ids are stable for the same log line (re-reading the log deduplicates)', () => {
  assert.equal(parseCsvLog(simple, opts)[0]!.event!.eventId, parseCsvLog(simple, opts)[0]!.event!.eventId);
  assert.notEqual(parseCsvLog(simple, opts)[0]!.event!.eventId, parseCsvLog(extended, opts)[0]!.event!.eventId);
});

test('helpers', () => {
  assert.deepEqual(
    [...parseParameters("parameters: $1 = '5', $2 = NULL")],
    [
      [1, '5'],
      [2, null],
    ],
  );
  assert.equal(
    inlineParameters(
      'x = $1 OR y = $10',
      new Map([
        [1, 'a'],
        [10, '3'],
      ]),
    ),
    "x = 'a' OR y = 3",
  );
  assert.equal(operationOf('  with t as (select 1) select * from t'), 'select');
  assert.equal(operationOf('CREATE INDEX x ON y (z)'), 'ddl');
  assert.ok(Number.isNaN(parseLogTime('garbage')));
});

test('the tail only hands over complete records', () => {
  const buf = Buffer.from(simple + multiline.slice(0, 200));
  assert.equal(completeRecordsLength(buf), Buffer.byteLength(simple));
  assert.equal(completeRecordsLength(Buffer.from(multiline)), Buffer.byteLength(multiline));
});
