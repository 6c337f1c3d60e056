/**
 * What flows between pipeline stages: a value plus where it came from in Kafka, so any stage
 * can send a bad input to the dead-letter topic with its original bytes and position, and the
 * pipeline can commit offsets only once every output of an input has been acknowledged.
 */
import type { DeadLetter } from './types.js';

export interface SourcePosition {
  topic: string;
  partition: number;
  /** Kafka offset as a decimal string (kafkajs convention). */
  offset: string;
}

export interface Envelope<T> extends SourcePosition {
  key: Buffer | null;
  value: T;
  /** The original message bytes, kept until the message is decoded and validated. */
  raw: Buffer | null;
  /** The record's headers (a command's signature), where the consumer hands them over. */
  headers?: RecordHeaders;
}

/** Kafka record headers as kafkajs gives them. */
export type RecordHeaders = Readonly<Record<string, Buffer | string | (Buffer | string)[] | undefined>>;

/** A stage's output: a value for the next topic, or a dead letter. Never nothing. */
export type Routed<T> = { kind: 'out'; value: T } | { kind: 'dlq'; letter: DeadLetter };

export function deadLetter(
  at: SourcePosition & { key: Buffer | null; raw: Buffer | null },
  stage: string,
  reason: string,
  pipeline: string,
  ts: number,
): DeadLetter {
  return {
    ts,
    sourceTopic: at.topic,
    sourcePartition: at.partition,
    sourceOffset: at.offset,
    key: at.key,
    value: at.raw,
    stage,
    reason,
    pipeline,
  };
}
