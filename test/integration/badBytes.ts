/**
 * The bad-bytes corpus: for every input topic of the flow, valid records of its schema and the
 * damaged or hostile ones a producer could send instead. Each bad record names the case it
 * tries; `good` ones must be processed, `bad` ones must end in the DLQ with a reason.
 */
import type { AvroSerde } from '../../schemas/serde.js';
import { COMMAND_TOPICS, TOPICS } from '../../schemas/topics.js';
import type { AnyCommand, CommandResult, Forecast, MetricSample, QueryEvent, WorkloadAggregate } from '../../schemas/types.js';
import { testCommand } from './commands.js';
import { queryEvent } from './helpers.js';

export interface CorpusRecord {
  topic: string;
  /** What this record tries ("good" for the valid ones). */
  case: string;
  value: Buffer;
  good: boolean;
  /** Command records are signed by the caller (the executor checks signatures before anything). */
  command?: boolean;
}

/** Below the broker's message.max.bytes (1 MiB + 12 bytes), with room for the record's framing. */
export const NEAR_LIMIT_BYTES = 1_040_000;
const FAR_FUTURE = 9e15;
const FAR_PAST = -1e12;
const INJECTION = 'orders"; DROP TABLE orders; --';
const INVISIBLE = 'ord\u202eers\u200b';
/** Placeholder whose encoded bytes are overwritten with invalid UTF-8 of the same length. */
const MARK = 'MARKMARKMARK';

/** Per topic: a valid base record, and the field edits that make it bad in each way. */
interface TopicCorpus<T> {
  topic: string;
  base: () => T;
  nan: (r: T) => void;
  negative: (r: T) => void;
  huge: (r: T) => void;
  future: (r: T) => void;
  past: (r: T) => void;
  /** Puts `s` where an identifier (table, node, store, source) goes; absent where there is none. */
  identifier?: (r: T, s: string) => void;
  /** Puts `s` in a string field, for the invalid UTF-8 case. */
  text: (r: T, s: string) => void;
  command?: boolean;
}

export function corpusTopics(source: string, commandPrefix: string): TopicCorpus<unknown>[] {
  const now = Date.now();
  let samples = 0;
  const window = Math.floor(now / 10_000) * 10_000 - 60_000;
  const q: TopicCorpus<QueryEvent> = {
    topic: TOPICS.queries.name,
    base: () =>
      queryEvent(`${source}-${Math.random().toString(36).slice(2)}`, source, {
        sql: 'SELECT * FROM orders WHERE id = 1',
        tables: ['orders'],
      }),
    nan: (r) => (r.durationMs = Number.NaN),
    negative: (r) => (r.rowsRead = -5),
    huge: (r) => (r.durationMs = 1e300),
    future: (r) => (r.ts = FAR_FUTURE),
    past: (r) => (r.ts = FAR_PAST),
    identifier: (r, s) => (r.tables = [s]),
    text: (r, s) => (r.sql = `SELECT ${s}`),
  };
  const m: TopicCorpus<MetricSample> = {
    topic: TOPICS.metrics.name,
    // a sample is identified by (source, node, metric, ts): each base one at its own millisecond
    base: () => ({ ts: now - ++samples, source, node: 'node0', metric: 'cpu.util', value: 0.5, labels: {} }),
    nan: (r) => (r.value = Number.NaN),
    negative: (r) => (r.ts = -1),
    huge: (r) => (r.value = Number.POSITIVE_INFINITY),
    future: (r) => (r.ts = FAR_FUTURE),
    past: (r) => (r.ts = FAR_PAST),
    identifier: (r, s) => (r.node = s),
    text: (r, s) => (r.metric = s),
  };
  const a: TopicCorpus<WorkloadAggregate> = {
    topic: TOPICS.aggregates.name,
    base: () => ({
      seriesId: `${source}|orders|all`,
      windowStart: window,
      windowEnd: window + 10_000,
      source,
      table: 'orders',
      keyBucket: 'all',
      partition: null,
      node: null,
      queries: 10,
      reads: 10,
      writes: 0,
      rowsRead: 10,
      rowsWritten: 0,
      errors: 0,
      unparsed: 0,
      lateMerged: 0,
      latencySumMs: 10,
      latencyP50Ms: 1,
      latencyP95Ms: 1,
      latencyP99Ms: 1,
      hotKeys: [],
      coAccess: [],
    }),
    nan: (r) => (r.latencySumMs = Number.NaN),
    negative: (r) => (r.queries = -1),
    huge: (r) => (r.latencyP99Ms = 1e300),
    future: (r) => (r.windowStart = FAR_FUTURE),
    past: (r) => (r.windowStart = FAR_PAST),
    identifier: (r, s) => (r.table = s),
    text: (r, s) => (r.keyBucket = s),
  };
  const f: TopicCorpus<Forecast> = {
    topic: TOPICS.forecasts.name,
    base: () => ({
      seriesId: `${source}|orders|all`,
      issuedAt: now,
      originTs: window,
      stepMs: 10_000,
      metric: 'queries',
      model: 'ensemble',
      backend: null,
      points: [{ horizon: 1, ts: window + 10_000, predicted: 10, lower: 5, upper: 15 }],
      recentError: null,
      intervalLevel: 0.9,
    }),
    nan: (r) => (r.points[0]!.predicted = Number.NaN),
    negative: (r) => (r.stepMs = -10_000),
    huge: (r) => (r.points[0]!.upper = 1e300),
    future: (r) => (r.issuedAt = FAR_FUTURE),
    past: (r) => (r.originTs = FAR_PAST),
    text: (r, s) => (r.model = s),
  };
  const c = (kind: 'partition' | 'shard' | 'resource'): TopicCorpus<AnyCommand> => ({
    topic: COMMAND_TOPICS[kind],
    command: true,
    base: () =>
      kind === 'resource'
        ? testCommand(commandPrefix, '', 'partition', 'scale_out', {
            kind: 'resource',
            node: 'node9',
            table: undefined,
            partition: undefined,
          })
        : testCommand(
            commandPrefix,
            `corpus_absent_${kind}`,
            kind,
            kind === 'shard' ? 'move' : 'split',
            kind === 'shard' ? { sourceNode: 'node0', targetNode: 'node1' } : {},
          ),
    nan: (r) => (r.evidence.currentLoad = Number.NaN),
    negative: (r) => (r.estimatedDurationMs = -1),
    huge: (r) => (r.expectedBenefit = 1e300),
    future: (r) => (r.issuedAt = FAR_FUTURE),
    past: (r) => (r.issuedAt = FAR_PAST),
    identifier: (r, s) => (r.store = s),
    text: (r, s) => (r.explanation = s),
  });
  const res: TopicCorpus<CommandResult> = {
    topic: TOPICS.results.name,
    base: () => ({
      commandId: `${commandPrefix}-result-${Math.random().toString(36).slice(2)}`,
      ts: now,
      topic: COMMAND_TOPICS.shard,
      store: 'pg-shards',
      action: 'move',
      status: 'REJECTED',
      progress: 0,
      reason: 'corpus',
      rowsCopied: 0,
      bytesMoved: 0,
      verified: null,
      durationMs: 0,
      executor: 'corpus',
      details: {},
    }),
    nan: (r) => (r.progress = Number.NaN),
    negative: (r) => (r.rowsCopied = -1),
    huge: (r) => (r.progress = 1e300),
    future: (r) => (r.ts = FAR_FUTURE),
    past: (r) => (r.ts = FAR_PAST),
    identifier: (r, s) => (r.store = s),
    text: (r, s) => (r.reason = s),
  };
  return [q, m, a, f, c('partition'), c('shard'), c('resource'), res] as TopicCorpus<unknown>[];
}

