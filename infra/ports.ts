/**
 * The local stack's port table: one place for every port the stack listens on (all on
 * 127.0.0.1). `docker-compose.yml` publishes the same host ports; test/unit/compose.test.ts
 * parses it and checks that it agrees with this table.
 *
 * Client-facing ports follow the config defaults in lib/config.ts (the URLs there are what
 * clients use); the table below adds the ports clients never see (Kafka's controller,
 * ClickHouse's native protocol).
 */
export interface PortEntry {
  /** Stack service (infra/services/*) that listens on the port. */
  service: 'kafka' | 'registry' | 'clickhouse' | 'neo4j' | 'postgres';
  /** Compose service that publishes the same host port, or null when the port is internal. */
  compose: string | null;
  port: number;
  /** Port inside the container when it differs from the host port. */
  containerPort: number;
  what: string;
}

export const KAFKA_PORT = 9092;
export const KAFKA_CONTROLLER_PORT = 9093;
export const REGISTRY_PORT = 8081;
export const CLICKHOUSE_HTTP_PORT = 8123;
export const CLICKHOUSE_NATIVE_PORT = 9000;
export const NEO4J_BOLT_PORT = 7687;
export const PG_BASE_PORT = 5433;
export const PG_NODE_COUNT = 3;

/** Host ports of the PostgreSQL shard nodes: base, base+1, … */
export function pgPorts(base = PG_BASE_PORT, count = PG_NODE_COUNT): number[] {
  return Array.from({ length: count }, (_, i) => base + i);
}

/** Compose service name of PostgreSQL node `i`. */
export const pgComposeName = (i: number) => `pg-node${i}`;

/** The default port table (config defaults: 3 PostgreSQL nodes from 5433). */
export function portTable(pgBase = PG_BASE_PORT, pgCount = PG_NODE_COUNT): PortEntry[] {
  return [
    { service: 'kafka', compose: 'kafka', port: KAFKA_PORT, containerPort: KAFKA_PORT, what: 'Kafka PLAINTEXT listener' },
    {
      service: 'kafka',
      compose: null,
      port: KAFKA_CONTROLLER_PORT,
      containerPort: KAFKA_CONTROLLER_PORT,
      what: 'KRaft controller listener',
    },
    {
      service: 'registry',
      compose: 'schema-registry',
      port: REGISTRY_PORT,
      containerPort: 8080,
      what: 'Apicurio Registry HTTP (ccompat API at /apis/ccompat/v7)',
    },
    {
      service: 'clickhouse',
      compose: 'clickhouse',
      port: CLICKHOUSE_HTTP_PORT,
      containerPort: CLICKHOUSE_HTTP_PORT,
      what: 'ClickHouse HTTP',
    },
    {
      service: 'clickhouse',
      compose: 'clickhouse',
      port: CLICKHOUSE_NATIVE_PORT,
      containerPort: CLICKHOUSE_NATIVE_PORT,
      what: 'ClickHouse native TCP',
    },
    { service: 'neo4j', compose: 'neo4j', port: NEO4J_BOLT_PORT, containerPort: NEO4J_BOLT_PORT, what: 'Neo4j Bolt' },
    ...pgPorts(pgBase, pgCount).map(
      (port, i): PortEntry => ({
        service: 'postgres',
        compose: pgComposeName(i),
        port,
        containerPort: 5432,
        what: `PostgreSQL shard node ${i}`,
      }),
    ),
  ];
}

/** Port of a `host:port` or URL string, or `fallback` when it has none. */
export function portOf(endpoint: string, fallback: number): number {
  try {
    const u = new URL(endpoint.includes('://') ? endpoint : `tcp://${endpoint}`);
    return u.port ? Number(u.port) : fallback;
  } catch {
    return fallback;
  }
}
