/**
 * Avro values in the Confluent wire format (magic byte 0, 4-byte big-endian schema id, Avro
 * body), with schemas registered under TopicNameStrategy subjects (`<topic>-value`) in a
 * Confluent-compatible registry through @kafkajs/confluent-schema-registry.
 *
 * The registry client is used for registration and for fetching writer schemas by id; the
 * per-message encode/decode is done here synchronously with avsc against the cached Types,
 * because the library's async per-message path costs a promise and a cache lookup per event
 * on the ingest hot path.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { SchemaRegistry, COMPATIBILITY } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { ALL_TOPICS, type TopicSpec } from './topics.js';
import { loadSchema } from './load.js';
import { InputError, StateError, UnavailableError } from '../lib/errors.js';
import { ConfigError, ENV_KEYS, redactUrl, type Config } from '../lib/config.js';

const MAGIC = 0;

/** What the registry client needs from the config: where, and the basic-auth credentials if any. */
export type RegistrySettings = Pick<Config, 'schemaRegistryUrl'> & Partial<Pick<Config, 'schemaRegistryUser' | 'schemaRegistryPassword'>>;

/** The registry client's options: HTTP basic auth when a user is configured. */
export function registryOptions(s: RegistrySettings) {
  const auth =
    s.schemaRegistryUser !== undefined ? { auth: { username: s.schemaRegistryUser, password: s.schemaRegistryPassword ?? '' } } : {};
  return { host: s.schemaRegistryUrl, retry: { retries: 3 }, ...auth };
}

/**
 * A failed registry call as one of our errors: refused credentials are configuration (named by
 * key), anything else a registry that may answer later. URL credentials are masked.
 */
export function registryError(err: unknown, what: string): Error {
  const status = (err as { status?: unknown }).status;
  const detail = redactUrl((err as Error).message ?? String(err));
  if (status === 401 || status === 403) {
    return new ConfigError(ENV_KEYS.schemaRegistryPassword, `the schema registry refused the credentials (HTTP ${status}) ${what}`);
  }
  // no `cause`: the client's error holds the request, and with it the Authorization header
  return new UnavailableError(`schema registry: ${what} failed: ${detail}`);
}

/** What the registry answers one of several instances registering a new subject at the same time. */
const RACING_REGISTRATION = /already exists|does not match the configuration/i;

/** Bytes that are not a message of the topic's schema: bad input, for the dead-letter topic. */
export class DecodeError extends InputError {}

export class AvroSerde {
  /** subject topic name → registered id of our (writer) schema. */
  private readonly writerIds = new Map<string, number>();
  private readonly writerTypes = new Map<string, avro.Type>();
  /** schema id → avsc Type, for decoding with the writer schema. */
  private readonly typesById = new Map<number, avro.Type>();
  /** reader Type per writer id when they differ (schema evolution). */
  private readonly resolvers = new Map<string, avro.Resolver>();

  constructor(readonly registry: SchemaRegistry) {}

  static create(registry: string | RegistrySettings): AvroSerde {
    return new AvroSerde(new SchemaRegistry(registryOptions(typeof registry === 'string' ? { schemaRegistryUrl: registry } : registry)));
  }

  /** Registers the value schema of each topic (idempotent: same schema → same id). */
  async registerTopics(topics: readonly TopicSpec[] = ALL_TOPICS): Promise<Map<string, number>> {
    for (const t of topics) await this.registerTopic(t);
    return new Map(this.writerIds);
  }