/** Encodes a record of `topic` (commands without their `kind`, as the command topics carry them). */
function encodeFor(serde: AvroSerde, topic: string, record: unknown, command?: boolean): Buffer {
  if (!command) return serde.encode(topic, record);
  const { kind: _kind, ...value } = record as AnyCommand;
  return serde.encode(topic, value);
}

/** The whole corpus, good records first on each topic, then every bad case. */
export function buildCorpus(serde: AvroSerde, source: string, commandPrefix: string, dlqSchemaId: number): CorpusRecord[] {
  const out: CorpusRecord[] = [];
  for (const t of corpusTopics(source, commandPrefix)) {
    const add = (name: string, value: Buffer, good = false) => out.push({ topic: t.topic, case: name, value, good, command: t.command });
    const edited = (edit: (r: unknown) => void) => {
      const r = t.base();
      edit(r);
      return encodeFor(serde, t.topic, r, t.command);
    };
    const valid = encodeFor(serde, t.topic, t.base(), t.command);
    add('good', valid, true);
    if (!t.command) add('good', encodeFor(serde, t.topic, t.base()), true);
    add('non-Avro bytes', Buffer.from('{"this": "is JSON, not Avro"}'));
    add('unknown schema id', Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0]), valid.subarray(5)]));
    const letter = serde.encode(TOPICS.dlq.name, {
      ts: Date.now(),
      sourceTopic: t.topic,
      sourcePartition: 0,
      sourceOffset: '0',
      key: null,
      value: null,
      stage: 'corpus',
      reason: 'a record of another schema',
      pipeline: 'corpus',
    });
    if (letter.readInt32BE(1) !== dlqSchemaId) throw new Error('the DeadLetter schema id moved');
    add('a record of another schema (DeadLetter)', letter);
    add('truncated record', valid.subarray(0, Math.max(6, Math.floor(valid.length * 0.6))));
    const big = Buffer.alloc(NEAR_LIMIT_BYTES, 0x41);
    valid.copy(big, 0, 0, 5);
    add(`${NEAR_LIMIT_BYTES} bytes (near the size limit)`, big);
    const marked = edited((r) => t.text(r, MARK));
    const at = marked.indexOf(MARK);
    Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x28, 0x8c]).copy(marked, at);
    add('invalid UTF-8 in a string', marked);
    add('NaN', edited(t.nan));
    add('negative number', edited(t.negative));
    add('huge number', edited(t.huge));
    add('timestamp far in the future (year ~287,000)', edited(t.future));
    add('timestamp far in the past (before 1970)', edited(t.past));
    if (t.identifier) {
      add(
        'injection string as identifier',
        edited((r) => t.identifier!(r, INJECTION)),
      );
      add(
        'invisible/bidi unicode in identifier',
        edited((r) => t.identifier!(r, INVISIBLE)),
      );
    }
    if (t.topic === TOPICS.queries.name) {
      add(
        '1 MB SQL',
        edited((r) => ((r as QueryEvent).sql = `SELECT * FROM orders WHERE note = '${'x'.repeat(1_000_000)}'`)),
      );
      const nested = () => `SELECT ${'('.repeat(5_000)}1${')'.repeat(5_000)} FROM orders`;
      add(
        'deeply nested SQL (postgres)',
        edited((r) => ((r as QueryEvent).sql = nested())),
      );
      add(
        'deeply nested SQL (mysql)',
        edited((r) => Object.assign(r as QueryEvent, { sql: nested(), dialect: 'mysql' })),
      );
    }
  }
  return out;
}
