/**
 * What a stage does when a step fails, decided by the error's class alone (decision 0050):
 * bad input goes to the dead-letter topic and the stage moves on, a retriable failure is tried
 * again after a capped exponential backoff while the stage's health says it is stalled, and
 * anything else stops the stage with the error's exit code.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { InputError, isRetriable } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';

export type FailureAction = 'dead-letter' | 'retry' | 'exit';

/** The one failure policy of the stages: error → action. */
export function failureAction(err: unknown): FailureAction {
  if (err instanceof InputError) return 'dead-letter';
  if (isRetriable(err)) return 'retry';
  return 'exit';
}

export interface BackoffOptions {
  /** Delay before the first retry (default 200 ms). */
  initialMs?: number;
  /** Longest delay between two tries (default 30 s). */
  maxMs?: number;
}

/**
 * Delay before retry number `attempt` (1-based): initialMs·2^(attempt−1), capped at maxMs, of
 * which a random half is waited off ("equal jitter") so that stages failing together do not
 * retry together. Always within [initialMs/2, maxMs].
 */
export function backoffDelayMs(attempt: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = opts.initialMs ?? 200;
  const max = Math.max(initial, opts.maxMs ?? 30_000);
  const cap = Math.min(max, initial * 2 ** Math.min(Math.max(attempt, 1) - 1, 52));
  return Math.round(cap / 2 + (cap / 2) * random());
}

/** A stage's progress as its metrics show it: stalled while it retries a failed step. */
export interface StageHealth {
  /** `standby`: a leased stage waiting for the lease (lease.ts), healthy and idle by design. */
  state: 'running' | 'retrying' | 'failed' | 'standby';
  /** Retries of failed steps since the stage started. */
  retries: number;
  /** The step being retried and why (null when running). */
  lastError: string | null;
  /** Date.now() when the stage entered its state. */
  since: number;
}

export const initialHealth = (now = Date.now()): StageHealth => ({ state: 'running', retries: 0, lastError: null, since: now });

export interface RetryOptions {
  /** Names the step in logs and health ("send", "commit"). */
  step: string;
  health: StageHealth;
  backoff?: BackoffOptions;
  /** Aborted when the stage stops: the retrying ends and the last error is thrown. */
  signal?: AbortSignal;
  onRetry?(info: { step: string; attempt: number; delayMs: number; err: unknown }): void;
}

/**
 * Runs `work` until it succeeds, retrying it with backoff while it fails with a retriable error;
 * any other error (and the last one once `signal` aborts) is thrown. `health` says `retrying`
 * from the first failure until the step succeeds.
 */
export async function retryWhileRetriable<T>(work: () => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      const value = await work();
      if (attempt > 1) Object.assign(opts.health, { state: 'running', lastError: null, since: Date.now() });
      return value;
    } catch (err) {
      if (failureAction(err) !== 'retry' || opts.signal?.aborted) throw err;
      const delayMs = backoffDelayMs(attempt, opts.backoff);
      if (attempt === 1) Object.assign(opts.health, { state: 'retrying', since: Date.now() });
      opts.health.retries++;
      opts.health.lastError = `${opts.step}: ${(err as Error).message ?? String(err)}`;
      opts.onRetry?.({ step: opts.step, attempt, delayMs, err });
      const aborted = await sleep(delayMs, false, { signal: opts.signal }).catch(() => true);
      if (aborted) throw err;
    }
  }
}

/** Retries one named step of a stage; what a stage hands to the code it runs. */
export type Retrying = <R>(step: string, work: () => Promise<R>) => Promise<R>;

/**
 * The retry function of one stage: every step shares the stage's health, backoff and stop
 * signal, and each retry is logged with the stage and step names.
 */
export function stageRetrying(
  stage: string,
  o: { health: StageHealth; backoff?: BackoffOptions; signal: AbortSignal; log: Logger },
): Retrying {
  return (step, work) =>
    retryWhileRetriable(work, {
      step,
      health: o.health,
      backoff: o.backoff,
      signal: o.signal,
      onRetry: ({ attempt, delayMs, err }) =>
        o.log.warn({ stage, step, attempt, delayMs, err: (err as Error).message }, 'step failed; retrying'),
    });
}

export interface PollOptions {
  step: string;
  health: StageHealth;
  /** Aborted when the poller stops. */
  signal: AbortSignal;
  intervalMs: number;
  log: Logger;
  /** Logged at each retry. */
  retrying: string;
  /** Logged when a failure that is not retriable stops the poller. */
  failed: string;
  /** Logged when the poller was stopped while it retried (nothing is logged when absent). */
  stoppedWhileRetrying?: string;
}

/**
 * Runs `work` every `intervalMs` until `signal` aborts (a collector's loop), retrying it while it
 * fails with a retriable error; any other error marks `health` failed, is logged and rejects.
 */
export function pollWhileRunning(work: () => Promise<void>, o: PollOptions): Promise<void> {
  const done = (async () => {
    while (!o.signal.aborted) {
      await retryWhileRetriable(work, {
        step: o.step,
        health: o.health,
        signal: o.signal,
        onRetry: ({ attempt, delayMs, err }) => o.log.warn({ attempt, delayMs, err: (err as Error).message }, o.retrying),
      });
      await sleep(o.intervalMs, undefined, { signal: o.signal }).catch(() => undefined);
    }
  })();
  done.catch((err: unknown) => {
    if (o.signal.aborted) {
      if (o.stoppedWhileRetrying) o.log.warn({ err: (err as Error).message }, o.stoppedWhileRetrying);
      return;
    }
    Object.assign(o.health, { state: 'failed', lastError: (err as Error).message ?? String(err), since: Date.now() });
    o.log.error({ err }, o.failed);
  });
  return done;
}

/**
 * A stage's health while kafkajs restarts its consumer (a broker away): `retrying`, with the
 * reason, until the consumer has joined its group again; it fetches nothing meanwhile, and
 * without this the stage would look `running` while it makes no progress.
 */
export function consumerHealth(health: StageHealth): { onRestart(reason: string): void; onJoin(): void } {
  const PREFIX = 'consumer restarting: ';
  return {
    onRestart(reason) {
      if (health.state !== 'retrying') Object.assign(health, { state: 'retrying', since: Date.now() });
      health.retries++;
      health.lastError = `${PREFIX}${reason}`;
    },
    onJoin() {
      if (health.state === 'retrying' && health.lastError?.startsWith(PREFIX))
        Object.assign(health, { state: 'running', lastError: null, since: Date.now() });
    },
  };
}

/**
 * The health of an instance made of several stages (the halves of scaled ingest, the inputs of
 * scaled forecast): that of the first one not running, else the last one's; retries summed.
 */
export function combinedHealth(parts: readonly StageHealth[]): StageHealth {
  const worse = () => parts.find((h) => h.state !== 'running') ?? parts[parts.length - 1]!;
  return {
    get state() {
      return worse().state;
    },
    get retries() {
      return parts.reduce((n, h) => n + h.retries, 0);
    },
    get lastError() {
      return worse().lastError;
    },
    get since() {
      return worse().since;
    },
  };
}
