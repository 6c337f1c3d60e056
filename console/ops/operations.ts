/**
 * The operations layer in one object: the services the command line and the HTTP API call, over
 * clients opened on first use (the ledger's pool, ClickHouse, Neo4j, Kafka's admin and producer)
 * and closed together.
 */
import { newPgPool } from '../../stores/postgres/pool.js';
import type { Admin } from '../../lib/kafkajs.js';
import { createClickHouse, ensureAnalyticsSchema } from '../../analytics/clickhouse.js';
import { Discovery } from '../../catalog/discover.js';
import { createCatalogDriver, ensureCatalogSchema } from '../../catalog/neo4j.js';
import { CommandLedger } from '../../executors/ledger.js';
import type { Config } from '../../lib/config.js';
import { type Logger, logger } from '../../lib/log.js';
import { AvroSerde } from '../../schemas/serde.js';
import { COMMAND_TOPICS, TOPICS } from '../../schemas/topics.js';
import { ensureControls } from '../../stores/postgres/controls.js';
import { provisionTopics } from '../../topics/admin.js';
import { createKafka } from '../../topics/kafka.js';
import { TopicProducer } from '../../topics/producer.js';
import { AnalyticsService } from './analytics.js';
import { type AuditLog, auditEvent, kafkaAuditLog } from './audit.js';
import { CatalogService } from './catalog.js';
import { CommandService } from './commands.js';
import { ControlService } from './controls.js';
import { EventFeed } from './events.js';
import { LoadService } from './load.js';
import { type ProposalDeps, ProposalService } from './proposals.js';
import { StageService } from './stages.js';

export interface Operations {
  commands(): Promise<CommandService>;
  catalog(): CatalogService;
  analytics(): AnalyticsService;
  load(): LoadService;
  stages(): StageService;
  proposals(): ProposalService;
  controls(): Promise<ControlService>;
  events(): EventFeed;
  close(): Promise<void>;
}

/** The topics the console writes: the audit trail and, for executed proposals, the command topics. */
const CONSOLE_TOPICS = [TOPICS.audit, ...Object.values(TOPICS).filter((t) => (Object.values(COMMAND_TOPICS) as string[]).includes(t.name))];

/** Opens the console's Kafka side: its topics provisioned, their schemas registered, a producer connected. */
export async function openConsoleKafka(cfg: Config): Promise<{ producer: TopicProducer; close(): Promise<void> }> {
  const kafka = createKafka(cfg, 'shardcast-console');
  await provisionTopics(kafka, CONSOLE_TOPICS);
  const serde = AvroSerde.create(cfg);
  for (const t of CONSOLE_TOPICS) await serde.registerTopic(t);
  const producer = await TopicProducer.connect(kafka, serde);
  return { producer, close: () => producer.disconnect() };
}

export interface OperationsOptions {
  log?: Logger;
  audit?: AuditLog;
  /** How proposals are planned: as the decide stage that runs is configured (defaults: as `run decide`). */
  proposals?: Pick<ProposalDeps, 'decide' | 'source' | 'nodeCapacity' | 'scope'>;
}

export function openOperations(cfg: Config, opts: OperationsOptions = {}): Operations {
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
  const lazy = <T>(open: () => T) => {
    let v: T | undefined;
    return () => {
      v ??= open();
      return v;
    };
  };
  const kafkaIo = once(async () => {
    const k = await openConsoleKafka(cfg);
    closers.push(k.close);
    return k;
  });
  const events = lazy(() => {
    const feed = new EventFeed(
      () => ledger(),
      async () => (await controls()).get(),
      (err) => log.warn({ err: (err as Error).message }, 'the live feed could not poll; retried'),
    );
    closers.push(async () => feed.close());
    return feed;
  });
  // Every audited write is also an event on the live feed.
  const audit = once(async (): Promise<AuditLog> => {
    const inner = opts.audit ?? kafkaAuditLog((await kafkaIo()).producer, log);
    return {
      async record(e) {
        await inner.record(e);
        events().publish({ type: 'audit', data: auditEvent(e, Date.now()) });
      },
    };
  });
  const ledger = once(async () => {
    const l = await CommandLedger.open(cfg.pgNodes[0]!);
    closers.push(() => l.close());
    return l;
  });
  const commands = once(async () => new CommandService(await ledger(), audit));
  const controls = once(async () => {
    const pool = newPgPool({ connectionString: cfg.pgNodes[0]!, max: 2, application_name: 'shardcast-console' });
    closers.push(() => pool.end());
    await ensureControls(pool);
    return new ControlService(pool, audit);
  });
  const clickhouse = lazy(() => {
    const ch = createClickHouse(cfg);
    closers.push(() => ch.close());
    let schema: Promise<void> | undefined;
    // made on first use (idempotently, as the sink does): a query before any sink ran answers with no rows
    const ensure = () =>
      (schema ??= ensureAnalyticsSchema(ch, cfg.clickhouseDatabase).catch((err: unknown) => {
        schema = undefined;
        throw err;
      }));
    return { ch, ensure };
  });
  const admin = once(async (): Promise<Admin> => {
    const a = createKafka(cfg, 'shardcast-console-admin').admin();
    await a.connect();
    closers.push(() => a.disconnect());
    return a;
  });
  const catalog = lazy(() => {
    const driver = createCatalogDriver(cfg);
    closers.push(() => driver.close());
    // each discovery opens its sources' clients and closes them: one on demand is rare
    const discoverOnce = async () => {
      const discovery = Discovery.open(cfg, driver, { log });
      try {
        await ensureCatalogSchema(driver);
        return await discovery.discoverAll();
      } finally {
        await discovery.close();
      }
    };
    return new CatalogService(driver, discoverOnce, audit);
  });
  const analytics = lazy(() => new AnalyticsService(clickhouse().ch, cfg.clickhouseDatabase, clickhouse().ensure));
  const load = lazy(() => new LoadService(clickhouse().ch, cfg.clickhouseDatabase, clickhouse().ensure));
  const stages = lazy(
    () =>
      new StageService(admin, clickhouse().ch, cfg.clickhouseDatabase, clickhouse().ensure, `http://127.0.0.1:${cfg.metricsPort}/metrics`),
  );
  const proposals = lazy(() => {
    const s = new ProposalService({
      cfg,
      log,
      ch: clickhouse().ch,
      db: cfg.clickhouseDatabase,
      ensureSchema: clickhouse().ensure,
      producer: async () => (await kafkaIo()).producer,
      audit,
      ...opts.proposals,
    });
    closers.push(() => s.close());
    return s;
  });
  return {
    commands,
    catalog,
    analytics,
    load,
    stages,
    proposals,
    controls,
    events,
    async close() {
      // in reverse: services before the clients they use
      await Promise.allSettled(
        closers
          .splice(0)
          .reverse()
          .map((c) => c()),
      );
    },
  };
}
