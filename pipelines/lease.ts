/**
 * One active instance of a stage that must not run twice at once (decide: two writers would plan
 * against each other). Every instance joins the consumer group `<group>-lease` on the
 * one-partition topic `shardcast.leases`; the member Kafka assigns that partition to holds the
 * lease and runs the stage, the others stand by. When the holder stops, crashes or freezes past
 * its session timeout, the group rebalances and a standby starts the stage: takeover takes at most
 * the session timeout plus the stage's start. Losing the partition stops the stage. Kafka's group
 * coordinator is the arbiter, so no other store is needed; each change of holder is also written
 * to the topic, which tells operators who held the lease when.
 *
 * The assignment is sticky: a round-robin assignor would hand the partition to whichever member
 * sorts first at every rebalance, so any instance joining could take the lease from a healthy
 * holder. Members instead tell, in their join metadata, since when they hold the lease; the
 * latest claim wins (a holder that froze and comes back claims an older one than the standby that
 * replaced it), and without a claim the first member gets it.
 */
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { AssignerProtocol, type PartitionAssigner } from '../lib/kafkajs.js';
import { TOPICS } from '../schemas/topics.js';
import { consumeTopics } from '../topics/consumer.js';
import type { PipelineContext } from './context.js';
import { initialHealth, type StageHealth } from './failure.js';
import type { RunningStage, StageStats } from './stage.js';

export interface LeaseOptions {
  /** The stage's name (`decide`) and its own consumer group (the lease group is `<groupId>-lease`). */
  stage: string;
  groupId: string;
  /** How long a silent holder keeps the lease (default 10 s): the longest takeover wait. */
  sessionTimeoutMs?: number;
}

export interface LeasedStage extends RunningStage {
  /** Whether this instance holds the lease and runs the stage now. */
  active(): boolean;
  /** This instance's name in the lease events. */
  holder: string;
}

/** The member that gets the lease: the latest claim, else the first member id. */
export function leaseWinner(members: readonly { memberId: string; since: number | null }[]): string | undefined {
  const claims = members.filter((m) => m.since !== null).sort((a, b) => b.since! - a.since! || a.memberId.localeCompare(b.memberId));
  return (claims[0] ?? [...members].sort((a, b) => a.memberId.localeCompare(b.memberId))[0])?.memberId;
}

const ASSIGNER = 'ShardcastLease';

/** The sticky assignor (see above); `since` is when this member took the lease, null when it does not hold it. */
function leaseAssigner(since: () => number | null): PartitionAssigner {
  return () => ({
    name: ASSIGNER,
    version: 1,
    protocol: ({ topics }) => ({
      name: ASSIGNER,
      metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.from(JSON.stringify({ since: since() })) }),
    }),
    async assign({ members, topics }) {
      const claimOf = (buf: Buffer): number | null => {
        try {
          const s = (JSON.parse(AssignerProtocol.MemberMetadata.decode(buf)?.userData.toString() || '{}') as { since?: unknown }).since;
          return typeof s === 'number' ? s : null;
        } catch {
          return null;
        }
      };
      const winner = leaseWinner(members.map((m) => ({ memberId: m.memberId, since: claimOf(m.memberMetadata) })));
      return members.map((m) => ({
        memberId: m.memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 1,
          assignment: m.memberId === winner ? Object.fromEntries(topics.map((t) => [t, [0]])) : {},
          userData: Buffer.alloc(0),
        }),
      }));
    },
  });
}

type LeaseEvent = { ts: number; stage: string; group: string; holder: string; event: 'ACQUIRED' | 'RELEASED' };

export async function startLeased(ctx: PipelineContext, opts: LeaseOptions, start: () => Promise<RunningStage>): Promise<LeasedStage> {
  const holder = `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const leaseGroup = `${opts.groupId}-lease`;
  const idleStats: StageStats = { consumed: 0, produced: 0, handled: 0, deadLettered: 0, batches: 0 };
  const standbyHealth: StageHealth = { ...initialHealth(), state: 'standby' };
  let inner: RunningStage | null = null;
  /** When this instance took the lease (null: standby). */
  let heldSince: number | null = null;
  let stopping = false;
  let fail: (err: unknown) => void = () => undefined;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  done.catch(() => undefined);

  const announce = (event: LeaseEvent['event']) =>
    ctx.producer
      .send<LeaseEvent>(TOPICS.leases.name, [
        { key: leaseGroup, value: { ts: Date.now(), stage: opts.stage, group: opts.groupId, holder, event } },
      ])
      .catch((err: unknown) => ctx.log.warn({ err: (err as Error).message }, 'lease event not written'));

  // Transitions run one at a time, in the order the assignments came.
  let transitions = Promise.resolve();
  const become = (leader: boolean) => {
    transitions = transitions.then(async () => {
      if (stopping || leader === (inner !== null)) return;
      if (leader) {
        ctx.log.info({ stage: opts.stage, holder }, 'lease acquired: starting the stage');
        heldSince = Date.now();
        const s = await start();
        inner = s;
        s.done.catch((err: unknown) => {
          if (inner === s) fail(err);
        });
        await announce('ACQUIRED');
      } else {
        ctx.log.warn({ stage: opts.stage, holder }, 'lease lost: stopping the stage');
        const s = inner!;
        inner = null;
        heldSince = null;
        await s.stop();
        await announce('RELEASED');
      }
    });
    transitions.catch((err: unknown) => fail(err));
  };

  const lease = await consumeTopics(ctx.kafka, {
    groupId: leaseGroup,
    topics: [TOPICS.leases.name],
    fromBeginning: false,
    sessionTimeoutMs: opts.sessionTimeoutMs ?? 10_000,
    partitionAssigners: [leaseAssigner(() => heldSince)],
  });
  const watching = lease.assignments$.subscribe({
    next: (owned) => become(owned.some((p) => p.topic === TOPICS.leases.name)),
    error: (err: unknown) => fail(err),
  });

  return {
    holder,
    active: () => inner !== null,
    get stats() {
      return inner?.stats ?? idleStats;
    },
    get health() {
      return inner?.health ?? standbyHealth;
    },
    groupId: opts.groupId,
    get topics() {
      return inner?.topics ?? [];
    },
    source: lease,
    done,
    async stop() {
      stopping = true;
      watching.unsubscribe();
      await transitions.catch(() => undefined);
      const s = inner;
      inner = null;
      // The stage first, so nothing it sends overlaps a successor's start; then leave the group.
      if (s) {
        await s.stop();
        await announce('RELEASED');
      }
      await lease.stop({ complete: true });
      finish();
    },
  };
}