  async registerTopic(topic: TopicSpec, schemaJson?: object): Promise<number> {
    const { json, type } = schemaJson
      ? { json: schemaJson, type: avro.Type.forSchema(schemaJson as avro.Schema) }
      : loadSchema(topic.schema);
    const subject = `${topic.name}-value`;
    const register = async (attempt: number): Promise<{ id: number }> => {
      try {
        return await this.registry.register(
          { type: 'AVRO' as never, schema: JSON.stringify(json) },
          { subject, compatibility: COMPATIBILITY.BACKWARD },
        );
      } catch (err) {
        // Instances starting together register a new subject at once: the registry refuses the
        // later compatibility rule as existing, or shows the subject without it for a moment.
        // A later try finds the rule in place; a mismatch that stays is reported.
        if (attempt >= 5 || !RACING_REGISTRATION.test((err as Error).message ?? '')) throw registryError(err, `registering ${subject}`);
        await sleep(100 * 2 ** attempt);
        return register(attempt + 1);
      }
    };
    const { id } = await register(1);
    this.writerIds.set(topic.name, id);
    this.writerTypes.set(topic.name, type);
    this.typesById.set(id, type);
    return id;
  }

  /** Encodes `value` with the topic's registered schema. Throws on a value the schema rejects. */
  encode(topicName: string, value: unknown): Buffer {
    const id = this.writerIds.get(topicName);
    const type = this.writerTypes.get(topicName);
    if (id === undefined || !type) throw new StateError(`serde: schema for ${topicName} not registered; call registerTopics() first`);
    const body = type.toBuffer(value);
    const out = Buffer.allocUnsafe(5 + body.length);
    out.writeUInt8(MAGIC, 0);
    out.writeInt32BE(id, 1);
    body.copy(out, 5);
    return out;
  }

  /** The type values of `topicName` are decoded into (undefined before registration). */
  readerType(topicName: string): avro.Type | undefined {
    return this.writerTypes.get(topicName);
  }

  /** Schema id of a wire-format message, or a DecodeError for bytes that are not one. */
  static schemaIdOf(buf: Buffer | null): number {
    if (!buf || buf.length < 5) throw new DecodeError(`not Confluent wire format: ${buf ? buf.length : 0} bytes`);
    if (buf.readUInt8(0) !== MAGIC) throw new DecodeError(`not Confluent wire format: magic byte ${buf.readUInt8(0)}`);
    return buf.readInt32BE(1);
  }

  /**
   * Decodes a message into the reader schema of `topicName` (our current schema), resolving
   * from the writer schema when an older/newer producer wrote it. Fetches unknown writer
   * schemas from the registry once.
   */
  async decode<T>(topicName: string, buf: Buffer | null): Promise<T> {
    const id = AvroSerde.schemaIdOf(buf);
    if (!this.typesById.has(id)) {
      try {
        const schema = await this.registry.getSchema(id);
        this.typesById.set(id, avro.Type.forSchema(schema as unknown as avro.Schema));
      } catch (err) {
        // 404: the registry answered that it has no such id (bad bytes); anything else means it
        // did not answer, and the same message will decode once it does.
        const status = (err as { status?: unknown }).status;
        if (status === 404) throw new DecodeError(`unknown schema id ${id}: ${redactUrl((err as Error).message)}`);
        throw registryError(err, `fetching schema id ${id}`);
      }
    }
    return this.decodeKnown<T>(topicName, buf!, id);
  }

  /** Synchronous decode when the writer id is already known (the common case). */
  decodeSync<T>(topicName: string, buf: Buffer | null): T | undefined {
    const id = AvroSerde.schemaIdOf(buf);
    if (!this.typesById.has(id)) return undefined;
    return this.decodeKnown<T>(topicName, buf!, id);
  }

  private decodeKnown<T>(topicName: string, buf: Buffer, id: number): T {
    const writer = this.typesById.get(id)!;
    const reader = this.writerTypes.get(topicName) ?? writer;
    try {
      if (reader === writer) return writer.fromBuffer(buf.subarray(5)) as T;
      const key = `${topicName}:${id}`;
      let resolver = this.resolvers.get(key);
      if (!resolver) {
        resolver = reader.createResolver(writer);
        this.resolvers.set(key, resolver);
      }
      return reader.fromBuffer(buf.subarray(5), resolver) as T;
    } catch (err) {
      throw new DecodeError(`Avro body does not match schema id ${id}: ${(err as Error).message}`);
    }
  }
}
