/**
 * The executors' check of a command against the federation catalog: what the command names
 * must be in the graph (not vanished) and, for a move, where it says the partition is must be
 * where the catalog has it. The catalog is kept current by `run catalog`, but an executor can
 * see a command before that stage has caught up (the move of a shard that a split created a
 * second ago), so a miss triggers one targeted rediscovery of the source and a second look;
 * only what is still missing or stale after that is rejected. The store adapter's own checks
 * against the store (routing map, system tables, topic metadata) run after this one.
 *
 * When Neo4j does not answer, `mode` decides: 'required' rejects the command with the reason,
 * 'optional' (the default) lets the store adapter's checks decide and warns once a minute.
 */
import type { AnyCommand } from '../schemas/types.js';
import type { Logger } from '../lib/log.js';
import { catalogUnavailable, type Driver } from './neo4j.js';
import type { Discovery } from './discover.js';
import { topicOf, type StoreNames } from './sync.js';

export type CatalogCheckMode = 'required' | 'optional' | 'off';

interface TableView {
  partitions: Map<string, { primary: string | null; replicas: string[] }>;
}

/** What a command needs the catalog to hold, or a reason it does not. */
type Verdict = { ok: true } | { ok: false; reason: string };
const ok: Verdict = { ok: true };
const no = (reason: string): Verdict => ({ ok: false, reason });

const WARN_EVERY_MS = 60_000;

export class CatalogValidator {
  private lastWarn = 0;

  constructor(
    private readonly driver: Driver,
    private readonly discovery: Discovery,
    private readonly names: StoreNames,
    private readonly opts: { mode?: CatalogCheckMode; log?: Logger } = {},
  ) {}

  get mode(): CatalogCheckMode {
    return this.opts.mode ?? 'optional';
  }

  /** Null when the catalog agrees with the command (or is not consulted), else the reason. */
  async check(cmd: AnyCommand): Promise<string | null> {
    if (this.mode === 'off') return null;
    // A quick probe first: the driver's own retries would hold the command for many seconds.
    const down = await catalogUnavailable(this.driver);
    if (down) return this.unavailable(down);
    try {
      const first = await this.verdict(cmd);
      if (first.ok) return null;
      await this.refresh(cmd);
      const second = await this.verdict(cmd);
      return second.ok ? null : `catalog: ${second.reason}`;
    } catch (err) {
      return this.unavailable((err as Error).message);
    }
  }

  private unavailable(why: string): string | null {
    if (this.mode === 'required') return `the federation catalog (Neo4j) is unavailable: ${why}`;
    if (Date.now() - this.lastWarn > WARN_EVERY_MS) {
      this.lastWarn = Date.now();
      this.opts.log?.warn({ err: why }, 'the federation catalog is unavailable; commands are validated against the stores only');
    }
    return null;
  }

  private async verdict(cmd: AnyCommand): Promise<Verdict> {
    switch (cmd.storeKind) {
      case 'postgres':
        return cmd.kind === 'resource' ? this.pgResource(cmd) : this.pgTable(cmd);
      case 'clickhouse': {
        if (cmd.kind === 'resource') return ok;
        const db = cmd.params.database ?? this.names.clickhouseDatabase;
        const { records } = await this.driver.executeQuery(
          'MATCH (t:Table) WHERE t.source = $source AND t.database = $db AND t.name = $table AND t.vanishedAt IS NULL RETURN t.id AS id',
          { source: cmd.store, db, table: cmd.table },
        );
        return records.length > 0 ? ok : no(`table ${db}.${cmd.table} of ${cmd.store} is not in the catalog`);
      }
      case 'kafka': {
        if (cmd.kind === 'resource') return ok;
        const topic = topicOf(cmd);
        const { records } = await this.driver.executeQuery(
          'MATCH (t:Topic) WHERE t.source = $source AND t.name = $topic AND t.vanishedAt IS NULL RETURN t.id AS id',
          { source: cmd.store, topic },
        );
        return records.length > 0 ? ok : no(`topic ${topic} of ${cmd.store} is not in the catalog`);
      }
      default:
        return ok;
    }
  }

