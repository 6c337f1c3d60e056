/**
 * The command contract per (kind, action): which of a command's action fields (partition,
 * source and target node, node) and which parameters it must carry, in what form. The decide
 * stage's planners are tested against it and the executor engine rejects a command that does
 * not fit before any adapter touches a store, so a planner and an executor can no longer
 * disagree on a name ([0060](../docs/decisions/0060-command-parameters.md)).
 *
 * Only the form is checked here (names are plain, numbers are numbers, what is required is
 * there); whether a shard, node or column exists is the adapters' check against the store.
 * Parameters not named here pass (the engine adds `strategy` and `dependsOn`; planners add
 * bookkeeping such as `leftId`): they are never read by an executor.
 */
import { z } from 'zod';
import type { AnyCommand } from './types.js';

/** A string field: `desc` says what was expected, in the reason a command is rejected with. */
const str = (desc: string, re?: RegExp) => {
  const s = z.string({ error: (iss) => (iss.input === undefined || iss.input === null ? `missing: ${desc}` : `expected ${desc}`) });
  return re ? s.regex(re, { error: `expected ${desc}` }) : s.min(1, { error: `expected ${desc}` });
};

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;
const plain = (what: string) => str(`${what} (a plain identifier: a-z, 0-9, _)`, IDENT);
const nodeName = (what: string) => str(`${what} (a node name: a-z, 0-9, _, -)`, /^[a-z0-9_-]{1,63}$/);
const whole = (what: string) => str(`${what} (a whole number)`, /^[0-9]{1,13}$/);
const number = (what: string) => str(`${what} (a number)`, /^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/);
const int64 = (what: string) => str(`${what} (an integer key)`, /^-?[0-9]{1,19}$/);
const columnList = (what: string) =>
  str(`${what} (1 to 8 plain column names, comma-separated)`, /^[a-z_][a-z0-9_]{0,62}(\s*,\s*[a-z_][a-z0-9_]{0,62}){0,7}$/);
const flag = (what: string) => str(`${what} (true or false)`, /^(true|false)$/);
const oneOf = <T extends string>(what: string, values: readonly [T, ...T[]]) =>
  z.enum(values, {
    error: (iss) =>
      iss.input === undefined ? `missing: ${what} (one of ${values.join(', ')})` : `expected ${what} to be one of ${values.join(', ')}`,
  });
const absent = (what: string) => z.null({ error: `${what} must be null for this action` });

/** Parameters any command may carry: the engine's bookkeeping and the executors' common knobs. */
const COMMON = {
  strategy: z.string().optional(),
  dependsOn: z.string().optional(),
  onResume: oneOf('onResume', ['finish', 'rollback']).optional(),
  batchRows: whole('batchRows').optional(),
  graceMs: whole('graceMs').optional(),
  timeoutMs: whole('timeoutMs').optional(),
  bytes: whole('bytes').optional(),
};

const params = <T extends z.ZodRawShape>(shape: T) => z.looseObject({ ...COMMON, ...shape });

/** One-argument functions of a text column a derived attribute is made of (the executor also takes `date_trunc`). */
export const DERIVABLE_FUNCTIONS = ['lower', 'upper', 'length'] as const;

export const PRECOMPUTE_TEMPLATES = ['count_by', 'sum_by', 'daily_sum'] as const;
export const REPARTITION_TEMPLATES = ['column', 'toYYYYMM', 'toYYYYMMDD', 'toDate', 'toMonday', 'intDiv', 'hashMod', 'none'] as const;

const precomputeParams = params({
  template: oneOf('template', PRECOMPUTE_TEMPLATES),
  groupBy: plain('groupBy, the column grouped by'),
  value: plain('value, the numeric column summed').optional(),
  name: str('name (a plain identifier of at most 30 characters)', /^[a-z_][a-z0-9_]{0,29}$/).optional(),
  database: plain('database').optional(),
  templateId: z.string().optional(),
}).superRefine((p, ctx) => {
  if (p.template !== 'count_by' && p.value === undefined)
    ctx.addIssue({ code: 'custom', path: ['value'], message: `missing: value (the numeric column ${p.template} sums)` });
});

const repartitionParams = params({
  partitionBy: oneOf('partitionBy', REPARTITION_TEMPLATES),
  partitionColumn: plain('partitionColumn').optional(),
  partitionN: whole('partitionN').optional(),
  keepOld: flag('keepOld').optional(),
  database: plain('database').optional(),
}).superRefine((p, ctx) => {
  if (p.partitionBy !== 'none' && p.partitionColumn === undefined)
    ctx.addIssue({ code: 'custom', path: ['partitionColumn'], message: `missing: partitionColumn (the column ${p.partitionBy} reads)` });
  if ((p.partitionBy === 'intDiv' || p.partitionBy === 'hashMod') && p.partitionN === undefined)
    ctx.addIssue({ code: 'custom', path: ['partitionN'], message: `missing: partitionN (the divisor ${p.partitionBy} needs)` });
});

const table = z.string();
const partitionNamed = str('partition, the partition (shard) it changes');
const partitionOpt = z.string().nullable();

