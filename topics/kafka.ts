/** The kafkajs client for a process, logging through pino instead of kafkajs's console. */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Kafka, type KafkaConfig, type LogEntry, logLevel, type SASLOptions } from '../lib/kafkajs.js';
import { ConfigError, ENV_KEYS, type Config } from '../lib/config.js';
import { UnavailableError } from '../lib/errors.js';
import { type Logger, logger } from '../lib/log.js';

const LEVEL: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * A kafkajs `logCreator` that writes through our logger at the matching pino level, so kafkajs
 * prints nothing of its own. Its timestamp and logger name are dropped (pino has both).
 */
export function kafkaLogCreator(log: Logger = logger('kafkajs')): () => (entry: LogEntry) => void {
  return () =>
    ({ namespace, level, log: entry }: LogEntry) => {
      const { message, timestamp: _timestamp, logger: _logger, ...rest } = entry;
      log[LEVEL[level] ?? 'info']({ ns: namespace, ...rest }, message);
    };
}

/** What a Kafka client needs from the config: the brokers and how to reach them securely. */
export type KafkaSettings = Pick<Config, 'kafkaBrokers'> &
  Partial<Pick<Config, 'kafkaSsl' | 'kafkaSslCa' | 'kafkaSaslMechanism' | 'kafkaSaslUsername' | 'kafkaSaslPassword'>>;

/** The settings a worker thread needs to open the same client (plain data: structured-cloneable). */
export function kafkaSettingsOf(cfg: KafkaSettings): KafkaSettings {
  const { kafkaBrokers, kafkaSsl, kafkaSslCa, kafkaSaslMechanism, kafkaSaslUsername, kafkaSaslPassword } = cfg;
  return { kafkaBrokers, kafkaSsl, kafkaSslCa, kafkaSaslMechanism, kafkaSaslUsername, kafkaSaslPassword };
}

/**
 * kafkajs's `ssl` and `sasl` options from the config: TLS when asked for or when a CA file is
 * given, SASL when a mechanism is. An unreadable CA file is a ConfigError naming KAFKA_SSL_CA.
 */
export function kafkaSecurityOptions(cfg: KafkaSettings, readFile: (file: string) => string = (f) => readFileSync(f, 'utf8')) {
  const out: { ssl?: ConnectionOptions | boolean; sasl?: SASLOptions } = {};
  const tls = cfg.kafkaSsl === 'on' || (cfg.kafkaSsl === undefined && cfg.kafkaSslCa !== undefined);
  if (tls) {
    if (cfg.kafkaSslCa === undefined) out.ssl = true;
    else {
      try {
        out.ssl = { ca: [readFile(cfg.kafkaSslCa)] };
      } catch (err) {
        throw new ConfigError(ENV_KEYS.kafkaSslCa, `cannot read the CA file: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
      }
    }
  }
  if (cfg.kafkaSaslMechanism && cfg.kafkaSaslUsername !== undefined && cfg.kafkaSaslPassword !== undefined) {
    out.sasl = {
      mechanism: cfg.kafkaSaslMechanism,
      username: cfg.kafkaSaslUsername,
      password: cfg.kafkaSaslPassword,
    } as SASLOptions;
  }
  return out;
}

/** TLS failures that retrying cannot fix: the certificate chain or the host name does not check out. */
const TLS_CONFIG_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/;

function causes(err: unknown): { name?: string; code?: string; message?: string }[] {
  const out: { name?: string; code?: string; message?: string }[] = [];
  for (let e = err as { cause?: unknown; originalError?: unknown } | undefined; e && out.length < 8; ) {
    out.push(e as { name?: string; code?: string; message?: string });
    e = (e.cause ?? e.originalError) as typeof e;
  }
  return out;
}

/**
 * A failed connect as one of our errors: refused credentials and certificates that do not verify
 * are configuration (exit 2, named by key), anything else a broker that may answer later. The
 * message names the mechanism and the broker, never a secret.
 */
export function kafkaConnectError(err: unknown, cfg: KafkaSettings): Error {
  if (err instanceof ConfigError || err instanceof UnavailableError) return err;
  const chain = causes(err);
  const brokers = cfg.kafkaBrokers.join(',');
  if (chain.some((e) => e.name === 'KafkaJSSASLAuthenticationError')) {
    return new ConfigError(
      ENV_KEYS.kafkaSaslPassword,
      `${brokers} refused the ${cfg.kafkaSaslMechanism ?? 'SASL'} credentials of user "${cfg.kafkaSaslUsername ?? ''}"`,
    );
  }
  const tls = chain.find((e) => typeof e.code === 'string' && TLS_CONFIG_CODES.test(e.code));
  if (tls) return new ConfigError(ENV_KEYS.kafkaSslCa, `the certificate of ${brokers} does not verify (${tls.code})`);
  return new UnavailableError(`kafka ${brokers}: ${(err as Error).message ?? String(err)}`, { cause: err });
}

/** Makes `connect()` of a kafkajs producer, consumer or admin throw our errors (see kafkaConnectError). */
function translatingConnect<C extends { connect(): Promise<void> }>(client: C, cfg: KafkaSettings): C {
  const connect = client.connect.bind(client);
  client.connect = async () => {
    try {
      await connect();
    } catch (err) {
      throw kafkaConnectError(err, cfg);
    }
  };
  return client;
}

export function createKafka(cfg: KafkaSettings, clientId: string): Kafka {
  const options: KafkaConfig = {
    clientId,
    brokers: cfg.kafkaBrokers,
    connectionTimeout: 5_000,
    requestTimeout: 30_000,
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5_000 },
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(),
    ...kafkaSecurityOptions(cfg),
  };
  const kafka = new Kafka(options);
  const producer = kafka.producer.bind(kafka);
  const consumer = kafka.consumer.bind(kafka);
  const admin = kafka.admin.bind(kafka);
  kafka.producer = (o) => translatingConnect(producer(o), cfg);
  kafka.consumer = (o) => translatingConnect(consumer(o), cfg);
  kafka.admin = (o) => translatingConnect(admin(o), cfg);
  return kafka;
}
