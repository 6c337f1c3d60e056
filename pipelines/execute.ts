/**
 * `shardcast run execute`: the three command topics → executor engine → shardcast.results.
 * Each new command is checked against the Neo4j catalog (catalog/validate.ts, mode from
 * SHARDCAST_EXECUTE_CATALOG) before the store adapter's own checks. A command that requires
 * approval waits in the ledger until `shardcast approve` (or `--deny`) decides it; the stage
 * looks for decisions every two seconds, and for operators' stop requests, which abort the command
 * in hand (its adapter rolls back at its next safe point). Commands run in one lane per store:
 * a store's one after another in the order they came, different stores' at the same time (the
 * engine throttles bytes across all of them); results
 * are sent as they happen so progress is visible; the batch's offsets are committed after its
 * last result is acknowledged. Several instances may share the consumer group: a lane holds its
 * store's lock across instances while it works (executors/storeLocks.ts), so one store's
 * commands never run on two at once, and whoever takes a store's lock first finishes or rolls
 * back what a crashed executor left in flight on it (when a lane takes the lock, and in a sweep every two seconds of entries idle for a minute).
 * Before anything else each record's signature is verified (lib/signing.ts, keys from
 * SHARDCAST_COMMAND_VERIFY_KEYS) and its command id checked against where it was first delivered
 * (stores/postgres/commandDeliveries.ts): an unsigned, forged, moved, expired or replayed command
 * gets a REJECTED result with the reason, its original bytes go to the DLQ, and nothing runs.
 */
import { hostname } from 'node:os';
import { newPgPool } from '../stores/postgres/pool.js';
import { InputError } from '../lib/errors.js';
import { type VerifyKeys, verifyRecord } from '../lib/signing.js';
import { loadVerifyKeys } from '../lib/signingKeys.js';
import { ensureDeliveriesTable, recordDelivery } from '../stores/postgres/commandDeliveries.js';
import type { AnyCommand, CommandResult, PartitionCommand, ResourceCommand, ShardCommand } from '../schemas/types.js';
import { COMMAND_TOPICS, TOPICS } from '../schemas/topics.js';
import { ExecutorEngine } from '../executors/engine.js';
import { StoreLanes } from '../executors/storeLanes.js';
import { StoreLocks } from '../executors/storeLocks.js';
import { CommandLedger } from '../executors/ledger.js';
import { buildAdapters } from '../executors/registry.js';
import { createCatalogDriver } from '../catalog/neo4j.js';
import { Discovery } from '../catalog/discover.js';
import { CatalogValidator, type CatalogCheckMode } from '../catalog/validate.js';
import { PG_SOURCE } from '../catalog/pg.js';
import { CH_SOURCE } from '../catalog/clickhouse.js';
import { KAFKA_SOURCE } from '../catalog/kafka.js';
import type { Envelope } from '../schemas/envelope.js';
import type { PipelineContext } from './context.js';
import { startStage, type RunningStage } from './stage.js';

export function toAnyCommand(topic: string, value: PartitionCommand | ShardCommand | ResourceCommand): AnyCommand {
  if (topic === COMMAND_TOPICS.partition) return { kind: 'partition', ...(value as PartitionCommand) };
  if (topic === COMMAND_TOPICS.shard) return { kind: 'shard', ...(value as ShardCommand) };
  return { kind: 'resource', ...(value as ResourceCommand) };
}

const APPROVAL_POLL_MS = 2_000;

/** How far ahead of the executor's clock a signer's clock may be. */
const MAX_CLOCK_SKEW_MS = 60_000;

/** Why commands were refused before the engine saw them, by reason (verify failures and replays). */
export type RejectionCounts = Record<string, number>;

export interface ExecuteOptions {
  groupId?: string;
  bytesPerSecond?: number;
  /**
   * How long a moved shard's source stays after the routing switch, for clients that do not
   * follow the routing map at once (default 2 s; a command's graceMs wins).
   */
  pgGraceMs?: number;
  /** Check commands against the Neo4j catalog (default: config executeCatalogCheck). */
  catalogCheck?: CatalogCheckMode;
  /** How long the group waits for a silent instance before its command partitions go to another (default 30 s). */
  sessionTimeoutMs?: number;
}

