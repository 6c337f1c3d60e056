/**
 * Apache Kafka 3.9, single-node KRaft (broker + controller in one JVM).
 *
 * Jars: infra/kafka/pom.xml → `mvn dependency:copy-dependencies` → <stackDir>/lib/kafka.
 * Data: <stackDir>/kafka/data, formatted on first start with `kafka.tools.StorageTool format`
 * and a generated cluster id (kept in <stackDir>/kafka/cluster.id).
 * Listeners: PLAINTEXT on 127.0.0.1:9092 (from config kafkaBrokers), controller on 127.0.0.1:9093.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../lib/config.js';
import { KAFKA_CONTROLLER_PORT, KAFKA_PORT, portOf } from '../ports.js';
import { run, spawnService } from '../process.js';
import { logFileOf, stopOurs, withTimeout, type Log, type Service } from '../service.js';
import { fileKey, INFRA_DIR, installOnce, javaBin, libDir, maven } from '../toolchain.js';

const NAME = 'kafka';
const POM = path.join(INFRA_DIR, 'kafka', 'pom.xml');

const home = (cfg: Config) => path.join(cfg.stackDir, 'kafka');
const brokerPort = (cfg: Config) => portOf(cfg.kafkaBrokers[0] ?? '', KAFKA_PORT);

/** A Kafka cluster id: 16 random bytes, base64url without padding (as `kafka-storage random-uuid`). */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

export function serverProperties(cfg: Config): string {
  const port = brokerPort(cfg);
  return [
    '# Written by shardcast (infra/services/kafka.ts) on every start; edit that file instead.',
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${KAFKA_CONTROLLER_PORT}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${KAFKA_CONTROLLER_PORT}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    `log.dirs=${path.join(home(cfg), 'data')}`,
    'num.partitions=1',
    'default.replication.factor=1',
    'min.insync.replicas=1',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=10',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=10',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
    'delete.topic.enable=true',
    'num.network.threads=2',
    'num.io.threads=4',
    'log.retention.hours=168',
    'log.cleaner.dedupe.buffer.size=16777216',
    '',
  ].join('\n');
}

const LOG4J = [
  'log4j.rootLogger=INFO, stdout',
  'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
  'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
  'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
  'log4j.logger.state.change.logger=WARN',
  'log4j.logger.kafka.request.logger=WARN',
  'log4j.logger.org.apache.kafka.clients=WARN',
  '',
].join('\n');

export const kafka: Service = {
  name: NAME,
  startTimeoutMs: 120_000,
  installKind: 'maven',
  endpoint: (cfg) => cfg.kafkaBrokers.join(','),
  isExternal: (cfg) => cfg.external.kafka,
  ports: (cfg) => [brokerPort(cfg), KAFKA_CONTROLLER_PORT],
  logFile: (cfg) => logFileOf(cfg, NAME),

  async install(cfg, log: Log) {
    const out = libDir(cfg.stackDir, 'kafka');
    const fetched = await installOnce(out, await fileKey(POM), async (tmp) => {
      log('kafka: fetching jars with Maven (org.apache.kafka:kafka_2.13)');
      await maven(POM, ['dependency:copy-dependencies'], tmp, 'kafka install');
    });
    if (fetched) log(`kafka: jars in ${out}`);
  },

  async start(cfg, log: Log) {
    const java = await javaBin();
    const dir = home(cfg);
    const data = path.join(dir, 'data');
    mkdirSync(data, { recursive: true });
    const props = path.join(dir, 'server.properties');
    const log4j = path.join(dir, 'log4j.properties');
    writeFileSync(props, serverProperties(cfg));
    writeFileSync(log4j, LOG4J);
    const cp = `${libDir(cfg.stackDir, 'kafka')}/*`;
    const sysProps = [`-Dlog4j.configuration=file:${log4j}`, `-Dkafka.logs.dir=${dir}`, '-Djava.awt.headless=true'];

    if (!existsSync(path.join(data, 'meta.properties'))) {
      const idFile = path.join(dir, 'cluster.id');
      const clusterId = existsSync(idFile) ? readFileSync(idFile, 'utf8').trim() : newClusterId();
      writeFileSync(idFile, `${clusterId}\n`);
      log(`kafka: formatting storage (cluster id ${clusterId})`);
      await run(
        java,
        ['-Xmx256m', ...sysProps, '-cp', cp, 'kafka.tools.StorageTool', 'format', '--ignore-formatted', '-t', clusterId, '-c', props],
        {
          what: 'kafka storage format',
          timeoutMs: 120_000,
        },
      );
    }
    const heap = (process.env.SHARDCAST_KAFKA_HEAP ?? '-Xms128m -Xmx512m').split(/\s+/).filter(Boolean);
    await spawnService({
      name: NAME,
      command: java,
      args: [
        ...heap,
        '-XX:+UseG1GC',
        '-XX:MaxGCPauseMillis=20',
        '-XX:+ExitOnOutOfMemoryError',
        ...sysProps,
        '-cp',
        cp,
        'kafka.Kafka',
        props,
      ],
      cwd: dir,
      stackDir: cfg.stackDir,
      logFile: this.logFile(cfg),
    });
  },

  async health(cfg) {
    const { Kafka, logLevel } = await import('kafkajs');
    const admin = new Kafka({
      clientId: 'shardcast-stack-health',
      brokers: cfg.kafkaBrokers,
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1000,
      requestTimeout: 2000,
      retry: { retries: 0 },
    }).admin();
    try {
      const info = await withTimeout(
        (async () => {
          await admin.connect();
          return admin.describeCluster();
        })(),
        4000,
        'kafka health',
      );
      return info.brokers.length > 0 && info.controller !== null && info.controller >= 0;
    } catch {
      return false;
    } finally {
      // disconnect() can wait forever on a half-open connection (e.g. a non-Kafka server on the port).
      await withTimeout(admin.disconnect(), 1000, 'kafka disconnect').catch(() => undefined);
    }
  },

  async stop(cfg) {
    // Controlled shutdown of a single KRaft node takes a few seconds.
    await stopOurs(cfg, NAME, { signals: ['SIGTERM', 'SIGKILL'], timeoutMs: 60_000 });
  },
};
