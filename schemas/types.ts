/**
 * TypeScript shapes of the Avro records in this folder. The `.avsc` files are the source of
 * truth; `test/unit/schemas.test.ts` checks that every field here exists there and back.
 * Avro `long` timestamps are plain numbers (ms); avsc decodes longs to numbers.
 */
export type Dialect = 'postgres' | 'clickhouse' | 'mysql' | 'generic';
export type Operation = 'select' | 'insert' | 'update' | 'delete' | 'ddl' | 'other';
export type QueryStatus = 'ok' | 'error' | 'timeout' | 'cancelled';

export interface QueryEvent {
  eventId: string;
  ts: number;
  source: string;
  dialect: Dialect;
  database: string | null;
  sql: string | null;
  fingerprint: string | null;
  tables: string[];
  operation: Operation | null;
  durationMs: number;
  rowsRead: number;
  rowsWritten: number;
  node: string | null;
  partition: string | null;
  keyValues: Record<string, string>;
  client: string | null;
  status: QueryStatus;
  txId: string | null;
}

export interface MetricSample {
  ts: number;
  source: string;
  node: string;
  metric: string;
  value: number;
  labels: Record<string, string>;
}

export type ReadWriteClass = 'read' | 'write' | 'mixed' | 'ddl';

export interface Predicate {
  table: string | null;
  column: string;
  op: string;
  values: string[];
}

export interface KeyRange {
  table: string;
  column: string;
  /** Inclusive lower bound of the key values touched, null when unbounded. */
  lo: number | null;
  /** Inclusive upper bound, null when unbounded. */
  hi: number | null;
  /** Name of the configured key-range bucket the range falls in ("*" when it spans all). */
  bucket: string;
}

export interface QueryFeatures {
  eventId: string;
  ts: number;
  source: string;
  templateId: string;
  template: string | null;
  operation: string;
  readWrite: ReadWriteClass;
  tables: string[];
  predicates: Predicate[];
  keyRanges: KeyRange[];
  joins: string[];
  parseError: string | null;
}

export interface HotKey {
  key: string;
  count: number;
  error: number;
}

export interface CoAccess {
  other: string;
  count: number;
}

export interface WorkloadAggregate {
  seriesId: string;
  windowStart: number;
  windowEnd: number;
  source: string;
  table: string | null;
  keyBucket: string | null;
  partition: string | null;
  node: string | null;
  queries: number;
  reads: number;
  writes: number;
  rowsRead: number;
  rowsWritten: number;
  errors: number;
  unparsed: number;
  lateMerged: number;
  latencySumMs: number;
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
  latencyP99Ms: number | null;
  hotKeys: HotKey[];
  coAccess: CoAccess[];
  /** On a source's total series: the window's most frequent templates (absent or empty elsewhere). */
  templates?: TemplateStats[];
  /** On a source's total series: the columns its queries filter on. */
  predicateColumns?: PredicateColumn[];
  /** Queries of templates beyond the profile's bound (counted, not profiled). */
  otherTemplateQueries?: number;
  /** The smallest and largest numeric key the window's writes named on this series (null or absent: none). */
  writeKeyMin?: number | null;
  writeKeyMax?: number | null;
}

export interface PredicateUse {
  table: string | null;
  column: string;
  op: string;
}

export interface TemplateStats {
  templateId: string;
  template: string | null;
  operation: string;
  tables: string[];
  queries: number;
  rowsRead: number;
  rowsWritten: number;
  latencySumMs: number;
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
  predicates: PredicateUse[];
  groupBy: string[];
  aggregates: string[];
  joins: string[];
}

export interface PredicateColumn {
  table: string | null;
  column: string;
  queries: number;
  rowsRead: number;
  distinctValues: number;
  distinctCapped: boolean;
}

export interface ForecastPoint {
  horizon: number;
  ts: number;
  predicted: number;
  lower: number;
  upper: number;
}

export interface Forecast {
  seriesId: string;
  issuedAt: number;
  originTs: number;
  stepMs: number;
  metric: string;
  model: string;
  backend: string | null;
  points: ForecastPoint[];
  recentError: number | null;
  intervalLevel: number;
}

export type StoreKind = 'postgres' | 'clickhouse' | 'kafka' | 'other';

export interface Evidence {
  seriesId: string | null;
  currentLoad: number;
  forecastPeak: number;
  forecastLower: number;
  forecastUpper: number;
  peakAt: number | null;
  capacity: number | null;
  model: string | null;
}

interface CommandBase {
  commandId: string;
  issuedAt: number;
  deadline: number;
  store: string;
  storeKind: StoreKind;
  params: Record<string, string>;
  evidence: Evidence;
  expectedBenefit: number;
  expectedCost: number;
  estimatedDurationMs: number;
  requiresApproval: boolean;
  policy: string;
  explanation: string;
}

export type PartitionAction =
  | 'split'
  | 'merge'
  | 'rekey'
  | 'composite_index'
  | 'derived_attribute'
  | 'precompute'
  | 'repartition'
  | 'add_topic_partitions';
export type ShardAction = 'move' | 'replicate' | 'dereplicate' | 'colocate';
export type ResourceAction = 'scale_out' | 'scale_in';

export interface PartitionCommand extends CommandBase {
  table: string;
  partition: string | null;
  action: PartitionAction;
}

export interface ShardCommand extends CommandBase {
  table: string;
  partition: string | null;
  sourceNode: string | null;
  targetNode: string | null;
  action: ShardAction;
}

export interface ResourceCommand extends CommandBase {
  node: string | null;
  action: ResourceAction;
}

export type AnyCommand =
  | ({ kind: 'partition' } & PartitionCommand)
  | ({ kind: 'shard' } & ShardCommand)
  | ({ kind: 'resource' } & ResourceCommand);

export type CommandStatus = 'ACCEPTED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ROLLED_BACK' | 'REJECTED';

export interface CommandResult {
  commandId: string;
  ts: number;
  topic: string;
  store: string;
  action: string;
  status: CommandStatus;
  progress: number;
  reason: string | null;
  rowsCopied: number;
  bytesMoved: number;
  verified: boolean | null;
  durationMs: number;
  executor: string;
  details: Record<string, string>;
}

export interface DeadLetter {
  ts: number;
  sourceTopic: string;
  sourcePartition: number;
  sourceOffset: string;
  key: Buffer | null;
  value: Buffer | null;
  stage: string;
  reason: string;
  pipeline: string;
}

/** Ingest's repartition record when it scales out (schemas/RoutedQuery.avsc): an event, or a mark when `event` is null. */
export interface RoutedQuery {
  originTopic: string;
  originPartition: number;
  originOffset: number;
  event: Buffer | null;
  markTs: number | null;
}

/** The forecast stage's saved state of one input partition when it scales out (schemas/ForecastPartitionState.avsc). */
export interface ForecastPartitionState {
  group: string;
  topic: string;
  partition: number;
  nextOffset: number;
  state: Buffer;
}

/** An operator's write, as audited on `shardcast.audit` (schemas/AuditEvent.avsc). */
export interface AuditEvent {
  ts: number;
  actor: string;
  role: string;
  action: string;
  target: string;
  outcome: string;
  via: string;
}
