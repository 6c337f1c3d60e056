import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { queryEvent as buildQueryEvent } from '../../schemas/queryEvent.js';
import { firstValueFrom, take, toArray } from 'rxjs';
import avro from 'avsc';
import { AvroSerde } from '../../schemas/serde.js';
import { loadSchema } from '../../schemas/load.js';
import { provisionTopics } from '../../topics/admin.js';
import { ALL_TOPICS, TOPICS } from '../../schemas/topics.js';
import { consumeTopics, latestPositions } from '../../topics/consumer.js';
import { createKafka } from '../../topics/kafka.js';
import { TopicProducer } from '../../topics/producer.js';
import type { QueryEvent } from '../../schemas/types.js';
import { cfg, uniq } from './helpers.js';

const kafka = createKafka(cfg, 'test-kafka-registry');
let serde: AvroSerde;
let producer: TopicProducer;

before(async () => {
  serde = AvroSerde.create(cfg.schemaRegistryUrl);
  producer = await TopicProducer.connect(kafka, serde);
});
after(async () => {
  await producer.disconnect();
});

test('provisioning creates every contract topic and is idempotent', async () => {
  await provisionTopics(kafka);
  const again = await provisionTopics(kafka);
  assert.deepEqual(again.created, []);
  const admin = kafka.admin();
  await admin.connect();
  const meta = await admin.fetchTopicMetadata({ topics: ALL_TOPICS.map((t) => t.name) });
  await admin.disconnect();
  for (const t of ALL_TOPICS) {
    const m = meta.topics.find((x) => x.name === t.name);
    assert.ok(m, `${t.name} exists`);
    assert.equal(m.partitions.length, t.partitions, `${t.name} partitions`);
  }
});

test('schemas register under TopicNameStrategy subjects and re-registering returns the same id', async () => {
  const ids = await serde.registerTopics();
  const again = await AvroSerde.create(cfg.schemaRegistryUrl).registerTopics();
  for (const t of ALL_TOPICS) {
    assert.ok((ids.get(t.name) ?? 0) > 0);
    assert.equal(again.get(t.name), ids.get(t.name));
    assert.equal(await serde.registry.getLatestSchemaId(`${t.name}-value`), ids.get(t.name));
  }
});

test('BACKWARD compatibility: a compatible evolution registers, an incompatible one is refused', async () => {
  const topic = { ...TOPICS.queries, name: uniq('shardcast.test.evolve') };
  const base = loadSchema('QueryEvent').json as { fields: object[] };
  const v1 = await serde.registerTopic(topic, base);
  const v2 = await serde.registerTopic(topic, {
    ...base,
    fields: [...base.fields, { name: 'region', type: ['null', 'string'], default: null }],
  });
  assert.notEqual(v1, v2);
  // A new required field without a default cannot read old data: BACKWARD forbids it.
  await assert.rejects(serde.registerTopic(topic, { ...base, fields: [...base.fields, { name: 'tenant', type: 'string' }] }));
});

test('Avro through Kafka and the registry; consumer group commits resume after the last commit', async () => {
  const topic = { ...TOPICS.queries, name: uniq('shardcast.test.avro'), partitions: 2 };
  await provisionTopics(kafka, [topic]);
  await serde.registerTopic(topic);
  const events: QueryEvent[] = Array.from({ length: 20 }, (_, i) =>
    buildQueryEvent({
      eventId: `e${i}`,
      ts: 1_700_000_000_000 + i,
      source: `s${i % 2}`,
      dialect: 'postgres',
      sql: `SELECT * FROM t WHERE id = ${i}`,
      tables: ['t'],
      operation: 'select',
      durationMs: i,
      rowsRead: 1,
    }),
  );
  await producer.send(
    topic.name,
    events.slice(0, 10).map((e) => ({ key: e.source, value: e })),
  );
  const group = uniq('test-group');

  const first = await consumeTopics(kafka, { groupId: group, topics: [topic.name] });
  const got = await firstValueFrom(first.messages$.pipe(take(10), toArray()));
  const decoded = await Promise.all(got.map((m) => serde.decode<QueryEvent>(topic.name, m.value)));
  assert.deepEqual(
    decoded.map((e) => e.eventId).sort(),
    events
      .slice(0, 10)
      .map((e) => e.eventId)
      .sort(),
  );
  await first.commit(latestPositions(got));
  await first.stop();

  await producer.send(
    topic.name,
    events.slice(10).map((e) => ({ key: e.source, value: e })),
  );
  const second = await consumeTopics(kafka, { groupId: group, topics: [topic.name] });
  const rest = await firstValueFrom(second.messages$.pipe(take(10), toArray()));
  await second.stop();
  const ids = (await Promise.all(rest.map((m) => serde.decode<QueryEvent>(topic.name, m.value)))).map((e) => e.eventId);
  assert.deepEqual(
    ids.sort(),
    events
      .slice(10)
      .map((e) => e.eventId)
      .sort(),
    'only the uncommitted half is redelivered',
  );
});

test('bytes that are not a registered Avro message fail to decode with a reason', async () => {
  await serde.registerTopics();
  await assert.rejects(serde.decode(TOPICS.queries.name, Buffer.from('not avro')), /magic byte/);
  const bogusId = Buffer.from([0, 0x7f, 0xff, 0xff, 0xff, 1, 2]);
  await assert.rejects(serde.decode(TOPICS.queries.name, bogusId), /unknown schema id/);
  const wrongBody = Buffer.concat([Buffer.from([0]), Buffer.alloc(4), avro.Type.forSchema('string').toBuffer('x')]);
  wrongBody.writeInt32BE(await serde.registry.getLatestSchemaId(`${TOPICS.queries.name}-value`), 1);
  await assert.rejects(serde.decode(TOPICS.queries.name, wrongBody), /does not match schema/);
});