  private async nodes(source: string): Promise<Map<string, string | null>> {
    const { records } = await this.driver.executeQuery(
      `MATCH (:DataSource {id: $source})-[:HAS_NODE]->(n:Node) WHERE n.vanishedAt IS NULL RETURN n.name AS name, n.state AS state`,
      { source },
    );
    return new Map(records.map((r) => [r.get('name') as string, r.get('state') as string | null]));
  }

  private async table(source: string, table: string): Promise<TableView | null> {
    const { records } = await this.driver.executeQuery(
      `MATCH (t:Table) WHERE t.source = $source AND t.name = $table AND t.kind = 'sharded' AND t.vanishedAt IS NULL
       OPTIONAL MATCH (t)-[:HAS_PARTITION]->(p:Partition) WHERE p.vanishedAt IS NULL
       OPTIONAL MATCH (p)-[r:PLACED_ON]->(n:Node)
       RETURN t.id AS id, p.name AS partition, n.name AS node, r.role AS role`,
      { source, table },
    );
    if (records.length === 0) return null;
    const partitions: TableView['partitions'] = new Map();
    for (const r of records) {
      const name = r.get('partition') as string | null;
      if (name === null) continue;
      const p = partitions.get(name) ?? { primary: null, replicas: [] };
      const node = r.get('node') as string | null;
      if (node !== null && r.get('role') === 'primary') p.primary = node;
      else if (node !== null) p.replicas.push(node);
      partitions.set(name, p);
    }
    return { partitions };
  }

  private async pgTable(cmd: Exclude<AnyCommand, { kind: 'resource' }>): Promise<Verdict> {
    const t = await this.table(cmd.store, cmd.table);
    if (!t) return no(`table ${cmd.table} of ${cmd.store} is not in the catalog`);
    const named = [cmd.partition, cmd.kind === 'partition' && cmd.action === 'merge' ? cmd.params.with : null];
    for (const p of named) {
      if (p !== null && p !== undefined && !t.partitions.has(p)) return no(`partition ${p} of ${cmd.table} is not in the catalog`);
    }
    if (cmd.kind !== 'shard') return ok;
    const place = cmd.partition !== null ? t.partitions.get(cmd.partition) : undefined;
    if (cmd.action === 'move' && place && cmd.sourceNode !== null && place.primary !== cmd.sourceNode) {
      return no(
        `stale: the catalog has ${cmd.table}/${cmd.partition} on ${place.primary ?? 'no node'}, the command moves it from ${cmd.sourceNode}`,
      );
    }
    if (cmd.targetNode !== null) {
      const state = (await this.nodes(cmd.store)).get(cmd.targetNode);
      if (state === undefined) return no(`node ${cmd.targetNode} of ${cmd.store} is not in the catalog`);
      if (state === 'stopped') return no(`node ${cmd.targetNode} is stopped in the catalog`);
    }
    return ok;
  }

  private async pgResource(cmd: Extract<AnyCommand, { kind: 'resource' }>): Promise<Verdict> {
    // scale_out names a node that does not exist yet; scale_in must name one the catalog knows.
    if (cmd.action !== 'scale_in' || cmd.node === null) return ok;
    return (await this.nodes(cmd.store)).has(cmd.node) ? ok : no(`node ${cmd.node} of ${cmd.store} is not in the catalog`);
  }

  /** One rediscovery of what the command names (a table, a topic, or the whole source). */
  private async refresh(cmd: AnyCommand): Promise<void> {
    const source = this.discovery.bySource(cmd.store);
    if (!source) return;
    const target =
      cmd.kind === 'resource'
        ? undefined
        : source.kind === 'postgres'
          ? { table: cmd.table }
          : source.kind === 'kafka'
            ? { topic: topicOf(cmd) ?? undefined }
            : undefined;
    try {
      await this.discovery.discover(source, target);
    } catch (err) {
      // The store did not answer: the second look sees the graph as it was.
      this.opts.log?.warn({ source: cmd.store, err: (err as Error).message }, 'rediscovery for a command check failed');
    }
  }
}
