/**
 * docker-compose.yml describes the same stack as `shardcast stack up`: parsed here (no Docker
 * needed) and checked against the port table (infra/ports.ts) and the config defaults. Also
 * pins the settings the local stack writes for Kafka and PostgreSQL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { loadConfig } from '../../lib/config.js';
import {
  CLICKHOUSE_HTTP_PORT,
  KAFKA_PORT,
  NEO4J_BOLT_PORT,
  PG_BASE_PORT,
  PG_NODE_COUNT,
  REGISTRY_PORT,
  pgComposeName,
  pgPorts,
  portOf,
  portTable,
} from '../../infra/ports.js';
import { newClusterId, serverProperties } from '../../infra/services/kafka.js';
import { pgHbaConf, shardcastConf } from '../../infra/services/postgres.js';
import { configXml } from '../../infra/services/clickhouse.js';
import { formatStatus } from '../../infra/stack.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

interface ComposeService {
  image: string;
  ports?: string[];
  environment?: Record<string, string>;
  command?: string[] | string;
}
const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
};
const defaults = loadConfig({}, {});

/** "127.0.0.1:5433:5432" | "5433:5432" | "8123" → {host, container, bind}. */
function parsePort(spec: string): { host: number; container: number; bind: string | null } {
  const parts = String(spec).split(':');
  const container = Number(parts.at(-1));
  const host = parts.length >= 2 ? Number(parts.at(-2)) : container;
  const bind = parts.length === 3 ? parts[0]! : null;
  return { host, container, bind };
}

const published = Object.entries(compose.services).flatMap(([name, s]) => (s.ports ?? []).map((p) => ({ name, ...parsePort(p) })));

test('config defaults agree with the port table', () => {
  assert.equal(portOf(defaults.kafkaBrokers[0]!, 0), KAFKA_PORT);
  assert.equal(portOf(defaults.schemaRegistryUrl, 0), REGISTRY_PORT);
  assert.equal(portOf(defaults.clickhouseUrl, 0), CLICKHOUSE_HTTP_PORT);
  assert.equal(portOf(defaults.neo4jUri, 0), NEO4J_BOLT_PORT);
  assert.equal(defaults.pgBasePort, PG_BASE_PORT);
  assert.equal(defaults.pgNodeCount, PG_NODE_COUNT);
  assert.deepEqual(
    defaults.pgNodes.map((u) => portOf(u, 0)),
    pgPorts(),
  );
});

test('every published port of the table is published by docker-compose.yml, on loopback', () => {
  for (const e of portTable().filter((x) => x.compose !== null)) {
    const svc = compose.services[e.compose!];
    assert.ok(svc, `compose service ${e.compose} (for ${e.what}) is missing`);
    const hit = published.find((p) => p.name === e.compose && p.host === e.port);
    assert.ok(hit, `${e.compose} does not publish host port ${e.port} (${e.what})`);
    assert.equal(hit.container, e.containerPort, `${e.compose}: host port ${e.port} maps to container port ${hit.container}`);
    assert.equal(hit.bind, '127.0.0.1', `${e.compose}: port ${e.port} should be published on 127.0.0.1 only`);
  }
});

test('docker-compose.yml publishes no port the table does not know', () => {
  const known = new Set(portTable().map((e) => `${e.compose}:${e.port}`));
  for (const p of published) assert.ok(known.has(`${p.name}:${p.host}`), `${p.name} publishes ${p.host}, not in infra/ports.ts`);
});

