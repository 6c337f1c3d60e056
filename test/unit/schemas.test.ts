import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import avro from 'avsc';
import { loadSchema, SCHEMA_DIR } from '../../schemas/load.js';
import { ALL_TOPICS } from '../../schemas/topics.js';
import { AvroSerde, DecodeError } from '../../schemas/serde.js';
import { deepEqual as looseDeepEqual } from 'node:assert';
import type { CommandResult, DeadLetter, PartitionCommand, QueryEvent, WorkloadAggregate } from '../../schemas/types.js';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { InputError, StateError, UnavailableError } from '../../lib/errors.js';
import { queryEvent as buildQueryEvent } from '../../schemas/queryEvent.js';

const query: QueryEvent = {
  eventId: 'e1',
  ts: 1_700_000_000_000,
  source: 'pg-orders',
  dialect: 'postgres',
  database: 'shop',
  sql: 'SELECT * FROM orders WHERE id = 5',
  fingerprint: null,
  tables: ['orders'],
  operation: 'select',
  durationMs: 1.5,
  rowsRead: 1,
  rowsWritten: 0,
  node: 'node0',
  partition: null,
  keyValues: { id: '5' },
  client: 'app',
  status: 'ok',
  txId: null,
};

test('every topic names a schema file that parses', () => {
  const files = new Set(
    readdirSync(SCHEMA_DIR)
      .filter((f) => f.endsWith('.avsc'))
      .map((f) => f.replace('.avsc', '')),
  );
  for (const t of ALL_TOPICS) assert.ok(files.has(t.schema), `${t.name} → ${t.schema}.avsc`);
});

test('typed records round-trip through their Avro schema', () => {
  const agg: WorkloadAggregate = {
    seriesId: 's|orders|k1',
    windowStart: 0,
    windowEnd: 10_000,
    source: 's',
    table: 'orders',
    keyBucket: 'k1',
    partition: null,
    node: null,
    queries: 3,
    reads: 2,
    writes: 1,
    rowsRead: 5,
    rowsWritten: 1,
    errors: 0,
    unparsed: 0,
    lateMerged: 0,
    latencySumMs: 3.5,
    latencyP50Ms: 1,
    latencyP95Ms: null,
    latencyP99Ms: null,
    hotKeys: [{ key: '5', count: 2, error: 0 }],
    coAccess: [{ other: 'customers', count: 1 }],
    templates: [
      {
        templateId: 'tpl1',
        template: 'SELECT customer_id, sum(amount) FROM orders WHERE id > $1 GROUP BY customer_id',
        operation: 'select',
        tables: ['orders'],
        queries: 3,
        rowsRead: 300,
        rowsWritten: 0,
        latencySumMs: 12.5,
        latencyP50Ms: 4,
        latencyP95Ms: 5,
        predicates: [{ table: 'orders', column: 'id', op: '>' }],
        groupBy: ['customer_id'],
        aggregates: ['sum(amount)'],
        joins: [],
      },
    ],
    predicateColumns: [{ table: 'orders', column: 'id', queries: 3, rowsRead: 300, distinctValues: 0, distinctCapped: false }],
    otherTemplateQueries: 0,
    writeKeyMin: 1200,
    writeKeyMax: 1250,
  };
  const cmd: PartitionCommand = {
    commandId: 'c1',
    issuedAt: 1,
    deadline: 2,
    store: 'pg',
    storeKind: 'postgres',
    table: 'orders',
    partition: 'p0',
    action: 'split',
    params: { splitAt: '500' },
    evidence: {
      seriesId: 's',
      currentLoad: 1,
      forecastPeak: 9,
      forecastLower: 7,
      forecastUpper: 11,
      peakAt: null,
      capacity: 5,
      model: 'ensemble',
    },
    expectedBenefit: 4,
    expectedCost: 1e6,
    estimatedDurationMs: 1000,
    requiresApproval: false,
    policy: 'predictive',
    explanation: 'split p0',
  };
  const result: CommandResult = {
    commandId: 'c1',
    ts: 3,
    topic: 'shardcast.commands.partition',
    store: 'pg',
    action: 'split',
    status: 'SUCCEEDED',
    progress: 1,
    reason: null,
    rowsCopied: 10,
    bytesMoved: 100,
    verified: true,
    durationMs: 5,
    executor: 'x',
    details: {},
  };
  const letter: DeadLetter = {
    ts: 1,
    sourceTopic: 't',
    sourcePartition: 0,
    sourceOffset: '7',
    key: null,
    value: Buffer.from([1, 2, 3]),
    stage: 'decode',
    reason: 'bad',
    pipeline: 'ingest',
  };
  for (const [name, value] of [
    ['QueryEvent', query],
    ['WorkloadAggregate', agg],
    ['PartitionCommand', cmd],
    ['CommandResult', result],
    ['DeadLetter', letter],
  ] as const) {
    const { type } = loadSchema(name);
    assert.ok(type.isValid(value), `${name} sample is valid`);
    // avsc decodes into record classes; compare fields, not prototypes.
    looseDeepEqual(type.fromBuffer(type.toBuffer(value)), value);
  }
});

