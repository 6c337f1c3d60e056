/**
 * The PostgreSQL telemetry collector: follows each shard node's csvlog and publishes every
 * finished statement as a QueryEvent, so queries of any client become telemetry without
 * changing the client. Lines that are not statements are skipped and counted by reason.
 * Failures follow the stages' policy (failure.ts): while Kafka does not answer, the collector
 * retries with backoff from the last saved log offsets (health says it is retrying); any other
 * error stops it and rejects `done`.
 */
import path from 'node:path';
import type { Config } from '../lib/config.js';
import { logger } from '../lib/log.js';
import { parseCsvLog } from '../collectors/pglog.js';
import { CsvLogTail } from '../collectors/tail.js';
import { TelemetryPublisher } from '../topics/sdk.js';
import { listNodes } from '../stores/postgres/routing.js';
import { PgPools } from '../stores/postgres/nodes.js';
import { initialHealth, pollWhileRunning, type StageHealth } from './failure.js';

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
): Promise<{ stats: CollectorStats; health: StageHealth; done: Promise<void>; stop(): Promise<void> }> {
  const log = logger('collect');
  const source = opts.source ?? 'pg-shards';
  const nodes = opts.nodes ?? localCollectorNodes(cfg);
  const connect = () => TelemetryPublisher.connect(cfg, { clientId: 'shardcast-collector' });
  let publisher = await connect();
  const follow = async (n: CollectorNode, fromNow: boolean) => {
    const tail = new CsvLogTail(n.logDir, path.join(n.logDir, '..', 'collector-offsets.json'));
    await tail.load();
    if (fromNow) {
      await tail.skipExisting();
      // saved, so that a retry that goes back to the saved offsets does not read the past
      await tail.save();
    }
    return { ...n, tail };
  };
  const tails = await Promise.all(nodes.map((n) => follow(n, opts.fromNow ?? false)));
  const discover = opts.discover ?? (opts.nodes ? null : () => managedCollectorNodes(cfg));
  let discoveredAt = Date.now();
  const stats: CollectorStats = { published: 0, skipped: {} };
  const health = initialHealth();
  const stopped = new AbortController();
  let failed = false;
  /** One pass over the logs; after a failure it starts again from the saved offsets. */
  const collectOnce = async () => {
    if (failed) {
      // The publisher dropped what it had buffered and stays failed: a new one, and every line
      // after the saved offsets is read again (at-least-once).
      await publisher.close().catch(() => undefined);
      publisher = await connect();
      for (const t of tails) await t.tail.load();
      failed = false;
    }
    try {
      await pollTails();
    } catch (err) {
      failed = true;
      throw err;
    }
  };
  const pollTails = async () => {
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
  };
  const done = pollWhileRunning(collectOnce, {
    step: 'collect',
    health,
    signal: stopped.signal,
    intervalMs: opts.pollMs ?? 250,
    log,
    retrying: 'collecting failed; retrying from the saved offsets',
    failed: 'collector failed',
    stoppedWhileRetrying: 'collector stopped while retrying; lines after the saved offsets are read again next time',
  });
  return {
    stats,
    health,
    done,
    async stop() {
      stopped.abort();
      await done.catch(() => undefined);
      // a failed publisher has nothing left to flush that would be kept
      if (failed) await publisher.close().catch(() => undefined);
      else await publisher.close();
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
