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
import { run, spawnService, type PidInfo } from '../process.js';
import { UnavailableError } from '../../lib/errors.js';
import { logFileOf, stopOurs, withTimeout, type Log, type Service } from '../service.js';
import { fileKey, INFRA_DIR, installOnce, javaBin, libDir, maven } from '../toolchain.js';

const NAME = 'kafka';
const POM = path.join(INFRA_DIR, 'kafka', 'pom.xml');

const home = (cfg: Config) => path.join(cfg.stackDir, 'kafka');
const brokerPort = (cfg: Config) => portOf(cfg.kafkaBrokers[0] ?? '', KAFKA_PORT);
/** The controller listens beside the broker: a stack on shifted ports shifts it too. */
const controllerPort = (cfg: Config) => KAFKA_CONTROLLER_PORT + brokerPort(cfg) - KAFKA_PORT;

/** A Kafka cluster id: 16 random bytes, base64url without padding (as `kafka-storage random-uuid`). */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/**
 * A SASL_SSL client listener (SCRAM over TLS), for a broker that a secured-cluster check starts:
 * the certificates and users come from the caller, the broker keeps nothing else.
 */
export interface SecureListener {
  /** PEM file: the broker's encrypted PKCS#8 private key, then its certificate chain. */
  keystorePem: string;
  /** Password of that private key. */
  keyPassword: string;
  /** PEM file: the CA certificates the broker trusts. */
  truststorePem: string;
  mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
  /** SCRAM users written into the storage at format time; the first one is the broker's own. */
  users: { name: string; password: string }[];
}

/** One single-node KRaft broker: its directory (data, properties, logs), ports and listener. */
export interface BrokerNode {
  dir: string;
  port: number;
  controllerPort: number;
  /** Client listener as SASL_SSL instead of PLAINTEXT. */
  secure?: SecureListener;
}

const localNode = (cfg: Config): BrokerNode => ({ dir: home(cfg), port: brokerPort(cfg), controllerPort: controllerPort(cfg) });

/** Properties quoted for a JAAS line (\\ and " escaped). */
const jaasQuoted = (v: string) => `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

function listenerProperties(node: BrokerNode): string[] {
  const s = node.secure;
  if (!s) {
    return [
      `listeners=PLAINTEXT://127.0.0.1:${node.port},CONTROLLER://127.0.0.1:${node.controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${node.port}`,
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    ];
  }
  const self = s.users[0]!;
  const jaas = `org.apache.kafka.common.security.scram.ScramLoginModule required username=${jaasQuoted(self.name)} password=${jaasQuoted(self.password)};`;
  return [
    `listeners=SASL_SSL://127.0.0.1:${node.port},CONTROLLER://127.0.0.1:${node.controllerPort}`,
    `advertised.listeners=SASL_SSL://127.0.0.1:${node.port}`,
    'inter.broker.listener.name=SASL_SSL',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL',
    `sasl.enabled.mechanisms=${s.mechanism}`,
    `sasl.mechanism.inter.broker.protocol=${s.mechanism}`,
    `listener.name.sasl_ssl.${s.mechanism.toLowerCase()}.sasl.jaas.config=${jaas.replace(/\\/g, '\\\\')}`,
    'ssl.keystore.type=PEM',
    `ssl.keystore.location=${s.keystorePem}`,
    `ssl.key.password=${s.keyPassword}`,
    'ssl.truststore.type=PEM',
    `ssl.truststore.location=${s.truststorePem}`,
    'ssl.client.auth=none',
  ];
}

export function serverProperties(node: BrokerNode): string {
  return [
    '# Written by shardcast (infra/services/kafka.ts) on every start; edit that file instead.',
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${node.controllerPort}`,
    ...listenerProperties(node),
    'controller.listener.names=CONTROLLER',
    `log.dirs=${path.join(node.dir, 'data')}`,
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
  ports: (cfg) => [brokerPort(cfg), controllerPort(cfg)],
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
    await startBroker(localNode(cfg), {
      jarsDir: libDir(cfg.stackDir, 'kafka'),
      stackDir: cfg.stackDir,
      name: NAME,
      logFile: this.logFile(cfg),
      log,
    });
  },

  async health(cfg) {
    const { Kafka, logLevel } = await import('../../lib/kafkajs.js');
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

export interface BrokerLaunch {
  /** Directory of the Kafka jars. */
  jarsDir: string;
  /** Where the pid file goes (`<stackDir>/run/<name>.pid`). */
  stackDir: string;
  name: string;
  logFile: string;
  log: Log;
}

/**
 * Writes the node's properties, formats its storage on first start (with its SCRAM users, if
 * any), and starts the broker detached. Returns its pid record; it is stopped by that pid.
 */
export async function startBroker(node: BrokerNode, o: BrokerLaunch): Promise<PidInfo> {
  const java = await javaBin();
  const data = path.join(node.dir, 'data');
  mkdirSync(data, { recursive: true });
  const props = path.join(node.dir, 'server.properties');
  const log4j = path.join(node.dir, 'log4j.properties');
  writeFileSync(props, serverProperties(node), { mode: 0o600 });
  writeFileSync(log4j, LOG4J);
  const cp = `${o.jarsDir}/*`;
  const sysProps = [`-Dlog4j.configuration=file:${log4j}`, `-Dkafka.logs.dir=${node.dir}`, '-Djava.awt.headless=true'];

  if (!existsSync(path.join(data, 'meta.properties'))) {
    const idFile = path.join(node.dir, 'cluster.id');
    const clusterId = existsSync(idFile) ? readFileSync(idFile, 'utf8').trim() : newClusterId();
    writeFileSync(idFile, `${clusterId}\n`);
    o.log(`${o.name}: formatting storage (cluster id ${clusterId})`);
    const scram = (node.secure?.users ?? []).flatMap((u) => [
      '--add-scram',
      `${node.secure!.mechanism}=[name=${u.name},password=${u.password}]`,
    ]);
    await run(
      java,
      [
        '-Xmx256m',
        ...sysProps,
        '-cp',
        cp,
        'kafka.tools.StorageTool',
        'format',
        '--ignore-formatted',
        '-t',
        clusterId,
        '-c',
        props,
        ...scram,
      ],
      {
        what: `${o.name} storage format`,
        timeoutMs: 120_000,
      },
    ).catch((err: Error) => {
      // the command line holds the SCRAM passwords: say what failed without it
      throw node.secure ? new UnavailableError(`${o.name}: storage format failed (see ${o.logFile})`) : err;
    });
  }
  const heap = (process.env.SHARDCAST_KAFKA_HEAP ?? '-Xms128m -Xmx512m').split(/\s+/).filter(Boolean);
  return spawnService({
    name: o.name,
    command: java,
    args: [...heap, '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-XX:+ExitOnOutOfMemoryError', ...sysProps, '-cp', cp, 'kafka.Kafka', props],
    cwd: node.dir,
    stackDir: o.stackDir,
    logFile: o.logFile,
  });
}
