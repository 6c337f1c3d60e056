/**
 * `shardcast catalog discover | where <table> <key> | hot | deps <table> [--json]`: the Neo4j
 * federation catalog from the command line, through the operations layer (as the API asks it).
 *   discover  introspects every source now and prints what appeared, vanished or changed;
 *             exit 1 when a source could not be read (the others are still written)
 *   where     the partition and nodes that hold a key of a table (or topic)
 *   hot       series and partitions by their latest window's load (`run catalog` records it)
 *   deps      what is derived from a table, transitively
 * A table is named by its catalog id (source/database/name), `database.name`, or its name when
 * that is unambiguous; an unknown or ambiguous name is bad input (exit 2).
 */
import type { CatalogService } from '../../console/ops/catalog.js';
import { openOperations } from '../../console/ops/operations.js';
import { loadConfig } from '../../lib/config.js';
import { UnavailableError } from '../../lib/errors.js';
import { logger } from '../../lib/log.js';
import { printTable } from '../../lib/table.js';

export interface CatalogCommandOptions {
  json?: boolean;
  limit?: number;
  since?: number;
}

const out = (o: unknown) => process.stdout.write(`${JSON.stringify(o, null, 2)}\n`);

async function withCatalog<T>(fn: (c: CatalogService) => Promise<T>): Promise<T> {
  const ops = openOperations(loadConfig(), { log: logger('catalog') });
  try {
    return await fn(ops.catalog());
  } finally {
    await ops.close();
  }
}

export async function catalogDiscoverCommand(o: CatalogCommandOptions): Promise<void> {
  await withCatalog(async (catalog) => {
    const report = await catalog.discover();
    if (o.json) out(report);
    else {
      printTable(
        report.diffs.map((d) => ({
          source: d.source,
          tables: d.counts.Table,
          partitions: d.counts.Partition,
          topics: d.counts.Topic,
          nodes: d.counts.Node,
          new: d.added.length,
          vanished: d.vanished.length,
          changed: d.changed.length,
          unreachable: d.unreachable.map((u) => u.scope).join(' '),
        })),
      );
      const lines = report.diffs.flatMap((d) => [
        ...d.added.map((a) => `+ ${a.label} ${a.id}`),
        ...d.vanished.map((v) => `- ${v.label} ${v.id}`),
        ...d.changed.map((c) => `~ ${c.label} ${c.id}: ${c.what}`),
        ...d.unreachable.map((u) => `! ${d.source} ${u.scope}: ${u.reason}`),
      ]);
      for (const f of report.failed) lines.push(`! ${f.source}: ${f.reason}`);
      if (lines.length) process.stdout.write(`${lines.join('\n')}\n`);
    }
    if (report.failed.length > 0) {
      throw new UnavailableError(`catalog discover: ${report.failed.map((f) => `${f.source}: ${f.reason}`).join('; ')}`);
    }
  });
}

export async function catalogWhereCommand(table: string, key: string, o: CatalogCommandOptions): Promise<void> {
  await withCatalog(async (catalog) => {
    const answer = await catalog.where({ table, key });
    if (o.json) return out(answer);
    process.stdout.write(`${answer.object.id}: key ${key} (${answer.by}${answer.note ? `; ${answer.note}` : ''})\n`);
    printTable(
      answer.partitions.map((p) => ({
        partition: p.partition,
        range: p.kind === 'range' ? `[${p.lo ?? '-inf'}, ${p.hi ?? 'inf'})` : (p.value ?? p.kind),
        rows: p.rows,
        primary: p.nodes
          .filter((n) => n.role === 'primary')
          .map((n) => n.node)
          .join(','),
        replicas: p.nodes
          .filter((n) => n.role === 'replica')
          .map((n) => n.node)
          .join(','),
      })),
    );
  });
}

export async function catalogHotCommand(o: CatalogCommandOptions): Promise<void> {
  await withCatalog(async (catalog) => {
    const answer = await catalog.hot({ limit: o.limit, sinceMs: o.since });
    if (o.json) return out(answer);
    process.stdout.write(`series by load in their latest window (since ${new Date(answer.since).toISOString()}):\n`);
    printTable(
      answer.series.map((s) => ({
        series: s.seriesId,
        queries: s.queries,
        reads: s.reads,
        writes: s.writes,
        p95ms: s.latencyP95Ms,
        window: new Date(s.windowStart).toISOString(),
        partitions: s.partitions.map((p) => `${p.partition}@${p.node ?? '?'}`).join(' '),
      })),
    );
    process.stdout.write('\npartitions:\n');
    printTable(answer.partitions.map((p) => ({ partition: p.id, node: p.node, queries: p.queries, series: p.series })));
  });
}

export async function catalogDepsCommand(table: string, o: CatalogCommandOptions): Promise<void> {
  await withCatalog(async (catalog) => {
    const { object, dependents: deps } = await catalog.deps({ table });
    if (o.json) return out({ object, dependents: deps });
    process.stdout.write(`derived from ${object.id}:\n`);
    printTable(deps.map((x) => ({ depth: x.depth, kind: x.kind, id: x.id, via: x.via })));
  });
}
