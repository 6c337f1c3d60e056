/**
 * Secured clusters from configuration: Kafka TLS and SASL, registry basic auth, PostgreSQL TLS;
 * settings that only work together are checked together; refused credentials and certificates
 * become configuration errors that name the key and never show the secret.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { ConfigError, loadConfig, redactUrl } from '../../lib/config.js';
import { UnavailableError } from '../../lib/errors.js';
import { registryError, registryOptions } from '../../schemas/serde.js';
import { kafkaConnectError, kafkaSecurityOptions } from '../../topics/kafka.js';

const PASSWORD = 'pw-4f0c1e9d77aa';

test('Kafka: no TLS or SASL unless configured; a CA file turns TLS on; SASL from mechanism, user and password', () => {
  assert.deepEqual(kafkaSecurityOptions(loadConfig({}, {})), {});
  assert.deepEqual(kafkaSecurityOptions(loadConfig({}, { KAFKA_SSL: 'on' })), { ssl: true });
  const withCa = kafkaSecurityOptions(loadConfig({}, { KAFKA_SSL_CA: '/etc/ca.pem' }), (f) => `PEM of ${f}`);
  assert.deepEqual(withCa.ssl, { ca: ['PEM of /etc/ca.pem'] });
  assert.deepEqual(
    kafkaSecurityOptions(loadConfig({}, { KAFKA_SSL_CA: '/etc/ca.pem', KAFKA_SSL: 'off' }), () => 'x'),
    {},
  );
  const sasl = kafkaSecurityOptions(
    loadConfig({}, { KAFKA_SSL: 'on', KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'app', KAFKA_SASL_PASSWORD: PASSWORD }),
  );
  assert.deepEqual(sasl, { ssl: true, sasl: { mechanism: 'scram-sha-512', username: 'app', password: PASSWORD } });
  assert.throws(
    () =>
      kafkaSecurityOptions(loadConfig({}, { KAFKA_SSL_CA: '/nowhere/ca.pem' }), () => {
        throw Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
      }),
    (err: unknown) => err instanceof ConfigError && /^config: KAFKA_SSL_CA: cannot read the CA file: ENOENT$/.test(err.message),
  );
});

test('settings that go together are checked together, naming the missing key', () => {
  assert.throws(
    () => loadConfig({}, { KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: 'app' }),
    /config: KAFKA_SASL_PASSWORD: /,
  );
  assert.throws(() => loadConfig({}, { KAFKA_SASL_USERNAME: 'app', KAFKA_SASL_PASSWORD: PASSWORD }), /config: KAFKA_SASL_MECHANISM: /);
  assert.throws(() => loadConfig({}, { KAFKA_SASL_MECHANISM: 'gssapi' }), /config: KAFKA_SASL_MECHANISM: /);
  assert.throws(() => loadConfig({}, { SCHEMA_REGISTRY_USER: 'reg' }), /config: SCHEMA_REGISTRY_PASSWORD: /);
  assert.throws(() => loadConfig({}, { SCHEMA_REGISTRY_PASSWORD: PASSWORD }), /config: SCHEMA_REGISTRY_USER: /);
  assert.throws(() => loadConfig({}, { PG_SSL_CA: '/etc/ca.pem' }), /config: PG_SSL_MODE: PG_SSL_CA needs verify-full/);
  assert.throws(() => loadConfig({}, { PG_SSL_MODE: 'prefer' }), /config: PG_SSL_MODE: /);
});

test('registry: basic auth only when a user is configured', () => {
  assert.deepEqual(registryOptions(loadConfig({}, {})), { host: 'http://127.0.0.1:8081/apis/ccompat/v7', retry: { retries: 3 } });
  const o = registryOptions(loadConfig({}, { SCHEMA_REGISTRY_USER: 'reg', SCHEMA_REGISTRY_PASSWORD: PASSWORD }));
  assert.deepEqual(o.auth, { username: 'reg', password: PASSWORD });
});

test('PostgreSQL: TLS mode and CA go into every node URL unless it says sslmode itself', () => {
  assert.equal(loadConfig({}, {}).pgNodes[0], 'postgres://shardcast@127.0.0.1:5433/shardcast');
  assert.equal(loadConfig({}, { PG_SSL_MODE: 'require' }).pgNodes[1], 'postgres://shardcast@127.0.0.1:5434/shardcast?sslmode=no-verify');
  const full = loadConfig(
    {},
    {
      PG_SSL_MODE: 'verify-full',
      PG_SSL_CA: '/etc/pg ca.pem',
      PG_NODES: 'postgres://a@h:1/d?application_name=x,postgres://a@h:2/d?sslmode=disable',
    },
  );
  assert.deepEqual(full.pgNodes, [
    'postgres://a@h:1/d?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fpg%20ca.pem',
    'postgres://a@h:2/d?sslmode=disable',
  ]);
});

test('secrets stay out of configuration errors and of refused-connection errors', () => {
  const urlWithPassword = `postgres://app:${PASSWORD}@db:5432/x`;
  assert.equal(redactUrl(`${urlWithPassword},postgres://b:c@e/f`), 'postgres://app:***@db:5432/x,postgres://b:***@e/f');
  const messages: string[] = [];
  const capture = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      messages.push(`${(err as Error).message}\n${inspect(err)}`);
    }
  };
  capture(() => loadConfig({}, { SCHEMA_REGISTRY_URL: `http//reg:${PASSWORD}@registry` }));
  capture(() => loadConfig({}, { CLICKHOUSE_URL: `//default:${PASSWORD}@clickhouse:8123` }));
  capture(() => loadConfig({}, { PG_NODES: ',', PGPASSWORD: PASSWORD }));
  capture(() => loadConfig({}, { KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_PASSWORD: PASSWORD }));
  capture(() => loadConfig({}, { SCHEMA_REGISTRY_PASSWORD: PASSWORD }));
  const cfg = loadConfig({}, { KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: 'app', KAFKA_SASL_PASSWORD: PASSWORD });
  const sasl = Object.assign(new Error('SASL SCRAM SHA256 authentication failed: invalid credentials'), {
    name: 'KafkaJSSASLAuthenticationError',
  });
  const refused = kafkaConnectError(Object.assign(new Error('Connection error'), { name: 'KafkaJSNonRetriableError', cause: sasl }), cfg);
  assert.ok(
    refused instanceof ConfigError &&
      /^config: KAFKA_SASL_PASSWORD: 127\.0\.0\.1:9092 refused the scram-sha-256 credentials of user "app"$/.test(refused.message),
  );
  const cert = kafkaConnectError(
    Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }),
    cfg,
  );
  assert.ok(cert instanceof ConfigError && /KAFKA_SSL_CA: .*SELF_SIGNED_CERT_IN_CHAIN/.test(cert.message));
  assert.ok(kafkaConnectError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), cfg) instanceof UnavailableError);
  const denied = registryError(
    Object.assign(new Error(`401 Unauthorized http://reg:${PASSWORD}@h/x`), { status: 401 }),
    'registering t-value',
  );
  assert.ok(denied instanceof ConfigError && /SCHEMA_REGISTRY_PASSWORD: .*HTTP 401/.test(denied.message));
  const down = registryError(Object.assign(new Error(`503 http://reg:${PASSWORD}@h/x`), { status: 503 }), 'fetching schema id 7');
  assert.ok(down instanceof UnavailableError);
  messages.push(...[refused, cert, denied, down].map((e) => `${e.message}\n${inspect(e)}`));
  assert.equal(messages.length, 9);
  for (const m of messages) assert.ok(!m.includes(PASSWORD), `a secret in: ${m.slice(0, 300)}`);
});
