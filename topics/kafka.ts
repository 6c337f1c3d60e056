/** The kafkajs client for a process, logging through pino instead of kafkajs's console. */
import { Kafka, type LogEntry, logLevel } from 'kafkajs';
import type { Config } from '../lib/config.js';
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

export function createKafka(cfg: Pick<Config, 'kafkaBrokers'>, clientId: string): Kafka {
  return new Kafka({
    clientId,
    brokers: cfg.kafkaBrokers,
    connectionTimeout: 5_000,
    requestTimeout: 30_000,
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5_000 },
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(),
  });
}
