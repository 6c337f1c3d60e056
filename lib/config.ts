/**
 * One typed, validated configuration object for every command and pipeline.
 *
 * Values come from (in order of precedence) explicit overrides (CLI flags), the environment,
 * then defaults that point at the local stack on 127.0.0.1. A bad value is a `ConfigError`
 * whose one-line message names the environment key, never a stack trace.
 */
import path from 'node:path';
import { z } from 'zod';
import { ShardcastError } from './errors.js';

/** Environment variable that feeds each config key. Keys not listed here are flag-only. */
export const ENV_KEYS = {
  kafkaBrokers: 'KAFKA_BROKERS',
  kafkaSsl: 'KAFKA_SSL',
  kafkaSslCa: 'KAFKA_SSL_CA',
  kafkaSaslMechanism: 'KAFKA_SASL_MECHANISM',
  kafkaSaslUsername: 'KAFKA_SASL_USERNAME',
  kafkaSaslPassword: 'KAFKA_SASL_PASSWORD',
  schemaRegistryUrl: 'SCHEMA_REGISTRY_URL',
  schemaRegistryUser: 'SCHEMA_REGISTRY_USER',
  schemaRegistryPassword: 'SCHEMA_REGISTRY_PASSWORD',
  clickhouseUrl: 'CLICKHOUSE_URL',
  clickhouseDatabase: 'CLICKHOUSE_DATABASE',
  clickhouseUser: 'CLICKHOUSE_USER',
  clickhousePassword: 'CLICKHOUSE_PASSWORD',
  neo4jUri: 'NEO4J_URI',
  neo4jUser: 'NEO4J_USER',
  neo4jPassword: 'NEO4J_PASSWORD',
  pgNodes: 'PG_NODES',
  pgSslMode: 'PG_SSL_MODE',
  pgSslCa: 'PG_SSL_CA',
  pgPassword: 'PGPASSWORD',
  pgNodeCount: 'SHARDCAST_PG_NODE_COUNT',
  pgBasePort: 'SHARDCAST_PG_BASE_PORT',
  stackDir: 'SHARDCAST_STACK_DIR',
  faultsStackDir: 'SHARDCAST_FAULTS_STACK_DIR',
  faultsPortShift: 'SHARDCAST_FAULTS_PORT_SHIFT',
  windowMs: 'SHARDCAST_WINDOW_MS',
  allowedLatenessMs: 'SHARDCAST_ALLOWED_LATENESS_MS',
  ingestFetchKiB: 'SHARDCAST_INGEST_FETCH_KIB',
  ingestConsumerThread: 'SHARDCAST_INGEST_CONSUMER_THREAD',
  ingestScaleOut: 'SHARDCAST_INGEST_SCALE_OUT',
  forecastScaleOut: 'SHARDCAST_FORECAST_SCALE_OUT',
  forecastHorizon: 'SHARDCAST_FORECAST_HORIZON',
  forecastBackend: 'SHARDCAST_FORECAST_BACKEND',
  metricsPort: 'SHARDCAST_METRICS_PORT',
  executeCatalogCheck: 'SHARDCAST_EXECUTE_CATALOG',
  logLevel: 'LOG_LEVEL',
  partitionKeys: 'SHARDCAST_PARTITION_KEYS',
  commandSigningKey: 'SHARDCAST_COMMAND_SIGNING_KEY',
  commandVerifyKeys: 'SHARDCAST_COMMAND_VERIFY_KEYS',
  commandVerify: 'SHARDCAST_COMMAND_VERIFY',
  commandMaxAgeMs: 'SHARDCAST_COMMAND_MAX_AGE_MS',
} as const;

/** Keys whose values are secrets: a bad value is named, never echoed. */
const SECRET_KEYS: ReadonlySet<string> = new Set([
  'commandSigningKey',
  'clickhousePassword',
  'neo4jPassword',
  'kafkaSaslPassword',
  'schemaRegistryPassword',
  'pgPassword',
]);

