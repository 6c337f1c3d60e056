/** The kafkajs client for a process, logging through pino instead of kafkajs's console. */
import { Kafka, logLevel, type LogEntry } from 'kafkajs';
import type { Config } from '../lib/config.js';
import { logger } from '../lib/log.js';

const LEVEL: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

export function createKafka(cfg: Pick<Config, 'kafkaBrokers'>, clientId: string): Kafka {
  const log = logger('kafkajs');
  return new Kafka({
    clientId,
    brokers: cfg.kafkaBrokers,
    connectionTimeout: 5_000,
    requestTimeout: 30_000,
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5_000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        log[LEVEL[level] ?? 'info'](rest, message);
      },
  });
}
