/**
 * The zod schemas of the catalog's questions (where a key lives, what is hot, what derives from a
 * table) and of discovery on demand; like schemas.ts, they validate requests and make the
 * OpenAPI document.
 */
import { z } from 'zod';
import { MAX_HOT_LIMIT, MAX_HOT_SINCE_MS } from '../ops/catalog.js';

const ref = z
  .string()
  .min(1)
  .max(300)
  .describe('a table or topic: its catalog id (source/database/name), database.name, or its name when unambiguous');

const CatalogObject = z.object({
  label: z.enum(['Table', 'Topic']),
  id: z.string(),
  name: z.string(),
  source: z.string(),
  database: z.string().nullable(),
  kind: z.string(),
});

export const WhereQuery = z.strictObject({ table: ref, key: z.string().min(1).max(1_000).describe('the key') });

export const WhereAnswer = z.object({
  object: CatalogObject,
  key: z.string(),
  by: z.string().describe('how the partition was found: range | hash | value | whole | none'),
  partitions: z.array(
    z.object({
      partition: z.string(),
      partitionId: z.string(),
      kind: z.string(),
      lo: z.string().nullable(),
      hi: z.string().nullable(),
      value: z.string().nullable(),
      rows: z.number().nullable(),
      nodes: z.array(z.object({ node: z.string(), role: z.string() })),
    }),
  ),
  note: z.string().optional(),
});

export const HotQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(MAX_HOT_LIMIT).default(20).describe('series at most'),
  since: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_HOT_SINCE_MS)
    .default(900_000)
    .describe('only series with a window ending in the last this many milliseconds'),
});

export const HotAnswer = z.object({
  since: z.number(),
  series: z.array(
    z.object({
      seriesId: z.string(),
      source: z.string().nullable(),
      table: z.string().nullable(),
      bucket: z.string().nullable(),
      lo: z.number().nullable(),
      hi: z.number().nullable(),
      queries: z.number(),
      reads: z.number(),
      writes: z.number(),
      latencyP95Ms: z.number().nullable(),
      windowStart: z.number(),
      windowEnd: z.number(),
      hotKeys: z.array(z.string()),
      partitions: z.array(z.object({ id: z.string(), partition: z.string(), node: z.string().nullable() })),
    }),
  ),
  partitions: z.array(
    z.object({
      id: z.string(),
      table: z.string(),
      partition: z.string(),
      node: z.string().nullable(),
      queries: z.number(),
      series: z.number(),
    }),
  ),
});

export const DepsQuery = z.strictObject({ table: ref });

export const DepsAnswer = z.object({
  object: CatalogObject,
  dependents: z.array(
    z.object({
      label: z.string(),
      id: z.string(),
      name: z.string(),
      kind: z.string(),
      depth: z.number().int(),
      via: z.string(),
      path: z.array(z.string()),
    }),
  ),
});

export const DiscoverBody = z.strictObject({}).describe('an empty JSON object, or no body');

const ObjRef = z.object({ label: z.string(), id: z.string() });

export const DiscoveryReport = z.object({
  diffs: z.array(
    z.object({
      source: z.string(),
      at: z.number(),
      scopes: z.array(z.string()),
      added: z.array(ObjRef),
      vanished: z.array(ObjRef),
      changed: z.array(ObjRef.extend({ what: z.string() })),
      unreachable: z.array(z.object({ scope: z.string(), reason: z.string() })),
      counts: z.record(z.string(), z.number()),
    }),
  ),
  failed: z.array(z.object({ source: z.string(), reason: z.string() })),
});
