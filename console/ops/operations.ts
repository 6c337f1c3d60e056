/**
 * The operations layer in one object: the services the command line and the HTTP API call, over
 * clients opened on first use (the ledger's pool, ClickHouse, Neo4j, the audit producer) and
 * closed together.
 */
import { createClickHouse } from '../../analytics/clickhouse.js';
import { createCatalogDriver } from '../../catalog/neo4j.js';
import { CommandLedger } from '../../executors/ledger.js';
import type { Config } from '../../lib/config.js';
import { type Logger, logger } from '../../lib/log.js';
import { AvroSerde } from '../../schemas/serde.js';
import { TOPICS } from '../../schemas/topics.js';
import { provisionTopics } from '../../topics/admin.js';
import { createKafka } from '../../topics/kafka.js';
import { TopicProducer } from '../../topics/producer.js';
import { AnalyticsService } from './analytics.js';
import { type AuditLog, kafkaAuditLog } from './audit.js';
import { CatalogService } from './catalog.js';
import { CommandService } from './commands.js';

export interface Operations {
  commands(): Promise<CommandService>;
  catalog(): CatalogService;
  analytics(): AnalyticsService;
  close(): Promise<void>;
}

/** Opens the audit trail: `shardcast.audit` provisioned, its schema registered, a producer connected. */
export async function openKafkaAudit(cfg: Config, log: Logger): Promise<{ audit: AuditLog; close(): Promise<void> }> {
  const kafka = createKafka(cfg, 'shardcast-console');
  await provisionTopics(kafka, [TOPICS.audit]);
  const serde = AvroSerde.create(cfg);
  await serde.registerTopic(TOPICS.audit);
  const producer = await TopicProducer.connect(kafka, serde);
  return { audit: kafkaAuditLog(producer, log), close: () => producer.disconnect() };
}

export function openOperations(cfg: Config, opts: { log?: Logger; audit?: AuditLog } = {}): Operations {
  const log = opts.log ?? logger('console');
  const closers: (() => Promise<unknown>)[] = [];
  const once = <T>(open: () => Promise<T>) => {
    let p: Promise<T> | undefined;
    return () => {
      p ??= open().catch((err) => {
        p = undefined; // a server that was down may answer the next request
        throw err;
      });
      return p;
    };
  };
  const audit = once(async () => {
    if (opts.audit) return opts.audit;
    const a = await openKafkaAudit(cfg, log);
    closers.push(a.close);
    return a.audit;
  });
  const commands = once(async () => {
    const ledger = await CommandLedger.open(cfg.pgNodes[0]!);
    closers.push(() => ledger.close());
    return new CommandService(ledger, audit);
  });
  let catalog: CatalogService | undefined;
  let analytics: AnalyticsService | undefined;
  return {
    commands,
    catalog() {
      if (!catalog) {
        const driver = createCatalogDriver(cfg);
        closers.push(() => driver.close());
        catalog = new CatalogService(driver);
      }
      return catalog;
    },
    analytics() {
      if (!analytics) {
        const ch = createClickHouse(cfg);
        closers.push(() => ch.close());
        analytics = new AnalyticsService(ch, cfg.clickhouseDatabase);
      }
      return analytics;
    },
    async close() {
      await Promise.allSettled(closers.splice(0).map((c) => c()));
    },
  };
}
