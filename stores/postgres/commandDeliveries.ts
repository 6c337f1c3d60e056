/**
 * Where each command id was first delivered (`shardcast_exec.deliveries` on the coordinator,
 * beside the executors' ledger): a signed command that comes again from the same Kafka position
 * is a redelivery (at-least-once, after a restart) and goes on; the same id from any other
 * position is a replay, rejected before it reaches the executor engine.
 */
import type pg from 'pg';

export interface Delivery {
  commandId: string;
  topic: string;
  partition: number;
  /** Kafka offset as a decimal string. */
  offset: string;
  keyId: string;
  signedAt: number;
}

export type DeliveryVerdict =
  | { kind: 'first' }
  | { kind: 'redelivery' }
  | { kind: 'replay'; first: { topic: string; partition: number; offset: string } };

export async function ensureDeliveriesTable(pool: pg.Pool): Promise<void> {
  await pool.query('CREATE SCHEMA IF NOT EXISTS shardcast_exec');
  await pool.query(`CREATE TABLE IF NOT EXISTS shardcast_exec.deliveries (
    command_id text PRIMARY KEY,
    topic text NOT NULL,
    kafka_partition int NOT NULL,
    kafka_offset bigint NOT NULL,
    key_id text NOT NULL,
    signed_at bigint NOT NULL,
    first_seen timestamptz NOT NULL DEFAULT now())`);
}

/** Records the first delivery of a command id, or says whether this one is a redelivery or a replay. */
export async function recordDelivery(pool: pg.Pool, d: Delivery): Promise<DeliveryVerdict> {
  const inserted = await pool.query(
    `INSERT INTO shardcast_exec.deliveries (command_id, topic, kafka_partition, kafka_offset, key_id, signed_at)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (command_id) DO NOTHING`,
    [d.commandId, d.topic, d.partition, d.offset, d.keyId, d.signedAt],
  );
  if (inserted.rowCount === 1) return { kind: 'first' };
  const { rows } = await pool.query<{ topic: string; kafka_partition: number; kafka_offset: string }>(
    'SELECT topic, kafka_partition, kafka_offset FROM shardcast_exec.deliveries WHERE command_id = $1',
    [d.commandId],
  );
  const r = rows[0];
  if (r && r.topic === d.topic && r.kafka_partition === d.partition && String(r.kafka_offset) === d.offset) return { kind: 'redelivery' };
  return { kind: 'replay', first: { topic: r?.topic ?? '?', partition: r?.kafka_partition ?? -1, offset: String(r?.kafka_offset ?? '?') } };
}
