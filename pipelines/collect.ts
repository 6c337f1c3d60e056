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
  opts: { source?: string; nodes?: CollectorNode[]; fromNow?: boolean; pollMs?: number; ignoreApplications?: string[] } = {},
): Promise<{ stats: CollectorStats; stop(): Promise<void> }> {
  const log = logger('collect');
  const source = opts.source ?? 'pg-shards';
  const nodes = opts.nodes ?? localCollectorNodes(cfg);
  const publisher = await TelemetryPublisher.connect(cfg, { clientId: 'shardcast-collector' });
  const tails = await Promise.all(
    nodes.map(async (n) => {
      const tail = new CsvLogTail(n.logDir, path.join(n.logDir, '..', 'collector-offsets.json'));
      await tail.load();
      if (opts.fromNow) await tail.skipExisting();
      return { ...n, tail };
    }),
  );
  const stats: CollectorStats = { published: 0, skipped: {} };
  let running = true;
  const loop = (async () => {
    while (running) {
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