/** A URL or URL list with any `user:password@` credentials masked, for messages and logs. */
export function redactUrl(text: string): string {
  return text.replace(/(\/\/[^/@:\s,]*):[^/@\s,]*@/g, '$1:***@');
}

export type ConfigKey = keyof typeof ENV_KEYS;

const csv = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string()).min(1, 'expected at least one comma-separated value'));
const intFromString = (min: number) => z.coerce.number().int().min(min);
const url = z.string().url();

export const ConfigSchema = z.object({
  kafkaBrokers: csv.default(['127.0.0.1:9092']),
  /** TLS to the brokers; on by itself when a CA file is given. */
  kafkaSsl: z.enum(['on', 'off']).optional(),
  /** PEM file of the CA that signed the brokers' certificates (default: the system's CAs). */
  kafkaSslCa: z.string().optional(),
  /** SASL mechanism; the username and password are then required. */
  kafkaSaslMechanism: z.enum(['scram-sha-256', 'scram-sha-512', 'plain']).optional(),
  kafkaSaslUsername: z.string().optional(),
  kafkaSaslPassword: z.string().optional(),
  schemaRegistryUrl: url.default('http://127.0.0.1:8081/apis/ccompat/v7'),
  /** HTTP basic auth to the registry: both or neither. */
  schemaRegistryUser: z.string().optional(),
  schemaRegistryPassword: z.string().optional(),
  clickhouseUrl: url.default('http://127.0.0.1:8123'),
  clickhouseDatabase: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a plain identifier')
    .default('shardcast'),
  clickhouseUser: z.string().default('default'),
  clickhousePassword: z.string().default(''),
  neo4jUri: z
    .string()
    .regex(/^(bolt|neo4j)(\+s|\+ssc)?:\/\//, 'expected a bolt:// or neo4j:// URI')
    .default('bolt://127.0.0.1:7687'),
  neo4jUser: z.string().default('neo4j'),
  neo4jPassword: z.string().min(8, 'Neo4j requires at least 8 characters').default('shardcast-local'),
  /** PostgreSQL shard nodes as connection URLs; derived from pgNodeCount/pgBasePort when not given. */
  pgNodes: csv.optional(),
  /**
   * TLS to every shard node, added to each node URL unless it has its own `sslmode`: disable
   * (default), require (encrypted, certificate not checked), verify-full (CA and host name checked).
   */
  pgSslMode: z.enum(['disable', 'require', 'verify-full']).default('disable'),
  /** PEM file of the CA that signed the nodes' certificates (verify-full). */
  pgSslCa: z.string().optional(),
  /** Password of the shard nodes' user; node-postgres reads PGPASSWORD itself, validated here only. */
  pgPassword: z.string().optional(),
  pgNodeCount: intFromString(1).max(16).default(3),
  pgBasePort: intFromString(1024).max(65000).default(5433),
  stackDir: z.string().default('.stack'),
  /** `bench faults`: its own stack's directory, and how far its ports are shifted from the main stack's. */
  faultsStackDir: z.string().default('.stack-faults'),
  faultsPortShift: intFromString(1).max(56_000).default(10_000),
  windowMs: intFromString(100).default(10_000),
  allowedLatenessMs: intFromString(0).default(5_000),
  /**
   * Fetch sizes of the ingest consumer in KiB, "PER_PARTITION,TOTAL". kafkajs decodes a whole
   * fetch before handing any of it over, so larger fetches hold more messages in memory at once;
   * they were not measurably faster (docs/decisions/0020-ingest-measurements.md has the figures).
   */
  ingestFetchKiB: z
    .string()
    .regex(/^\s*\d+\s*,\s*\d+\s*$/, 'expected "PER_PARTITION,TOTAL" in KiB, e.g. "512,1536"')
    .transform((s) => {
      const [perPartition, total] = s.split(',').map((x) => Number(x.trim())) as [number, number];
      return { perPartition, total };
    })
    .refine(
      (f) => f.perPartition >= 64 && f.total >= f.perPartition && f.total <= 1024 * 1024,
      'expected 64 <= PER_PARTITION <= TOTAL <= 1048576 (KiB)',
    )
    .default({ perPartition: 512, total: 1536 }),
  /**
   * Run the ingest consumer (fetching and kafkajs's record decoding) on a worker thread beside
   * the pipeline (topics/threadedConsumer.ts): "on" (default) or "off" (one thread, as every
   * other pipeline consumes).
   */
  ingestConsumerThread: z.enum(['on', 'off']).default('on'),
  /**
   * "on": ingest runs so that several instances share the work, each (series, window) owned by
   * one (queries re-keyed by series through shardcast.internal.ingest.routed, Kafka transactions
   * per partition; docs/decisions/0120-ingest-scale-out.md). "off" (default): one instance per group.
   */
  ingestScaleOut: z.enum(['on', 'off']).default('off'),
  /**
   * "on": the forecast stage runs so that several instances share the aggregates partition by
   * partition, each partition's forecaster state saved to shardcast.internal.forecast.state in
   * the transaction of its forecasts and offsets (docs/decisions/0121-forecast-scale-out.md).
   * "off" (default): one instance per group, its state in a checkpoint file.
   */
  forecastScaleOut: z.enum(['on', 'off']).default('off'),
  forecastHorizon: intFromString(1).max(1000).default(6),
  forecastBackend: z.enum(['auto', 'webgpu', 'tensorflow', 'wasm', 'cpu']).default('auto'),
  metricsPort: intFromString(0).max(65535).default(9464),
  /** Executors check commands against the Neo4j catalog: required | optional (Neo4j down → store checks only) | off. */
  executeCatalogCheck: z.enum(['required', 'optional', 'off']).default('optional'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Partition key and bucket bounds per table, as JSON: {"orders":{"column":"id","bounds":[1000,2000]}}. */
  partitionKeys: z
    .string()
    .transform((s, ctx) => {
      try {
        return JSON.parse(s) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'expected JSON' });
        return z.NEVER;
      }
    })
    .pipe(z.record(z.string(), z.object({ column: z.string(), bounds: z.array(z.number()) })))
    .default({}),
  /**
   * Ed25519 private key that signs commands (decide, CLI): PEM text or the path of a PEM file.
   * Unset on the local stack: the stack's own key (`<stackDir>/keys/`, made on first use).
   */
  commandSigningKey: z.string().optional(),
  /**
   * Public keys whose signatures executors accept: PEM files (comma-separated paths) or PEM
   * text; each key's id is its fingerprint. Unset on the local stack: the stack's own key.
   */
  commandVerifyKeys: z.string().optional(),
  /** Executors verify every command's signature (required) or, explicitly, not at all (off). */
  commandVerify: z.enum(['required', 'off']).default('required'),
  /** How long a command's signature stays good: older commands are rejected as replays. */
  commandMaxAgeMs: intFromString(1000).default(15 * 60_000),
});

