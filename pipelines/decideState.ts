/**
 * Where the decide stage reads its planning state. Each round first rediscovers the planned
 * tables from the routing map on the PostgreSQL coordinator (catalog/pg.ts, so the graph is
 * current even when `run catalog` is not running), then reads partitions, placement, node
 * capacities, the catalog's record of recent and in-flight commands (cooldowns) and co-access
 * from the Neo4j graph. When Neo4j does not answer, the round plans against the routing map
 * directly (logged once), with the executors' ledger as its command history, and the catalog is
 * tried again after a pause.
 */
import type pg from 'pg';
import type { Logger } from '../lib/log.js';
import type { Config } from '../lib/config.js';
import { UnavailableError } from '../lib/errors.js';
import { type Driver, catalogUnavailable, createCatalogDriver, ensureCatalogSchema } from '../catalog/neo4j.js';
import { Discovery } from '../catalog/discover.js';
import { coAccess, placement } from '../catalog/placement.js';
import {
  COMMAND_HISTORY_MS,
  PG_STORE,
  ledgerCommands,
  stateFromCatalog,
  stateFromRouting,
  type PlannedTables,
} from '../processors/decide/postgres/state.js';
import { currentKeys } from '../schemas/keyBuckets.js';
import { loadTableKeys } from '../stores/postgres/tableKeys.js';
import { IssuedCommands } from '../processors/decide/postgres/issued.js';
import type { ClusterStateInput } from '../processors/decide/state.js';
import { ledgerCommandsSince } from '../stores/postgres/ledger.js';
import { routingSnapshot } from '../stores/postgres/snapshot.js';

/** Without a finished command in between, the planned tables are rediscovered at most this often. */
const REDISCOVER_MS = 10_000;

/** After a failed catalog round, plan against the routing map this long before trying again. */
const CATALOG_RETRY_MS = 30_000;

/** How far back the catalog's co-access counts. */
const CO_ACCESS_MS = 10 * 60_000;

export interface Planning {
  via: 'catalog' | 'routing';
  state: ClusterStateInput;
  /** Every shard the store has, planned or not (new shard names must avoid them). */
  taken: { table: string; shard: string }[];
}

export interface PlanningSourceOptions {
  /** Series source name of the planned tables' key buckets. */
  source: string;
  /** Capacity of a node in the routing-map fallback (queries per window). */
  capacity: number;
  /** Capacity the catalog's nodes are planned with, when set (else each node's own). */
  nodeCapacity?: number;
  /** Plan against the Neo4j catalog (default true); false plans against the routing map only. */
  catalog?: boolean;
  /** Commands in the catalog older than this (ms since the epoch) are not planned against. */
  historySince?: number;
}

export class PlanningSource {
  private readonly driver: Driver | null;
  private readonly discovery: Discovery | null;
  private catalogDownUntil = 0;
  private onFallback = false;
  private schemaReady = false;
  private lastDiscovery = 0;
  private storeChanged = false;
  /** What this stage issued that the catalog may not list yet: remember each command sent. */
  readonly issued = new IssuedCommands();

  constructor(
    private readonly cfg: Config,
    private readonly log: Logger,
    private readonly pools: ReadonlyMap<string, pg.Pool>,
    private readonly coord: pg.Pool,
    private readonly opts: PlanningSourceOptions,
  ) {
    if (opts.catalog === false) {
      this.driver = null;
      this.discovery = null;
      return;
    }
    this.driver = createCatalogDriver(cfg);
    this.discovery = Discovery.open(cfg, this.driver, {
      kinds: ['postgres'],
      log,
      postgres: { source: PG_STORE, nodeCapacity: opts.nodeCapacity },
    });
  }

  /** A command finished: the next catalog round rediscovers the tables first. */
  markStoreChanged(): void {
    this.storeChanged = true;
  }

  async read(now: number): Promise<Planning> {
    const keys = await this.tableKeys();
    if (this.driver && Date.now() >= this.catalogDownUntil) {
      try {
        const planned = await this.fromCatalog(this.driver, this.discovery!, keys, now);
        if (this.onFallback) this.log.info('the Neo4j catalog answers again; planning against it');
        this.onFallback = false;
        return { via: 'catalog', ...planned };
      } catch (err) {
        this.catalogDownUntil = Date.now() + CATALOG_RETRY_MS;
        if (!this.onFallback)
          this.log.warn({ err: (err as Error).message }, 'the Neo4j catalog is unavailable; planning against the PostgreSQL routing map');
        this.onFallback = true;
      }
    }
    const tables = keys;
    const snap = await routingSnapshot(this.pools, this.coord, Object.keys(tables));
    // the catalog's command history, from the executors' ledger and what this stage issued since
    const taken = ledgerCommands(await ledgerCommandsSince(this.coord, this.commandsSince()));
    const commands = this.issued.addTo(taken, now);
    return { via: 'routing', state: stateFromRouting(snap, tables, this.opts.source, this.opts.capacity, commands, now), taken: [] };
  }

  /**
   * The planned tables' keys: configured, or what a rekey recorded in the routing map (ingest
   * buckets by the same, pipelines/tableKeys.ts). A coordinator that does not answer leaves the
   * configured ones: a re-keyed table then reports another key and is left out of range planning.
   */
  private async tableKeys(): Promise<PlannedTables> {
    const configured = this.cfg.partitionKeys;
    try {
      return currentKeys(configured, await loadTableKeys(this.coord, Object.keys(configured)));
    } catch {
      return configured;
    }
  }

  private async fromCatalog(driver: Driver, discovery: Discovery, keys: PlannedTables, now: number): Promise<Omit<Planning, 'via'>> {
    // A quick probe first: the driver's own retries would hold a round for many seconds.
    const down = await catalogUnavailable(driver);
    if (down) throw new UnavailableError(down);
    if (!this.schemaReady) {
      await ensureCatalogSchema(driver);
      this.schemaReady = true;
    }
    const tables = Object.keys(keys);
    const pgSource = discovery.byKind('postgres')!;
    // Rediscover the planned tables when a command finished since the last look (its effect
    // must be planned against) or every REDISCOVER_MS, not on every round.
    if (this.storeChanged || Date.now() - this.lastDiscovery >= REDISCOVER_MS) {
      this.storeChanged = false;
      for (const t of tables) await discovery.discover(pgSource, { table: t });
      this.lastDiscovery = Date.now();
    }
    const listed = await placement(driver, PG_STORE, tables, {
      commandsSince: this.commandsSince(),
    });
    const view = { ...listed, commands: this.issued.addTo(listed.commands, now) };
    const edges = await coAccess(driver, tables, Date.now() - CO_ACCESS_MS);
    return {
      state: stateFromCatalog(view, keys, this.opts.source, { capacity: this.opts.nodeCapacity, now, coAccess: edges }),
      taken: view.partitions.map((p) => ({ table: p.table, shard: p.partition })),
    };
  }

  /** The oldest command a round plans against. */
  private commandsSince(): number {
    return Math.max(Date.now() - COMMAND_HISTORY_MS, this.opts.historySince ?? 0);
  }

  async close(): Promise<void> {
    await this.discovery?.close();
    await this.driver?.close();
  }
}
