/**
 * The decision engine's configuration: one typed, validated object (zod). Every field has a
 * default, so `decideConfig({})` is a working configuration; a bad value is a ConfigError
 * naming the key.
 */
import { ConfigError } from '../../lib/config.js';
import { z } from 'zod';

const weights = z.object({
  /** Cost per capacity-minute of load above a node's capacity (an SLA violation). */
  overload: z.number().nonnegative().default(200),
  /** Cost per capacity-minute of load above targetUtil × capacity (lost headroom). */
  headroom: z.number().nonnegative().default(20),
  /** Cost per node-minute used. */
  nodeMinute: z.number().nonnegative().default(0.5),
  /** Cost per GiB moved. */
  gbMoved: z.number().nonnegative().default(0.4),
  /** Cost per GiB-minute of storage (all copies). */
  storageGbMinute: z.number().nonnegative().default(0.0005),
  /** Cost per command issued. */
  action: z.number().nonnegative().default(1),
  /** Cost per partition per minute (metadata, planning and small-partition overhead). */
  partitionMinute: z.number().nonnegative().default(0.05),
});

export const decideConfigSchema = z.object({
  /** Step of the planning timeline; forecast points are aligned to it. */
  stepMs: z.number().int().positive().default(60_000),
  horizonSteps: z.number().int().positive().default(30),
  /** How often decide() runs; actions not due before the next run are deferred. */
  decideEveryMs: z.number().int().positive().default(300_000),
  /** Issuing window for command ids; defaults to decideEveryMs. */
  windowMs: z.number().int().positive().optional(),
  /** 0 plans on point forecasts, 1 on the upper bounds of the intervals. */
  risk: z.number().min(0).max(1).default(0.5),
  targetUtil: z.number().gt(0).max(1).default(0.85),
  readFractionDefault: z.number().min(0).max(1).default(0.8),
  throttleBytesPerSec: z
    .number()
    .positive()
    .default(16 * 1024 * 1024),
  /** Fraction of a node's capacity a migration uses on its source and on its target. */
  migrationOverhead: z.number().min(0).max(1).default(0.05),
  /** Extra load on each node per co-accessed query whose partitions sit on different nodes. */
  crossNodeCost: z.number().min(0).default(0.5),
  provisioningMs: z.number().int().nonnegative().default(300_000),
  leadMarginSteps: z.number().int().nonnegative().default(5),
  maxActionsPerTick: z.number().int().positive().default(8),
  /** A plan must lower the score by at least this much to be issued. */
  minGain: z.number().nonnegative().default(0.25),
  weights: weights.default(() => weights.parse({})),
  split: z
    .object({
      /** Consider a split when a partition's peak load exceeds this fraction of node capacity. */
      minLoadFraction: z.number().positive().default(0.25),
      /**
       * Ranges smaller than this stay whole where a move or a replica can help; one over a node's
       * capacity that neither can bring under it is split whatever its size (actions/split.ts).
       */
      minSizeBytes: z
        .number()
        .nonnegative()
        .default(64 * 1024 * 1024),
      maxPartitionsPerTable: z.number().int().positive().default(256),
    })
    .default(() => ({ minLoadFraction: 0.25, minSizeBytes: 64 * 1024 * 1024, maxPartitionsPerTable: 256 })),
  merge: z
    .object({
      /** Merge neighbours only when their combined peak stays under this fraction of capacity. */
      maxLoadFraction: z.number().positive().default(0.05),
      maxSizeBytes: z
        .number()
        .positive()
        .default(16 * 1024 * 1024 * 1024),
    })
    .default(() => ({ maxLoadFraction: 0.05, maxSizeBytes: 16 * 1024 * 1024 * 1024 })),
  replicate: z
    .object({
      minReadFraction: z.number().min(0).max(1).default(0.8),
      /** Replicate when a partition's peak exceeds this fraction of a node (splitting cannot help). */
      minLoadFraction: z.number().positive().default(0.5),
      /** De-replicate when the peak per copy stays under this fraction. */
      dropLoadFraction: z.number().positive().default(0.1),
      maxReplicas: z.number().int().nonnegative().default(3),
    })
    .default(() => ({ minReadFraction: 0.8, minLoadFraction: 0.5, dropLoadFraction: 0.1, maxReplicas: 3 })),
  scale: z
    .object({
      minNodes: z.number().int().positive().default(1),
      maxNodes: z.number().int().positive().default(64),
      /**
       * Scale in only if every node taking a drained copy stays under this at the upper bound of
       * its forecast interval over the whole horizon (Scenario.upperLoad). Scale-out acts on the
       * risk-adjusted plan, so the hysteresis band is the forecast's uncertainty plus the horizon.
       */
      scaleInUtil: z.number().gt(0).max(1).default(0.8),
      /** Capacity of a new node; default: that of the first node. */
      nodeCapacity: z.number().positive().optional(),
      nodePrefix: z.string().default('node'),
      /** Steps past the horizon a node-count change is valued for (terminal value). */
      tailSteps: z.number().int().nonnegative().default(60),
      /**
       * Scale out only while the nodes serving are fewer than the cluster's forecast total load
       * needs at the target utilisation (its busiest step once a new node could serve; the total's
       * intervals combined as independent errors: nodesNeeded in actions/scaleOut.ts), times
       * 1 + packingSlack: beyond that a hot node is a placement problem that moves, splits and
       * replicas solve, not a capacity one.
       */
      packingSlack: z.number().nonnegative().default(0),
    })
    .default(() => ({ minNodes: 1, maxNodes: 64, scaleInUtil: 0.8, nodePrefix: 'node', tailSteps: 60, packingSlack: 0 })),
  skill: z
    .object({
      /**
       * Forecasts are trusted fully at this skill (1 − forecast error / persistence error over
       * matured points) and not at all at `noTrust`; in between the plan moves linearly from the
       * current load toward the forecast. See skill.ts.
       */
      fullTrust: z.number().max(1).default(0.3),
      noTrust: z.number().max(1).default(0),
      /** Half-life, in rounds, of the matured errors behind the skill. */
      halfLifeRounds: z.number().positive().default(30),
      /** Matured points before the skill counts (until then forecasts are trusted). */
      minMatured: z.number().int().nonnegative().default(200),
    })
    .refine((k) => k.noTrust < k.fullTrust, { message: 'skill.noTrust must be below skill.fullTrust' })
    .default(() => ({ fullTrust: 0.3, noTrust: 0, halfLifeRounds: 30, minMatured: 200 })),
  colocate: z
    .object({
      /** Only co-access edges whose weight is at least this fraction of node capacity. */
      minWeightFraction: z.number().nonnegative().default(0.02),
    })
    .default(() => ({ minWeightFraction: 0.02 })),
  rekey: z
    .object({
      minShare: z.number().min(0).max(1).default(0.6),
      minQueries: z.number().nonnegative().default(100),
      /** An append hot spot: the frontier bucket takes at least this share of the table's writes (inserts land there). */
      appendWriteShare: z.number().min(0).max(1).default(0.3),
      /**
       * ... and its planned peak needs at least this many nodes at targetUtil: hashed while the
       * frontier is still warming, the copy is done before it is hot (0139, tuning seeds).
       */
      appendNodes: z.number().positive().default(0.5),
    })
    .default(() => ({ minShare: 0.6, minQueries: 100, appendWriteShare: 0.3, appendNodes: 0.5 })),
  template: z
    .object({
      minCount: z.number().nonnegative().default(100),
      minLatencyMs: z.number().nonnegative().default(20),
    })
    .default(() => ({ minCount: 100, minLatencyMs: 20 })),
  safety: z
    .object({
      /** No second command on the same target within this time. */
      cooldownMs: z.number().int().nonnegative().default(600_000),
      /** No reverse command (merge after split, scale_in after scale_out, move back) within this time. */
      flapWindowMs: z.number().int().nonnegative().default(1_800_000),
      /** No move of a partition back to the node it left within this time. */
      moveBackMs: z.number().int().nonnegative().default(900_000),
      maxConcurrentMoves: z.number().int().positive().default(4),
      /** Sum of the throttle rates of concurrent data moves, in bytes per minute. */
      maxBytesPerMinute: z
        .number()
        .positive()
        .default(4 * 16 * 1024 * 1024 * 60),
      /** 'manual' stores get every command with requiresApproval = true. */
      approval: z.record(z.string(), z.enum(['auto', 'manual'])).default({}),
      defaultApproval: z.enum(['auto', 'manual']).default('auto'),
      /** Moves larger than this need approval even in auto mode. */
      maxAutoBytes: z
        .number()
        .positive()
        .default(1024 ** 4),
    })
    .default(() => ({
      cooldownMs: 600_000,
      flapWindowMs: 1_800_000,
      moveBackMs: 900_000,
      maxConcurrentMoves: 4,
      maxBytesPerMinute: 4 * 16 * 1024 * 1024 * 60,
      approval: {},
      defaultApproval: 'auto' as const,
      maxAutoBytes: 1024 ** 4,
    })),
  /** Plan strategies the selector chooses among; the first is the cost model's reference. */
  strategies: z
    .array(z.enum(['balanced', 'frugal', 'headroom', 'scale-first', 'move-first']))
    .min(1)
    .default(['balanced', 'frugal', 'headroom', 'scale-first']),
  /** Which actions may be planned at all. */
  actions: z
    .array(z.string())
    .default([
      'split',
      'merge',
      'move',
      'replicate',
      'dereplicate',
      'colocate',
      'rekey',
      'scale_out',
      'scale_in',
      'composite_index',
      'derived_attribute',
      'precompute',
    ]),
  policy: z.string().default('shardcast-predictive'),
});

export type DecideConfigInput = z.input<typeof decideConfigSchema>;
export type DecideConfig = z.output<typeof decideConfigSchema>;
export type Strategy = DecideConfig['strategies'][number];
export type Weights = DecideConfig['weights'];

export function decideConfig(input: DecideConfigInput = {}): DecideConfig {
  const r = decideConfigSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ConfigError(`decide.${issue.path.join('.') || '(root)'}`, issue.message);
  }
  return r.data;
}

/** `input` with approval modes per store set by operators laid over the configured ones (pure). */
export function withApprovalModes(input: DecideConfigInput, modes: Readonly<Record<string, 'auto' | 'manual'>>): DecideConfigInput {
  if (Object.keys(modes).length === 0) return input;
  const safety = input.safety ?? {};
  return { ...input, safety: { ...safety, approval: { ...safety.approval, ...modes } } };
}