test('wire format: magic byte and schema id are checked', () => {
  assert.throws(() => AvroSerde.schemaIdOf(null), DecodeError);
  assert.throws(() => AvroSerde.schemaIdOf(Buffer.from('{"json": true}')), /magic byte/);
  assert.throws(() => AvroSerde.schemaIdOf(Buffer.from([0, 0])), /2 bytes/);
  assert.equal(AvroSerde.schemaIdOf(Buffer.from([0, 0, 0, 1, 7, 9])), 263);
});

test('bad bytes are InputErrors; a registry that does not answer is retriable, its 404 is bad input', async () => {
  assert.throws(() => AvroSerde.schemaIdOf(null), InputError);
  const failing = (err: Error) => new AvroSerde({ getSchema: async () => Promise.reject(err) } as unknown as SchemaRegistry);
  const message = Buffer.from([0, 0, 0, 0, 42, 2]);
  const notFound = Object.assign(new Error("No content with ID '42' was found."), { status: 404 });
  await assert.rejects(failing(notFound).decode('t', message), (e) => e instanceof DecodeError && /unknown schema id 42/.test(e.message));
  const refused = Object.assign(new Error('Error, status 400: connect ECONNREFUSED 127.0.0.1:8081'), { status: 400 });
  await assert.rejects(failing(refused).decode('t', message), (e) => e instanceof UnavailableError && e.retriable);
  assert.throws(() => failing(refused).encode('t', {}), StateError);
});

test('QueryEvent evolves backward-compatibly: a reader of the current schema reads an older writer', () => {
  const current = loadSchema('QueryEvent').json as { fields: { name: string }[] };
  // An older producer's schema: without the fields added since (they all carry defaults).
  const older = { ...current, fields: current.fields.filter((f) => !['txId', 'fingerprint'].includes(f.name)) };
  const writer = avro.Type.forSchema(older as avro.Schema);
  const reader = loadSchema('QueryEvent').type;
  const { txId: _t, fingerprint: _f, ...old } = query;
  const decoded = reader.fromBuffer(writer.toBuffer(old), reader.createResolver(writer)) as QueryEvent;
  assert.equal(decoded.txId, null);
  assert.equal(decoded.fingerprint, null);
  assert.equal(decoded.sql, query.sql);
});

test('queryEvent builds a record the schema accepts, with the defaults an older writer gets', () => {
  const type = loadSchema('QueryEvent').type;
  const built = buildQueryEvent({ eventId: 'e9', ts: 1_700_000_000_000, source: 'app' });
  assert.ok(type.isValid(built), 'built record is valid');
  const { eventId, ts, source, dialect, ...rest } = built;
  assert.deepEqual({ eventId, ts, source, dialect }, { eventId: 'e9', ts: 1_700_000_000_000, source: 'app', dialect: 'generic' });
  const fields = loadSchema('QueryEvent').json as { fields: { name: string; default?: unknown }[] };
  for (const [name, value] of Object.entries(rest)) {
    const f = fields.fields.find((x) => x.name === name);
    assert.deepEqual(value, f?.default, `${name} takes its Avro default`);
  }
  assert.notEqual(buildQueryEvent({ eventId: 'a', ts: 0, source: 's' }).tables, built.tables, 'arrays are not shared');
});