test('images and settings match the local stack', () => {
  const s = compose.services;
  assert.match(s.kafka!.image, /^apache\/kafka:3\.9\.\d+$/);
  assert.equal(s.kafka!.environment!.KAFKA_AUTO_CREATE_TOPICS_ENABLE, 'false');
  assert.equal(s.kafka!.environment!.KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR, '1');
  assert.match(s.kafka!.environment!.KAFKA_PROCESS_ROLES!, /broker,controller/);
  assert.match(s.kafka!.environment!.KAFKA_ADVERTISED_LISTENERS!, new RegExp(`127\\.0\\.0\\.1:${KAFKA_PORT}`));
  assert.match(s['schema-registry']!.image, /^(apicurio\/apicurio-registry(-mem)?|confluentinc\/cp-schema-registry):/);
  assert.match(s.clickhouse!.image, /^clickhouse\/clickhouse-server:/);
  assert.match(s.neo4j!.image, /^neo4j:5\.26(\.\d+)?-community$/);
  assert.equal(s.neo4j!.environment!.NEO4J_AUTH, `${defaults.neo4jUser}/${defaults.neo4jPassword}`);
  for (let i = 0; i < PG_NODE_COUNT; i++) {
    const pg = s[pgComposeName(i)];
    assert.ok(pg, `${pgComposeName(i)} missing`);
    assert.match(pg.image, /^postgres:15(\.\d+)?$/);
    const cmd = Array.isArray(pg.command) ? pg.command.join(' ') : String(pg.command);
    assert.match(cmd, /wal_level=logical/);
    assert.match(cmd, /shared_preload_libraries=pg_stat_statements/);
    assert.equal(pg.environment!.POSTGRES_USER, 'shardcast');
    assert.equal(pg.environment!.POSTGRES_DB, 'shardcast');
  }
});

test('kafka server.properties: single-node KRaft on loopback', () => {
  const props = serverProperties({ dir: defaults.stackDir, port: 9092, controllerPort: 9093 });
  for (const line of [
    'process.roles=broker,controller',
    'listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093',
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
  ]) {
    assert.ok(props.split('\n').includes(line), `missing ${line}`);
  }
  const id = newClusterId();
  assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
});

test('postgres node settings: logical WAL, csvlog of every statement, loopback trust', () => {
  const conf = shardcastConf(5433);
  for (const line of [
    "listen_addresses = '127.0.0.1'",
    'port = 5433',
    'wal_level = logical',
    "shared_preload_libraries = 'pg_stat_statements'",
    'log_min_duration_statement = 0',
    "log_destination = 'csvlog'",
    "log_directory = 'log'",
  ]) {
    assert.ok(conf.split('\n').includes(line), `missing ${line}`);
  }
  assert.match(conf, /max_wal_senders = (\d+)/);
  assert.ok(Number(/max_wal_senders = (\d+)/.exec(conf)![1]) >= 10);
  assert.ok(Number(/max_replication_slots = (\d+)/.exec(conf)![1]) >= 10);
  assert.doesNotMatch(pgHbaConf(), /0\.0\.0\.0|::\/0|\bmd5\b/);
});

test('clickhouse config: loopback, no interserver port', () => {
  const x = configXml(defaults);
  assert.match(x, /<listen_host>127\.0\.0\.1<\/listen_host>/);
  assert.match(x, /<http_port>8123<\/http_port>/);
  assert.match(x, /<tcp_port>9000<\/tcp_port>/);
  assert.doesNotMatch(x, /interserver/);
});

test('formatStatus: one aligned line per service', () => {
  const out = formatStatus([
    { name: 'kafka', state: 'up', endpoint: '127.0.0.1:9092', pid: 42 },
    { name: 'pg-node0', state: 'external', endpoint: 'postgres://db:5432/x' },
    { name: 'neo4j', state: 'stale', endpoint: 'bolt://127.0.0.1:7687', note: 'pid 7 from the pid file has exited' },
  ]);
  const lines = out.split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, /^kafka\s+up\s+127\.0\.0\.1:9092\s+pid 42$/);
  assert.match(lines[2]!, /^neo4j\s+stale\s+bolt:\/\/127\.0\.0\.1:7687\s+pid 7 from the pid file has exited$/);
  assert.equal(lines[0]!.indexOf('up'), lines[1]!.indexOf('external'));
});
