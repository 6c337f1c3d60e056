/**
 * Automated discovery: introspect each configured source (pg.ts, clickhouse.ts, kafka.ts), apply
 * the snapshot to the graph (snapshot.ts) and report what appeared, vanished or changed. One
 * discovery per source runs at a time (the diff reads, then writes). A source that cannot be
 * reached is reported and left as the graph had it.
 */
import type { Config } from '../lib/config.js';
import type { Logger } from '../lib/log.js';
import type { Driver } from './neo4j.js';
import { applySnapshot, type ApplyOptions, type CatalogDiff } from './snapshot.js';
import { ClickHouseDiscovery } from './clickhouse.js';
import { KafkaDiscovery } from './kafka.js';
import { PostgresDiscovery, type PgDiscoveryOptions } from './pg.js';
import type { DiscoveryTarget, SourceDiscovery } from './source.js';

export type { DiscoveryTarget, SourceDiscovery } from './source.js';

export interface DiscoveryReport {
  diffs: CatalogDiff[];
  failed: { source: string; reason: string }[];
}

export interface DiscoveryOptions extends ApplyOptions {
  /** Which kinds of source to introspect (default all three). */
  kinds?: SourceDiscovery['kind'][];
  postgres?: PgDiscoveryOptions;
  log?: Logger;
}

const MAX_LOGGED = 20;

export class Discovery {
  private readonly chains = new Map<string, Promise<unknown>>();
  /** Start time of each source's last successful full discovery. */
  readonly lastFull = new Map<string, number>();

  constructor(
    private readonly driver: Driver,
    readonly sources: SourceDiscovery[],
    private readonly opts: DiscoveryOptions = {},
  ) {}

  static open(cfg: Config, driver: Driver, opts: DiscoveryOptions = {}): Discovery {
    const kinds = opts.kinds ?? ['postgres', 'clickhouse', 'kafka'];
    const sources: SourceDiscovery[] = [];
    if (kinds.includes('postgres')) sources.push(new PostgresDiscovery(cfg.pgNodes, opts.postgres));
    if (kinds.includes('clickhouse')) sources.push(new ClickHouseDiscovery(cfg));
    if (kinds.includes('kafka')) sources.push(new KafkaDiscovery(cfg));
    return new Discovery(driver, sources, opts);
  }

  byKind(kind: SourceDiscovery['kind']): SourceDiscovery | undefined {
    return this.sources.find((s) => s.kind === kind);
  }

  bySource(id: string): SourceDiscovery | undefined {
    return this.sources.find((s) => s.source === id);
  }

  /** Discovers one source (whole, or one target in it); serialised per source. */
  discover(source: SourceDiscovery, target?: DiscoveryTarget): Promise<CatalogDiff> {
    const prev = this.chains.get(source.source) ?? Promise.resolve();
    const run = prev
      .catch(() => undefined)
      .then(async () => {
        const started = Date.now();
        const snap = await source.snapshot(target);
        const diff = await applySnapshot(this.driver, snap, { ...this.opts, now: started });
        const whole = target === undefined || (target.table === undefined && target.topic === undefined);
        if (whole && snap.unreachable.length === 0) this.lastFull.set(source.source, started);
        this.report(diff, target);
        return diff;
      });
    this.chains.set(source.source, run);
    return run;
  }

  async discoverAll(): Promise<DiscoveryReport> {
    const out: DiscoveryReport = { diffs: [], failed: [] };
    const settled = await Promise.allSettled(this.sources.map((s) => this.discover(s)));
    settled.forEach((r, i) => {
      const source = this.sources[i]!.source;
      if (r.status === 'fulfilled') out.diffs.push(r.value);
      else {
        out.failed.push({ source, reason: (r.reason as Error).message });
        this.opts.log?.warn(
          { source, err: (r.reason as Error).message },
          'catalog discovery failed; the graph keeps what it had for this source',
        );
      }
    });
    return out;
  }

  private report(d: CatalogDiff, target?: DiscoveryTarget): void {
    const log = this.opts.log;
    if (!log) return;
    const list = (xs: { label: string; id: string }[]) =>
      xs
        .slice(0, MAX_LOGGED)
        .map((x) => `${x.label} ${x.id}`)
        .concat(xs.length > MAX_LOGGED ? [`… ${xs.length - MAX_LOGGED} more`] : []);
    const fields = {
      source: d.source,
      target,
      added: d.added.length,
      vanished: d.vanished.length,
      changed: d.changed.length,
      counts: d.counts,
    };
    if (d.added.length || d.vanished.length || d.changed.length) {
      log.info(
        { ...fields, new: list(d.added), gone: list(d.vanished), moved: d.changed.slice(0, MAX_LOGGED).map((c) => `${c.id}: ${c.what}`) },
        'catalog changed',
      );
    } else {
      log.debug(fields, 'catalog unchanged');
    }
    for (const u of d.unreachable)
      log.warn(
        { source: d.source, scope: u.scope, reason: u.reason },
        'part of a source did not answer; its objects were left as they were',
      );
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.chains.values()]);
    for (const s of this.sources) await s.close().catch(() => undefined);
  }
}
