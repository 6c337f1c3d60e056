/**
 * The audit trail of operators' writes: who (token name or user@host, and role), what (action
 * and target), when, and the outcome. Every event goes to the log; `kafkaAuditLog` also sends
 * it to `shardcast.audit` (acknowledged by Kafka, or an error line in the log).
 */
import type { Logger } from '../../lib/log.js';
import { TOPICS } from '../../schemas/topics.js';
import type { AuditEvent } from '../../schemas/types.js';
import type { TopicProducer } from '../../topics/producer.js';

export interface Actor {
  name: string;
  role: string;
  via: 'api' | 'cli';
}

export interface AuditEntry {
  actor: Actor;
  action: string;
  target: string;
  outcome: string;
}

/** The record on `shardcast.audit`. */
export type { AuditEvent };

export interface AuditLog {
  record(e: AuditEntry): Promise<void>;
}

export function auditEvent(e: AuditEntry, now: number): AuditEvent {
  return { ts: now, actor: e.actor.name, role: e.actor.role, action: e.action, target: e.target, outcome: e.outcome, via: e.actor.via };
}

/** Audit to the log only (tests of pure parts; never the product's only trail). */
export function logAuditLog(log: Logger, now: () => number = Date.now): AuditLog {
  return {
    async record(e) {
      log.info({ audit: auditEvent(e, now()) }, `audit: ${e.actor.name} (${e.actor.role}) ${e.action} ${e.target}: ${e.outcome}`);
    },
  };
}

/** Audit to the log and to `shardcast.audit`, keyed by actor. */
export function kafkaAuditLog(producer: TopicProducer, log: Logger, now: () => number = Date.now): AuditLog {
  const toLog = logAuditLog(log, now);
  return {
    async record(e) {
      await toLog.record(e);
      const ev = auditEvent(e, now());
      try {
        await producer.send(TOPICS.audit.name, [{ key: ev.actor, value: ev }]);
      } catch (err) {
        // the write itself is done and cannot be undone: the log line above stays its trail
        log.error({ err, audit: ev }, 'audit event not acknowledged by Kafka');
      }
    },
  };
}
