/**
 * The zod schemas of the API's views of the running system (stages, load, forecasts, proposals,
 * controls, lineage) and of the writes that change it; like schemas.ts, they validate requests
 * and make the OpenAPI document.
 */
import { z } from 'zod';
import { MAX_LOAD_SPAN_MS } from '../ops/load.js';

const epochMs = (what: string) => z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).describe(what);
const name = (what: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,128}$/)
    .describe(what);

export const StagesQuery = z.strictObject({
  group: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,100}$/)
    .optional()
    .describe('the consumer group prefix the stages run with (`run --group`, default shardcast)'),
});

export const Stages = z.object({
  groupPrefix: z.string(),
  metricsUrl: z.string(),
  metricsReachable: z.boolean(),
  stages: z.array(
    z.object({
      name: z.string(),
      groupId: z.string(),
      state: z.enum(['running', 'stopped', 'unknown']),
      members: z.number().int(),
      lag: z.number().nullable(),
      lagByTopic: z.array(z.object({ topic: z.string(), lag: z.number() })),
      consumedPerSecond: z.number().nullable(),
      health: z.string().nullable(),
      lastError: z.object({ reason: z.string(), at: z.number() }).nullable(),
    }),
  ),
});

const span = {
  since: epochMs(
    `from this time (epoch ms; default: 30 minutes before until; at most ${MAX_LOAD_SPAN_MS / 3_600_000} h before it)`,
  ).optional(),
  until: epochMs('up to this time (epoch ms; default: now)').optional(),
};

export const KeyspaceQuery = z.strictObject({ table: name('the table'), ...span });
export const NodeLoadQuery = z.strictObject({ source: name('the series source (default pg-shards)').optional(), ...span });

export const Keyspace = z.object({
  table: z.string(),
  since: z.number(),
  until: z.number(),
  windowMs: z.number().nullable(),
  buckets: z.array(z.string()).describe('key ranges in key order'),
  cells: z.array(z.object({ t: z.number(), bucket: z.string(), reads: z.number(), writes: z.number() })),
  forecast: z.array(z.object({ t: z.number(), bucket: z.string(), predicted: z.number(), lower: z.number(), upper: z.number() })),
  decisions: z.array(
    z.object({
      commandId: z.string(),
      action: z.string(),
      t: z.number(),
      bucket: z.string().nullable(),
      partition: z.string(),
      status: z.string().nullable(),
      explanation: z.string(),
    }),
  ),
});

export const NodeLoad = z.object({
  source: z.string(),
  since: z.number(),
  until: z.number(),
  nodes: z.array(z.string()),
  points: z.array(z.object({ t: z.number(), node: z.string(), queries: z.number(), reads: z.number(), writes: z.number() })),
  forecast: z.array(z.object({ t: z.number(), node: z.string(), predicted: z.number(), lower: z.number(), upper: z.number() })),
});

export const ForecastsQuery = z.strictObject({
  table: name('only the series of this table').optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50).describe('series at most'),
});

export const Forecasts = z.object({
  series: z.array(
    z.object({
      seriesId: z.string(),
      originTs: z.number(),
      stepMs: z.number(),
      model: z.string(),
      metric: z.string(),
      points: z.array(z.object({ horizon: z.number(), ts: z.number(), predicted: z.number(), lower: z.number(), upper: z.number() })),
    }),
  ),
});

const Evidence = z.object({
  seriesId: z.string().nullable(),
  currentLoad: z.number(),
  forecastPeak: z.number(),
  forecastLower: z.number(),
  forecastUpper: z.number(),
  peakAt: z.number().nullable(),
  capacity: z.number().nullable(),
  model: z.string().nullable(),
});

export const Proposal = z.object({
  commandId: z.string(),
  kind: z.string(),
  action: z.string(),
  store: z.string(),
  table: z.string().nullable(),
  partition: z.string().nullable(),
  target: z.string(),
  requiresApproval: z.boolean(),
  expectedBenefit: z.number(),
  expectedCost: z.number(),
  evidence: Evidence,
  explanation: z.string(),
  params: z.record(z.string(), z.string()),
});

export const Proposals = z.object({
  computedAt: z.number(),
  via: z.enum(['catalog', 'routing', 'none']),
  paused: z.boolean(),
  strategy: z.string().nullable(),
  plans: z.array(
    z.object({ strategy: z.string(), scoreBefore: z.number(), scoreAfter: z.number(), actions: z.number(), deferred: z.number() }),
  ),
  proposals: z.array(Proposal),
  explanations: z.array(z.string()),
  note: z.string().nullable(),
});

export const ProposalIdParams = z.object({
  id: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,128}$/)
    .describe('the proposal (command) id'),
});

const scope = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,100}$/)
  .optional()
  .describe('the decide stages this is about: the consumer group prefix they run with (`run --group`, default shardcast)');

export const ControlsQuery = z.strictObject({ scope });
export const PauseBody = z.strictObject({ scope }).describe('an empty object, or the scope');

export const Controls = z.object({
  scope: z.string(),
  deciding: z.enum(['running', 'paused']),
  pausedBy: z.string().nullable(),
  pausedAt: z.string().nullable(),
  approval: z.array(z.object({ store: z.string(), mode: z.enum(['auto', 'manual']), setBy: z.string(), setAt: z.string() })),
});

export const ApprovalModeParams = z.object({ store: name('the store (data source id, e.g. pg-shards)') });
export const ApprovalModeBody = z.strictObject({
  mode: z.enum(['auto', 'manual']).describe('manual: every command on the store waits for approval'),
});

export const LineageQuery = z.strictObject({
  table: name('the table'),
  source: name('the data source id (default pg-shards)').optional(),
});

export const LineageGraph = z.object({
  source: z.string(),
  table: z.string(),
  nodes: z.array(z.object({ id: z.string(), label: z.string(), name: z.string(), detail: z.string().nullable() })),
  edges: z.array(z.object({ from: z.string(), to: z.string(), type: z.string(), role: z.string().nullable() })),
});

export const EventStream = z
  .string()
  .describe('text/event-stream: events `command` (a CommandView), `controls` (Controls) and `audit` (an audit event), each data line JSON');

export const WhoAmI = z.object({ name: z.string(), role: z.enum(['viewer', 'operator', 'admin']) });