type Parsed = z.output<typeof ConfigSchema>;

export interface Config extends Omit<Parsed, 'pgNodes'> {
  /** Connection URLs of the PostgreSQL shard nodes, node 0 first. */
  pgNodes: string[];
  /** Absolute path of the local stack's data directory. */
  stackDir: string;
  /** Services whose endpoint came from the environment: the local stack leaves those alone. */
  external: { kafka: boolean; registry: boolean; clickhouse: boolean; neo4j: boolean; postgres: boolean };
}

/** A bad configuration value, named by its key: exit code 2. */
export class ConfigError extends ShardcastError {
  constructor(
    readonly key: string,
    detail: string,
  ) {
    super(`config: ${key}: ${detail}`, { exitCode: 2 });
  }
}

/** Local PostgreSQL shard node URL for node index `i`. */
export function localPgUrl(port: number): string {
  return `postgres://shardcast@127.0.0.1:${port}/shardcast`;
}

/**
 * Builds the config from `env` and `overrides` (flags, already named by config key).
 * Throws `ConfigError` naming the first bad key.
 */
export function loadConfig(overrides: Partial<Record<ConfigKey, unknown>> = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const raw: Record<string, unknown> = {};
  for (const [key, envName] of Object.entries(ENV_KEYS) as [ConfigKey, string][]) {
    const fromEnv = env[envName];
    if (fromEnv !== undefined && fromEnv !== '') raw[key] = fromEnv;
  }
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) raw[key] = value;
  }
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = String(issue.path[0] ?? '?');
    const envName = ENV_KEYS[key as ConfigKey] ?? key;
    // a value with an @ may be a URL with credentials that did not parse: not echoed either
    const shown = raw[key] !== undefined && !SECRET_KEYS.has(key) && !String(raw[key]).includes('@');
    const got = shown ? ` (got ${JSON.stringify(raw[key])})` : '';
    throw new ConfigError(envName, `${issue.message}${got}`);
  }
  const c = result.data;
  checkPairs(c);
  const pgNodes = (c.pgNodes ?? Array.from({ length: c.pgNodeCount }, (_, i) => localPgUrl(c.pgBasePort + i))).map((u) =>
    withPgSsl(u, c.pgSslMode, c.pgSslCa),
  );
  const has = (k: ConfigKey) => env[ENV_KEYS[k]] !== undefined && env[ENV_KEYS[k]] !== '';
  return {
    ...c,
    pgNodes,
    stackDir: path.resolve(c.stackDir),
    external: {
      kafka: has('kafkaBrokers'),
      registry: has('schemaRegistryUrl'),
      clickhouse: has('clickhouseUrl'),
      neo4j: has('neo4jUri'),
      postgres: has('pgNodes'),
    },
  };
}

