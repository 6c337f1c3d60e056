/** Pure mapping of each topic's record to the row of its ClickHouse table. */
import type {
  AnyCommand,
  AuditEvent,
  CommandResult,
  DeadLetter,
  Forecast,
  MetricSample,
  QueryEvent,
  TemplateStats,
  WorkloadAggregate,
} from '../schemas/types.js';

const sec = (ms: number) => Math.floor(ms / 1000);

export function queryEventRow(e: QueryEvent, templateId = '') {
  return {
    ts: sec(e.ts),
    ts_ms: e.ts,
    event_id: e.eventId,
    source: e.source,
    dialect: e.dialect,
    database: e.database ?? '',
    template_id: templateId || (e.fingerprint ?? ''),
    sql: e.sql,
    tables: e.tables,
    operation: e.operation ?? '',
    duration_ms: e.durationMs,
    rows_read: e.rowsRead,
    rows_written: e.rowsWritten,
    node: e.node ?? '',
    partition_id: e.partition ?? '',
    client: e.client ?? '',
    status: e.status,
  };
}

export function metricSampleRow(m: MetricSample) {
  const labels = Object.entries(m.labels);
  return {
    ts: sec(m.ts),
    ts_ms: m.ts,
    source: m.source,
    node: m.node,
    metric: m.metric,
    value: m.value,
    label_keys: labels.map(([k]) => k),
    label_values: labels.map(([, v]) => v),
  };
}

export function aggregateRow(a: WorkloadAggregate) {
  return {
    ts: sec(a.windowStart),
    window_start_ms: a.windowStart,
    window_end_ms: a.windowEnd,
    series_id: a.seriesId,
    source: a.source,
    table_name: a.table ?? '',
    key_bucket: a.keyBucket ?? '',
    partition_id: a.partition ?? '',
    node: a.node ?? '',
    queries: a.queries,
    reads: a.reads,
    writes: a.writes,
    rows_read: a.rowsRead,
    rows_written: a.rowsWritten,
    errors: a.errors,
    unparsed: a.unparsed,
    late_merged: a.lateMerged,
    latency_sum_ms: a.latencySumMs,
    latency_p50_ms: a.latencyP50Ms,
    latency_p95_ms: a.latencyP95Ms,
    latency_p99_ms: a.latencyP99Ms,
    hot_keys: a.hotKeys.map((h) => h.key),
    hot_counts: a.hotKeys.map((h) => h.count),
    ...templateColumns(a.templates ?? []),
  };
}

/** A window's template profile as the parallel arrays of the `aggregates` table. */
function templateColumns(ts: readonly TemplateStats[]) {
  return {
    template_ids: ts.map((t) => t.templateId),
    template_texts: ts.map((t) => t.template ?? ''),
    template_tables: ts.map((t) => t.tables.join(',')),
    template_queries: ts.map((t) => t.queries),
    template_latency_sum_ms: ts.map((t) => t.latencySumMs),
    template_rows_read: ts.map((t) => t.rowsRead),
  };
}

/** One row per horizon step. */
export function forecastRows(f: Forecast) {
  return f.points.map((p) => ({
    ts: sec(f.issuedAt),
    issued_at_ms: f.issuedAt,
    origin_ms: f.originTs,
    target_ms: p.ts,
    step_ms: f.stepMs,
    series_id: f.seriesId,
    metric: f.metric,
    model: f.model,
    backend: f.backend ?? '',
    horizon: p.horizon,
    predicted: p.predicted,
    lower: p.lower,
    upper: p.upper,
    recent_error: f.recentError,
  }));
}

export function commandRow(c: AnyCommand, topic: string) {
  const keys = Object.keys(c.params).sort();
  return {
    ts: sec(c.issuedAt),
    issued_at_ms: c.issuedAt,
    deadline_ms: c.deadline,
    command_id: c.commandId,
    topic,
    kind: c.kind,
    action: c.action,
    store: c.store,
    store_kind: c.storeKind,
    table_name: 'table' in c ? c.table : '',
    partition_id: 'partition' in c ? (c.partition ?? '') : '',
    source_node: c.kind === 'shard' ? (c.sourceNode ?? '') : '',
    target_node: c.kind === 'shard' ? (c.targetNode ?? '') : '',
    node: c.kind === 'resource' ? (c.node ?? '') : '',
    policy: c.policy,
    requires_approval: c.requiresApproval ? 1 : 0,
    expected_benefit: c.expectedBenefit,
    expected_cost: c.expectedCost,
    estimated_duration_ms: c.estimatedDurationMs,
    evidence_series: c.evidence.seriesId ?? '',
    current_load: c.evidence.currentLoad,
    forecast_peak: c.evidence.forecastPeak,
    forecast_lower: c.evidence.forecastLower,
    forecast_upper: c.evidence.forecastUpper,
    explanation: c.explanation,
    params_keys: keys,
    params_values: keys.map((k) => c.params[k]!),
  };
}

