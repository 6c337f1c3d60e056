/**
 * ClickHouse tables that every topic of the flow lands in. The SQL sticks to what both the
 * old 18.16 server on Debian and current releases accept: MergeTree with PARTITION BY/ORDER BY,
 * DateTime (not DateTime64) plus a UInt64 millisecond column, arrays instead of Map, no
 * LowCardinality. Tables are ReplacingMergeTree keyed by the message's natural id, and every
 * row carries the Kafka position of its record (`kafka_topic`, `kafka_partition`,
 * `kafka_offset`): a sink that restarts after inserting a batch it had not committed skips what
 * it already stored (positions.ts), so the tables and the rollup views built on inserts hold each
 * record once without waiting for merges. Readers still use FINAL: a record produced twice
 * upstream has two positions and one natural id.
 */
export interface TableDef {
  name: string;
  ddl: (db: string) => string;
  /** Tables the sink fills from Kafka carry each row's record position (positions.ts). */
  positioned?: boolean;
}

/**
 * The template profile of a source's total series (ingest's templateProfile.ts), as parallel
 * arrays: one element per template of the window. Added after the table first shipped.
 */
export const TEMPLATE_COLUMNS: [string, string][] = [
  ['template_ids', 'Array(String)'],
  ['template_texts', 'Array(String)'],
  ['template_tables', 'Array(String)'],
  ['template_queries', 'Array(UInt64)'],
  ['template_latency_sum_ms', 'Array(Float64)'],
  ['template_rows_read', 'Array(UInt64)'],
];

/** Columns tables made by an earlier release lack: added at start (18.16 has no ADD COLUMN IF NOT EXISTS). */
export const ADDED_COLUMNS: { table: string; columns: [string, string][] }[] = [{ table: 'aggregates', columns: TEMPLATE_COLUMNS }];

/** The record-position columns (see positions.ts), appended to every table the sink fills. */
const POSITION_DDL = ',\n      kafka_topic String, kafka_partition UInt32, kafka_offset UInt64';

const rmt = (order: string, partition = 'toYYYYMM(ts)', version?: string) =>
  `ENGINE = ReplacingMergeTree(${version ?? ''}) PARTITION BY ${partition} ORDER BY (${order})`;

export const TABLES: TableDef[] = [
  {
    name: 'query_events',
    positioned: true,
    ddl: (db) => `CREATE TABLE IF NOT EXISTS ${db}.query_events (
      ts DateTime, ts_ms UInt64, event_id String, source String, dialect String, database String,
      template_id String, sql Nullable(String), tables Array(String), operation String,
      duration_ms Float64, rows_read UInt64, rows_written UInt64, node String, partition_id String,
      client String, status String${POSITION_DDL}
    ) ${rmt('source, event_id')}`,
  },
  {
    name: 'metric_samples',
    positioned: true,
    ddl: (db) => `CREATE TABLE IF NOT EXISTS ${db}.metric_samples (
      ts DateTime, ts_ms UInt64, source String, node String, metric String, value Float64,
      label_keys Array(String), label_values Array(String)${POSITION_DDL}
    ) ${rmt('source, node, metric, ts_ms')}`,
  },
  {
    name: 'aggregates',
    positioned: true,
    ddl: (db) => `CREATE TABLE IF NOT EXISTS ${db}.aggregates (
      ts DateTime, window_start_ms UInt64, window_end_ms UInt64, series_id String, source String,
      table_name String, key_bucket String, partition_id String, node String,
      queries UInt64, reads UInt64, writes UInt64, rows_read UInt64, rows_written UInt64,
      errors UInt64, unparsed UInt64, late_merged UInt64, latency_sum_ms Float64,
      latency_p50_ms Nullable(Float64), latency_p95_ms Nullable(Float64), latency_p99_ms Nullable(Float64),
      hot_keys Array(String), hot_counts Array(UInt64),
      ${TEMPLATE_COLUMNS.map(([n, t]) => `${n} ${t}`).join(', ')}${POSITION_DDL}
    ) ${rmt('series_id, window_start_ms')}`,
  },
  {
    name: 'forecasts',
    positioned: true,
    ddl: (db) => `CREATE TABLE IF NOT EXISTS ${db}.forecasts (
      ts DateTime, issued_at_ms UInt64, origin_ms UInt64, target_ms UInt64, step_ms UInt64,
      series_id String, metric String, model String, backend String, horizon UInt16,
      predicted Float64, lower Float64, upper Float64, recent_error Nullable(Float64)${POSITION_DDL}
    ) ${rmt('series_id, origin_ms, horizon')}`,
  },
  {
    name: 'commands',
    positioned: true,
    ddl: (db) => `CREATE TABLE IF NOT EXISTS ${db}.commands (
      ts DateTime, issued_at_ms UInt64, deadline_ms UInt64, command_id String, topic String, kind String,
      action String, store String, store_kind String, table_name String, partition_id String,
      source_node String, target_node String, node String, policy String, requires_approval UInt8,
      expected_benefit Float64, expected_cost Float64, estimated_duration_ms UInt64,
      evidence_series String, current_load Float64, forecast_peak Float64, forecast_lower Float64,
      forecast_upper Float64, explanation String, params_keys Array(String), params_values Array(String)${POSITION_DDL}
    ) ${rmt('command_id')}`,
  },
  {
    name: 'results',
    positioned: true,
    ddl: (db) => `CREATE TABLE IF NOT EXISTS ${db}.results (
      ts DateTime, ts_ms UInt64, command_id String, topic String, store String, action String,
      status String, progress Float64, reason String, rows_copied UInt64, bytes_moved UInt64,
      verified Nullable(UInt8), duration_ms UInt64, executor String,
      details_keys Array(String), details_values Array(String)${POSITION_DDL}
    ) ${rmt('command_id, status, ts_ms')}`,
  },
  {
    name: 'dlq',
    positioned: true,
    ddl: (db) => `CREATE TABLE IF NOT EXISTS ${db}.dlq (
      ts DateTime, ts_ms UInt64, source_topic String, source_partition UInt32, source_offset String,
      stage String, reason String, pipeline String, value_bytes UInt32, value_hex_prefix String${POSITION_DDL}
    ) ${rmt('source_topic, source_partition, source_offset')}`,
  },
  {
    name: 'audit',
    positioned: true,
    ddl: (db) => `CREATE TABLE IF NOT EXISTS ${db}.audit (
      ts DateTime, ts_ms UInt64, actor String, role String, action String, target String, outcome String, via String${POSITION_DDL}
    ) ${rmt('ts_ms, actor, action, target')}`,
  },
  {
    // Rollup of DLQ reasons per hour. Materialized views see inserts, not merges: exact only
    // because the sink never inserts a record twice.
    name: 'dlq_reasons_hourly',
    ddl: (db) => `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.dlq_reasons_hourly
      ENGINE = SummingMergeTree() PARTITION BY toYYYYMM(hour) ORDER BY (hour, source_topic, stage, reason)
      AS SELECT toStartOfHour(ts) AS hour, source_topic, stage, reason, toUInt64(1) AS letters
      FROM ${db}.dlq`,
  },
  {
    // Hourly load per table and key bucket (exact for the same reason).
    name: 'load_hourly',
    ddl: (db) => `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.load_hourly
      ENGINE = SummingMergeTree() PARTITION BY toYYYYMM(hour) ORDER BY (hour, source, table_name, key_bucket)
      AS SELECT toStartOfHour(ts) AS hour, source, table_name, key_bucket,
        queries, reads, writes, rows_read, rows_written
      FROM ${db}.aggregates`,
  },
];