/** Settings that only work together: a SASL mechanism with its user and password, registry user with password. */
function checkPairs(c: Parsed): void {
  const sasl = [c.kafkaSaslMechanism, c.kafkaSaslUsername, c.kafkaSaslPassword];
  if (sasl.some((v) => v !== undefined) && sasl.some((v) => v === undefined)) {
    const missing = (['kafkaSaslMechanism', 'kafkaSaslUsername', 'kafkaSaslPassword'] as const).find((k) => c[k] === undefined)!;
    throw new ConfigError(ENV_KEYS[missing], 'KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD go together');
  }
  if ((c.schemaRegistryUser === undefined) !== (c.schemaRegistryPassword === undefined)) {
    const missing = c.schemaRegistryUser === undefined ? 'schemaRegistryUser' : 'schemaRegistryPassword';
    throw new ConfigError(ENV_KEYS[missing], 'SCHEMA_REGISTRY_USER and SCHEMA_REGISTRY_PASSWORD go together');
  }
  if (c.pgSslCa !== undefined && c.pgSslMode !== 'verify-full') throw new ConfigError(ENV_KEYS.pgSslMode, 'PG_SSL_CA needs verify-full');
}

/**
 * A node URL with the TLS setting in node-postgres's URL parameters (it reads the CA file named by
 * `sslrootcert`), unless the URL sets `sslmode` itself. `no-verify` is its name for libpq's require.
 */
export function withPgSsl(url: string, mode: Parsed['pgSslMode'], ca: string | undefined): string {
  if (mode === 'disable' || /[?&]sslmode=/.test(url)) return url;
  const params = [`sslmode=${mode === 'require' ? 'no-verify' : 'verify-full'}`];
  if (ca) params.push(`sslrootcert=${encodeURIComponent(ca)}`);
  return `${url}${url.includes('?') ? '&' : '?'}${params.join('&')}`;
}
