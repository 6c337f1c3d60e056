/**
 * The zod schemas of the HTTP API: they validate requests and, through `z.toJSONSchema`, make
 * the OpenAPI document, so the two cannot disagree.
 */
import { z } from 'zod';
import { CANNED_QUERIES } from '../../analytics/queries.js';
import { MAX_ANALYTICS_LIMIT } from '../ops/analytics.js';
import { COMMAND_ID_PATTERN, COMMAND_STATUSES } from '../ops/commands.js';

const epochMs = (what: string) => z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).describe(what);

export const CommandIdParams = z.object({
  id: z.string().regex(COMMAND_ID_PATTERN).describe('the command id'),
});

export const CommandListQuery = z.strictObject({
  status: z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim().toUpperCase()))
    .pipe(z.array(z.enum(COMMAND_STATUSES)))
    .optional()
    .describe(`comma-separated statuses: ${COMMAND_STATUSES.join(', ')}`),
  waiting: z.enum(['true', 'false']).optional().describe('true: only the commands waiting for approval, oldest first'),
  limit: z.coerce.number().int().min(1).max(1000).default(100).describe('commands at most'),
});

/** Approve and deny take no fields: who decides is the token's name. */
export const VerdictBody = z.strictObject({}).describe('an empty JSON object, or no body');

export const PlacementQuery = z.strictObject({
  table: z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim()))
    .pipe(
      z
        .array(z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/))
        .min(1)
        .max(50),
    )
    .describe('comma-separated table names'),
  source: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,128}$/)
    .optional()
    .describe('the data source id (default pg-shards)'),
});

export const AnalyticsParams = z.object({
  query: z.string().describe(`one of: ${CANNED_QUERIES.map((q) => q.name).join(', ')}`),
});

export const AnalyticsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(MAX_ANALYTICS_LIMIT).default(20).describe('rows at most'),
  since: epochMs('only rows from this time on (epoch ms)').optional(),
  until: epochMs('only rows before this time (epoch ms)').optional(),
});

export const ErrorBody = z.object({
  error: z.string().describe('bad_parameter | bad_request | unauthorized | forbidden | not_found | conflict | payload_too_large | ...'),
  reason: z.string(),
  parameter: z.string().optional().describe('the parameter at fault (400 bad_parameter)'),
});

export const CommandView = z.object({
  commandId: z.string(),
  action: z.string(),
  store: z.string().nullable(),
  target: z.string(),
  status: z.enum(COMMAND_STATUSES),
  approval: z.string().nullable(),
  approvedBy: z.string().nullable(),
  approvedAt: z.string().nullable(),
  waitingForApproval: z.boolean(),
  progress: z.object({ phase: z.string().nullable(), attempts: z.number().int(), checkpoint: z.record(z.string(), z.string()) }),
  outcome: z.object({ status: z.enum(COMMAND_STATUSES), reason: z.string().nullable() }).nullable(),
  explanation: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const CommandList = z.object({ commands: z.array(CommandView) });

export const Placement = z.object({
  source: z.string(),
  nodes: z.array(
    z.object({
      name: z.string(),
      state: z.string().nullable(),
      capacity: z.number().nullable(),
      managed: z.boolean().nullable().optional(),
    }),
  ),
  partitions: z.array(
    z.object({
      table: z.string(),
      keyColumn: z.string().nullable(),
      partition: z.string(),
      lo: z.string().nullable(),
      hi: z.string().nullable(),
      rows: z.number().nullable(),
      bytes: z.number().nullable(),
      node: z.string().nullable(),
      replicas: z.array(z.string()),
    }),
  ),
  commands: z.array(z.record(z.string(), z.unknown())),
});

export const AnalyticsList = z.object({ queries: z.array(z.object({ name: z.string(), description: z.string() })) });

export const AnalyticsAnswer = z.object({
  query: z.string(),
  sql: z.string(),
  rows: z.array(z.record(z.string(), z.unknown())),
});
