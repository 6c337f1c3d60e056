/**
 * Each pipeline stage's state as operators read it: whether its consumer group has members
 * (running), its consumer lag (committed offsets against the partitions' ends, through the
 * Kafka admin API), its rates and health from a running process's `/metrics`, and the last
 * dead letter it sent (ClickHouse `dlq`). A stage nobody started reads as `stopped`.
 */
import type { Admin } from '../../lib/kafkajs.js';
import { type ClickHouseClient, queryRows } from '../../analytics/clickhouse.js';
import { PIPELINES } from '../../pipelines/run.js';
import { ParameterError } from './errors.js';

export interface StageView {
  name: string;
  groupId: string;
  /** running: the group has members; stopped: it has none; unknown: the group was never seen. */
  state: 'running' | 'stopped' | 'unknown';
  members: number;
  lag: number | null;
  lagByTopic: { topic: string; lag: number }[];
  /** From `/metrics` when a process serves it: messages consumed per second, and health. */
  consumedPerSecond: number | null;
  health: string | null;
  lastError: { reason: string; at: number } | null;
}

export interface StagesView {
  groupPrefix: string;
  metricsUrl: string;
  metricsReachable: boolean;
  stages: StageView[];
}

const PREFIX = /^[A-Za-z0-9._-]{1,100}$/;

/** Prometheus text → value of `metric{pipeline="p"...}` by pipeline (only lines that match `extra`) (pure). */
export function metricByPipeline(text: string, metric: string, extra = ''): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`) || !line.includes(extra)) continue;
    const m = /pipeline="([^"]+)"[^}]*}\s+(\S+)/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

async function scrape(url: string): Promise<string | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1500) });
    return res.ok ? await res.text() : null;
  } catch {
    return null; // no process serving metrics there: rates are unknown, not an error
  }
}

export class StageService {
  constructor(
    private readonly admin: () => Promise<Admin>,
    private readonly ch: ClickHouseClient,
    private readonly db: string,
    private readonly ensureSchema: () => Promise<void>,
    private readonly metricsUrl: string,
  ) {}

  async list(groupPrefix = 'shardcast'): Promise<StagesView> {
    if (!PREFIX.test(groupPrefix)) throw new ParameterError('group', `${JSON.stringify(groupPrefix)} is not a consumer group prefix`);
    const admin = await this.admin();
    const groups = PIPELINES.map((name) => ({ name, groupId: `${groupPrefix}-${name}` }));
    const described = await admin.describeGroups(groups.map((g) => g.groupId));
    const metrics = await scrape(this.metricsUrl);
    const rate = metrics ? metricByPipeline(metrics, 'shardcast_pipeline_consumed_per_second') : new Map<string, number>();
    const health = new Map<string, string>();
    for (const s of ['running', 'retrying', 'failed'])
      for (const [p, v] of metrics ? metricByPipeline(metrics, 'shardcast_pipeline_state', `state="${s}"`) : [])
        if (v === 1) health.set(p, s);
    await this.ensureSchema();
    const letters = await queryRows(
      this.ch,
      `SELECT pipeline, argMax(reason, ts_ms) AS reason, max(ts_ms) AS at FROM ${this.db}.dlq GROUP BY pipeline`,
    );
    const stages: StageView[] = [];
    for (const g of groups) {
      const d = described.groups.find((x) => x.groupId === g.groupId);
      const lagByTopic = await this.lag(admin, g.groupId);
      const known = (d && d.state !== 'Dead') || lagByTopic.length > 0;
      const letter = letters.find((l) => l.pipeline === g.name);
      stages.push({
        name: g.name,
        groupId: g.groupId,
        state: d && d.members.length > 0 ? 'running' : known ? 'stopped' : 'unknown',
        members: d?.members.length ?? 0,
        lag: lagByTopic.length > 0 ? lagByTopic.reduce((a, t) => a + t.lag, 0) : null,
        lagByTopic,
        consumedPerSecond: rate.get(g.name) ?? null,
        health: health.get(g.name) ?? null,
        lastError: letter ? { reason: String(letter.reason), at: Number(letter.at) } : null,
      });
    }
    return { groupPrefix, metricsUrl: this.metricsUrl, metricsReachable: metrics !== null, stages };
  }

  private async lag(admin: Admin, groupId: string): Promise<{ topic: string; lag: number }[]> {
    const committed = await admin.fetchOffsets({ groupId });
    const out: { topic: string; lag: number }[] = [];
    for (const t of committed) {
      if (t.partitions.every((p) => Number(p.offset) < 0)) continue;
      const ends = await admin.fetchTopicOffsets(t.topic);
      let lag = 0;
      for (const p of t.partitions) {
        const end = ends.find((e) => e.partition === p.partition);
        if (!end) continue;
        const from = Number(p.offset) >= 0 ? Number(p.offset) : Number(end.low);
        lag += Math.max(0, Number(end.high) - from);
      }
      out.push({ topic: t.topic, lag });
    }
    return out;
  }
}
