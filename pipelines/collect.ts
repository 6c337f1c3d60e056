/**
 * The PostgreSQL telemetry collector: follows each shard node's csvlog and publishes every
 * finished statement as a QueryEvent, so queries of any client become telemetry without
 * changing the client. Lines that are not statements are skipped and counted by reason.
 */
import path from 'node:path';
import type { Config } from '../lib/config.js';
import { logger } from '../lib/log.js';
import { parseCsvLog } from '../collectors/pglog.js';
import { CsvLogTail } from '../collectors/tail.js';
import { TelemetryPublisher } from '../topics/sdk.js';
import { listNodes } from '../stores/postgres/routing.js';
import { PgPools } from '../stores/postgres/nodes.js';

export interface CollectorNode {
  node: string;
  logDir: string;
}

export interface CollectorStats {
  published: number;
  skipped: Record<string, number>;
}

/** The local stack's shard nodes and where their csvlogs are. */
export function localCollectorNodes(cfg: Config): CollectorNode[] {
  return cfg.pgNodes.map((_, i) => ({ node: `node${i}`, logDir: path.join(cfg.stackDir, 'pg', `node${i}`, 'log') }));
}

export async function startCollector(
  cfg: Config,
  opts: {
    source?: string;
    nodes?: CollectorNode[];
    fromNow?: boolean;
    pollMs?: number;
    ignoreApplications?: string[];
    /** Finds nodes that appeared since the start (a scale-out); default: the routing map's managed nodes. */
    discover?: () => Promise<CollectorNode[]>;
    rediscoverMs?: number;
  } = {},
): Promise<{ stats: CollectorStats; stop(): Promise<void> }> {
  const log = logger('collect');
  const source = opts.source ?? 'pg-shards';
  const nodes = opts.nodes ?? localCollectorNodes(cfg);
  const publisher = await TelemetryPublisher.connect(cfg, { clientId: 'shardcast-collector' });
  const follow = async (n: CollectorNode, fromNow: boolean) => {
    const tail = new CsvLogTail(n.logDir, path.join(n.logDir, '..', 'collector-offsets.json'));
    await tail.load();
    if (fromNow) await tail.skipExisting();
    return { ...n, tail };
  };
  const tails = await Promise.all(nodes.map((n) => follow(n, opts.fromNow ?? false)));
  const discover = opts.discover ?? (opts.nodes ? null : () => managedCollectorNodes(cfg));
  let discoveredAt = Date.now();
  const stats: CollectorStats = { published: 0, skipped: {} };
  let running = true;
  const loop = (async () => {
    while (running) {
      if (discover && Date.now() - discoveredAt >= (opts.rediscoverMs ?? 5_000)) {
        discoveredAt = Date.now();
        try {
          for (const n of await discover()) {
            if (tails.some((t) => t.node === n.node)) continue;
            // a node that appeared during the run: everything in its log is new
            tails.push(await follow(n, false));
            log.info({ node: n.node, logDir: n.logDir }, 'collecting from a new node');
          }
        } catch (err) {
          log.warn({ err }, 'node discovery failed; collecting from the known nodes');
        }
      }
      for (const t of tails) {
        const text = await t.tail.poll();
        if (!text) continue;
        for (const line of parseCsvLog(text, { source, node: t.node, ignoreApplications: opts.ignoreApplications })) {
          if (line.event) {
            await publisher.publishQuery(line.event);
            stats.published++;
          } else {
            stats.skipped[line.skipped!] = (stats.skipped[line.skipped!] ?? 0) + 1;
          }
        }
        // Offsets are saved only after the events before them were acknowledged.
        await publisher.flush();
        await t.tail.save();
      }
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
    }
  })().catch((err) => log.error({ err }, 'collector failed'));
  return {
    stats,
    async stop() {
      running = false;
      await loop;
      await publisher.close();
    },
  };
}

/** Nodes a scale-out started (managed data directories in the routing map), with their csvlogs. */
async function managedCollectorNodes(cfg: Config): Promise<CollectorNode[]> {
  const pools = new PgPools({ executor: false, max: 1 });
  try {
    const nodes = await listNodes(pools.get(cfg.pgNodes[0]!));
    return nodes
      .filter((n) => n.managedDir && n.state !== 'stopped')
      .map((n) => ({ node: n.node, logDir: path.join(n.managedDir!, 'log') }));
  } finally {
    await pools.end();
  }
}
