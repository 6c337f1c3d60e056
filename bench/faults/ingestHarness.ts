/**
 * A fault during ingest: `run ingest` as a child process on the fault stack, the row's events
 * published, the fault injected while ingest works through them, then closing events and the
 * count of the row's aggregates on the topic.
 */
import type { Kafka } from '../../lib/kafkajs.js';
import { StateError, UnavailableError } from '../../lib/errors.js';
import { publish, publishClosers, rowLoad } from './load.js';
import { observeAggregates, waitFor } from './observe.js';
import { type FaultEnv, type FaultRow, measuredRow } from './row.js';
import { StageProcess } from './stageProcess.js';

/** Longest wait for every event to be accounted for once the fault is lifted. */
const RECOVERY_TIMEOUT_MS = 180_000;

/** Runs `inject` on a working ingest; it returns when the fault is lifted (Date.now()). */
export async function ingestRow(env: FaultEnv, fault: string, inject: (ingest: StageProcess) => Promise<number>): Promise<FaultRow> {
  const load = rowLoad(env.runId, env.t0, env.n);
  const ingest = new StageProcess(env.stack.cfg, 'ingest', env.runId);
  try {
    await waitForMembers(env.ctx.kafka, `${env.runId}-ingest`, 120_000, ingest);
    await publish(env.ctx, load);
    const liftedAt = await inject(ingest);
    await publishClosers(env.ctx, load);
    const observed = await observeAggregates(env.ctx, env.runId, load.events.length, RECOVERY_TIMEOUT_MS);
    const exited = ingest.exitCode !== null ? `ingest exited with ${ingest.exitCode}` : '';
    return measuredRow(fault, observed, liftedAt, exited);
  } finally {
    await ingest.stop();
  }
}

/** Waits until the consumer group has a member (the stage has started and joined); fails at once if a child stage exits. */
export async function waitForMembers(kafka: Kafka, groupId: string, timeoutMs: number, stage?: StageProcess): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const at = await waitFor(async () => {
      if (stage && stage.exitCode !== null)
        throw new StateError(`${stage.stage} exited with ${stage.exitCode} before it joined (see ${stage.logFile})`);
      const { groups } = await admin.describeGroups([groupId]).catch(() => ({ groups: [] }));
      return groups.some((g) => g.state === 'Stable' && g.members.length > 0);
    }, timeoutMs);
    if (at === null) throw new UnavailableError(`consumer group ${groupId} has no member after ${timeoutMs} ms`);
  } finally {
    await admin.disconnect();
  }
}