/** A primary-copy move, and a colocation (a move next to `params.with`). */
const moveFields = {
  partition: partitionNamed,
  sourceNode: nodeName('sourceNode').nullable(),
  targetNode: nodeName('targetNode, the node the partition moves to'),
};

const SCHEMAS = {
  partition: {
    split: z.object({
      table,
      partition: partitionNamed,
      params: params({
        splitAt: int64('splitAt'),
        newShard: plain('newShard').optional(),
        leftFraction: number('leftFraction').optional(),
        leftLoadShare: number('leftLoadShare').optional(),
      }),
    }),
    merge: z.object({ table, partition: partitionNamed, params: params({ with: str('with, the neighbour merged in') }) }),
    rekey: z.object({
      table,
      partition: partitionOpt,
      params: params({ keyColumns: columnList('keyColumns'), share: number('share').optional(), keyHash: flag('keyHash').optional() }),
    }),
    composite_index: z.object({ table, partition: partitionOpt, params: params({ columns: columnList('columns') }) }),
    derived_attribute: z.object({
      table,
      partition: partitionOpt,
      params: params({ name: plain('name, the new column'), expression: str('expression (one of the derived-attribute templates)') }),
    }),
    precompute: z.object({ table, partition: partitionOpt, params: precomputeParams }),
    repartition: z.object({ table, partition: partitionOpt, params: repartitionParams }),
    add_topic_partitions: z.object({
      table,
      partition: absent('partition'),
      params: params({ partitions: whole('partitions, the topic partition count wanted'), topic: z.string().optional() }),
    }),
  },
  shard: {
    move: z.object({ ...moveFields, params: params({}) }),
    colocate: z.object({ ...moveFields, params: params({ with: str('with, the partition it joins').optional() }) }),
    replicate: z.object({
      partition: partitionNamed,
      sourceNode: nodeName('sourceNode').nullable(),
      targetNode: nodeName('targetNode, the node that gets the replica'),
      params: params({}),
    }),
    dereplicate: z.object({
      partition: partitionNamed,
      sourceNode: nodeName('sourceNode').nullable(),
      targetNode: nodeName('targetNode, the node whose replica is dropped'),
      params: params({}),
    }),
  },
  resource: {
    scale_out: z
      .object({
        node: nodeName('node').nullable(),
        params: params({ nodeId: nodeName('nodeId').optional(), capacity: number('capacity').optional(), port: whole('port').optional() }),
      })
      .superRefine((c, ctx) => {
        if (c.node !== null && c.params.nodeId !== undefined && c.params.nodeId !== c.node)
          ctx.addIssue({ code: 'custom', path: ['params', 'nodeId'], message: `expected nodeId to equal node ${c.node}` });
      }),
    scale_in: z.object({ node: nodeName('node, the node to stop'), params: params({ purge: flag('purge').optional() }) }),
  },
} as const;

export type CommandKind = keyof typeof SCHEMAS;

/** The schema of (kind, action), or undefined for an action the contract does not know. */
export function commandParamsSchema(kind: string, action: string): z.ZodType | undefined {
  const byKind = (SCHEMAS as Record<string, Record<string, z.ZodType>>)[kind];
  return byKind?.[action];
}

/** Every (kind, action) the contract knows. */
export function commandActions(): { kind: CommandKind; action: string }[] {
  return (Object.keys(SCHEMAS) as CommandKind[]).flatMap((kind) => Object.keys(SCHEMAS[kind]).map((action) => ({ kind, action })));
}

type Checkable = Pick<AnyCommand, 'kind' | 'action' | 'params'> & {
  table?: string | null;
  partition?: string | null;
  sourceNode?: string | null;
  targetNode?: string | null;
  node?: string | null;
};

/**
 * Null when the command's action fields and parameters fit its action, else the reason: each
 * field that does not fit, and what was expected.
 */
export function commandParamsReason(cmd: Checkable): string | null {
  const schema = commandParamsSchema(cmd.kind, cmd.action);
  if (!schema) return `${cmd.kind}/${cmd.action} is not an action of the command contract`;
  const r = schema.safeParse({
    table: cmd.table ?? null,
    partition: cmd.partition ?? null,
    sourceNode: cmd.sourceNode ?? null,
    targetNode: cmd.targetNode ?? null,
    node: cmd.node ?? null,
    params: cmd.params,
  });
  if (r.success) return null;
  const what = r.error.issues.map((i) => `${i.path.join('.') || '(command)'}: ${i.message}`).join('; ');
  return `parameters do not fit ${cmd.kind}/${cmd.action}: ${what}`;
}

/** A planned command that does not fit the contract: not issued, logged and counted as a planner bug. */
export interface Misfit {
  action: string;
  explanation: string;
  reason: string;
}

/** The commands that fit the command contract, and the misfits among the rest. */
export function fitToContract<C extends Checkable & { action: string; explanation: string }>(
  commands: readonly C[],
): { fit: C[]; misfits: Misfit[] } {
  const fit: C[] = [];
  const misfits: Misfit[] = [];
  for (const c of commands) {
    const reason = commandParamsReason(c);
    if (reason) misfits.push({ action: c.action, explanation: c.explanation, reason });
    else fit.push(c);
  }
  return { fit, misfits };
}