export function resultRow(r: CommandResult) {
  const keys = Object.keys(r.details).sort();
  return {
    ts: sec(r.ts),
    ts_ms: r.ts,
    command_id: r.commandId,
    topic: r.topic,
    store: r.store,
    action: r.action,
    status: r.status,
    progress: r.progress,
    reason: r.reason ?? '',
    rows_copied: r.rowsCopied,
    bytes_moved: r.bytesMoved,
    verified: r.verified === null ? null : r.verified ? 1 : 0,
    duration_ms: r.durationMs,
    executor: r.executor,
    details_keys: keys,
    details_values: keys.map((k) => r.details[k]!),
  };
}

export function deadLetterRow(d: DeadLetter) {
  return {
    ts: sec(d.ts),
    ts_ms: d.ts,
    source_topic: d.sourceTopic,
    source_partition: d.sourcePartition,
    source_offset: d.sourceOffset,
    stage: d.stage,
    reason: d.reason,
    pipeline: d.pipeline,
    value_bytes: d.value?.length ?? 0,
    value_hex_prefix: d.value ? d.value.subarray(0, 32).toString('hex') : '',
  };
}

export function auditRow(e: AuditEvent) {
  return { ts: sec(e.ts), ts_ms: e.ts, actor: e.actor, role: e.role, action: e.action, target: e.target, outcome: e.outcome, via: e.via };
}

const num = (v: unknown) => Number(v ?? 0);
const numOrNull = (v: unknown) => (v === null || v === undefined ? null : Number(v));

/** An `aggregates` row back to its record (co-access is not kept in ClickHouse: empty). */
export function aggregateFromRow(r: Record<string, unknown>): WorkloadAggregate {
  const keys = (r.hot_keys as string[] | undefined) ?? [];
  const counts = (r.hot_counts as unknown[] | undefined) ?? [];
  const orNull = (v: unknown) => (v === '' || v === undefined || v === null ? null : String(v));
  return {
    seriesId: String(r.series_id),
    windowStart: num(r.window_start_ms),
    windowEnd: num(r.window_end_ms),
    source: String(r.source ?? ''),
    table: orNull(r.table_name),
    keyBucket: orNull(r.key_bucket),
    partition: orNull(r.partition_id),
    node: orNull(r.node),
    queries: num(r.queries),
    reads: num(r.reads),
    writes: num(r.writes),
    rowsRead: num(r.rows_read),
    rowsWritten: num(r.rows_written),
    errors: num(r.errors),
    unparsed: num(r.unparsed),
    lateMerged: num(r.late_merged),
    latencySumMs: num(r.latency_sum_ms),
    latencyP50Ms: numOrNull(r.latency_p50_ms),
    latencyP95Ms: numOrNull(r.latency_p95_ms),
    latencyP99Ms: numOrNull(r.latency_p99_ms),
    hotKeys: keys.map((key, i) => ({ key, count: num(counts[i]), error: 0 })), // the error bound is not kept
    coAccess: [],
  };
}

/** `forecasts` rows (one per horizon step) back to one record per series and origin; `intervalLevel` is not kept. */
export function forecastsFromRows(rows: readonly Record<string, unknown>[], intervalLevel: number): Forecast[] {
  const out = new Map<string, Forecast>();
  for (const r of rows) {
    const key = `${r.series_id}@${r.origin_ms}`;
    let f = out.get(key);
    if (!f) {
      f = {
        seriesId: String(r.series_id),
        issuedAt: num(r.issued_at_ms),
        originTs: num(r.origin_ms),
        stepMs: num(r.step_ms),
        metric: String(r.metric),
        model: String(r.model),
        backend: r.backend ? String(r.backend) : null,
        points: [],
        recentError: numOrNull(r.recent_error),
        intervalLevel,
      };
      out.set(key, f);
    }
    f.points.push({ horizon: num(r.horizon), ts: num(r.target_ms), predicted: num(r.predicted), lower: num(r.lower), upper: num(r.upper) });
  }
  for (const f of out.values()) f.points.sort((a, b) => a.horizon - b.horizon);
  return [...out.values()];
}