export async function startExecute(
  ctx: PipelineContext,
  opts: ExecuteOptions = {},
): Promise<RunningStage & { engine: ExecutorEngine; abort(): void; rejected: RejectionCounts }> {
  // Keys first: an executor without them does not start (unless verification is explicitly off).
  const verifyKeys = await loadVerifyKeys(ctx.cfg);
  if (verifyKeys) ctx.log.info({ keyIds: [...verifyKeys.keys()] }, 'verifying command signatures');
  else
    ctx.log.warn(
      'command signatures are NOT verified (SHARDCAST_COMMAND_VERIFY=off): anyone who can write a command topic can change stores',
    );
  const ledger = await CommandLedger.open(ctx.cfg.pgNodes[0]!);
  const deliveries = newPgPool({ connectionString: ctx.cfg.pgNodes[0]!, max: 1, application_name: 'shardcast-execute' });
  if (verifyKeys) await ensureDeliveriesTable(deliveries);
  const abort = new AbortController();
  const adapters = await buildAdapters(ctx.cfg, { postgres: opts.pgGraceMs !== undefined ? { defaultGraceMs: opts.pgGraceMs } : {} });
  const emit = async (r: CommandResult) => {
    await ctx.producer.send(TOPICS.results.name, [{ key: r.commandId, value: r }]);
    ctx.log.info({ commandId: r.commandId, action: r.action, status: r.status, reason: r.reason ?? undefined }, 'result');
  };
  const mode = opts.catalogCheck ?? ctx.cfg.executeCatalogCheck;
  const driver = mode === 'off' ? null : createCatalogDriver(ctx.cfg);
  const discovery = driver ? Discovery.open(ctx.cfg, driver, { log: ctx.log, postgres: { source: PG_SOURCE } }) : null;
  const validator =
    driver && discovery
      ? new CatalogValidator(
          driver,
          discovery,
          { postgres: PG_SOURCE, clickhouse: CH_SOURCE, kafka: KAFKA_SOURCE, clickhouseDatabase: ctx.cfg.clickhouseDatabase },
          { mode, log: ctx.log },
        )
      : null;
  const executorName = `shardcast-executor@${hostname()}:${process.pid}`;
  const engine = new ExecutorEngine({
    executorName,
    adapters: adapters.list,
    ledger,
    emit,
    bytesPerSecond: opts.bytesPerSecond ?? 32 * 1024 * 1024,
    signal: abort.signal,
    catalogCheck: validator ? (cmd) => validator.check(cmd) : undefined,
  });

  const rejected: RejectionCounts = {};
  const window = { maxAgeMs: ctx.cfg.commandMaxAgeMs, maxSkewMs: MAX_CLOCK_SKEW_MS };
  /** Whether the record is an authentic command at its id's own position (seen first, or redelivered from there); else why not. */
  const admit = async (
    keys: VerifyKeys,
    m: Envelope<PartitionCommand | ShardCommand | ResourceCommand>,
  ): Promise<{ refusal: { code: string; reason: string } } | { ownPosition: true }> => {
    const v = verifyRecord(keys, m.topic, m.raw, m.headers, Date.now(), window);
    if (!v.ok) return { refusal: { code: v.reason, reason: `signature: ${v.reason}: ${v.message}` } };
    const d = await recordDelivery(deliveries, {
      commandId: m.value.commandId,
      topic: m.topic,
      partition: m.partition,
      offset: m.offset,
      keyId: v.keyId,
      signedAt: v.signedAt,
    });
    if (d.kind !== 'replay') return { ownPosition: true };
    return {
      refusal: {
        code: 'replay',
        reason: `replay: command id ${m.value.commandId} was first delivered at ${d.first.topic}[${d.first.partition}]@${d.first.offset}`,
      },
    };
  };
  const rejection = (m: Envelope<PartitionCommand | ShardCommand | ResourceCommand>, code: string, reason: string): CommandResult => ({
    commandId: m.value.commandId,
    ts: Date.now(),
    topic: m.topic,
    store: m.value.store,
    action: m.value.action,
    status: 'REJECTED',
    progress: 0,
    reason,
    rowsCopied: 0,
    bytesMoved: 0,
    verified: null,
    durationMs: 0,
    executor: executorName,
    // Marked: the id may be a genuine command's (a replay), whose own results stand.
    details: { refused: code },
  });

  // One lane per store, for commands from a topic and from an operator's approval alike, each
  // holding its store's lock across executor instances while it works.
  const stopping = new AbortController();
  const locks = new StoreLocks(ctx.cfg.pgNodes[0]!, {
    holder: executorName,
    onSlowWait: (store, heldBy) => ctx.log.warn({ store, heldBy }, 'waiting for the store: another executor instance is working on it'),
    onLost: (store, err) => {
      const ids = engine.stopStore(store, `lost the lock of store ${store}: ${err.message}`);
      ctx.log.warn({ store, err: err.message, stopping: ids }, 'lost the store lock; stopping its commands in hand');
    },
  });
  const lanes = new StoreLanes(engine, {
    locks,
    ledger,
    signal: stopping.signal,
    onResume: (entry) => ctx.log.warn({ commandId: entry.commandId, status: entry.status }, 'resuming a command left in flight'),
  });
  const sweepFailed = (store: string, err: unknown) =>
    ctx.log.warn({ store, err: (err as Error).message }, 'resuming commands left in flight failed; retried');
  let settling: Promise<unknown> | null = null;

  lanes.sweepOrphans(sweepFailed);
  const approvals = setInterval(() => {
    lanes.sweepOrphans(sweepFailed);
    // one look at a time: a look still running its approved commands has claimed them already
    if (!settling)
      settling = engine
        .settleApprovals((store, run) => lanes.inLane(store, run))
        .catch((err: unknown) => ctx.log.warn({ err: (err as Error).message }, 'acting on approvals failed; retried'))
        .finally(() => {
          settling = null;
        });
    // Not in a lane: a stop is for a command in hand, which holds its lane.
    void ledger
      .stopRequests()
      .then((rs) => {
        for (const r of rs)
          if (engine.stop(r.commandId, `stopped by ${r.by}`)) ctx.log.warn({ commandId: r.commandId, by: r.by }, 'stopping a command');
      })
      .catch((err: unknown) => ctx.log.warn({ err: (err as Error).message }, 'reading stop requests failed; retried'));
  }, APPROVAL_POLL_MS);

  const stage = await startStage<PartitionCommand | ShardCommand | ResourceCommand>(ctx, {
    name: 'execute',
    groupId: opts.groupId ?? 'shardcast-execute',
    topics: Object.values(COMMAND_TOPICS),
    batchSize: 50,
    batchMs: 200,
    ...(opts.sessionTimeoutMs ? { sessionTimeoutMs: opts.sessionTimeoutMs } : {}),
    handle: async (batch: Envelope<PartitionCommand | ShardCommand | ResourceCommand>[]) => {
      let ownPosition: boolean[] = batch.map(() => false);
      if (verifyKeys) {
        // Every record of the batch is checked before any runs. A refused one makes the stage
        // hand the batch over again one record at a time (its InputError contract): then the
        // refused record gets its REJECTED result and goes to the DLQ, and the others run.
        const verdicts = await Promise.all(batch.map((m) => admit(verifyKeys, m)));
        const first = verdicts.map((v) => ('refusal' in v ? v.refusal : null)).find((r) => r !== null);
        if (first) {
          if (batch.length > 1) throw new InputError(first.reason);
          const m = batch[0]!;
          rejected[first.code] = (rejected[first.code] ?? 0) + 1;
          await emit(rejection(m, first.code, first.reason));
          ctx.log.warn(
            { topic: m.topic, partition: m.partition, offset: m.offset, commandId: m.value.commandId, code: first.code },
            first.reason,
          );
          throw new InputError(first.reason);
        }
        ownPosition = verdicts.map((v) => 'ownPosition' in v);
      }
      // A batch is handed over again when a command's store did not answer (engine.run throws a
      // retriable error): the commands that already ran are not run again, nor one at its own
      // position that another instance (or this one, before a restart) finished: a redelivery,
      // or the same record held by the partition's old and new owner across a rebalance.
      await lanes.runBatch(
        batch.map((m, i) => ({
          at: `${m.topic}:${m.partition}:${m.offset}`,
          cmd: toAnyCommand(m.topic, m.value),
          ownPosition: ownPosition[i],
        })),
      );
      return [];
    },
  });
  return {
    ...stage,
    engine,
    rejected,
    abort: () => abort.abort(),
    /** Graceful: the command in hand finishes; a later `abort()` makes adapters roll back. */
    async stop() {
      clearInterval(approvals);
      stopping.abort();
      await stage.stop();
      await settling;
      await locks.close();
      await adapters.close();
      await ledger.close();
      await deliveries.end();
      await discovery?.close();
      await driver?.close();
    },
  };
}
