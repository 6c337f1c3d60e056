/**
 * Registry basic auth from configuration. The local registry has no authentication of its own,
 * so this test puts an HTTP proxy in front of it that demands basic auth (as a secured registry
 * does) and forwards to the real registry: schemas register and decode through it with the
 * configured user, and a wrong password is a ConfigError that names the key, not the password.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { inspect } from 'node:util';
import { ConfigError, loadConfig } from '../../lib/config.js';
import { AvroSerde } from '../../schemas/serde.js';
import { TOPICS } from '../../schemas/topics.js';
import type { QueryEvent } from '../../schemas/types.js';
import { cfg, queryEvent, uniq } from './helpers.js';
import { secret } from './secureBroker.js';

const user = 'registry-app';
const password = secret('registry');
const upstream = new URL(cfg.schemaRegistryUrl);
let proxy: http.Server;
let base: string;
let refused = 0;

before(async () => {
  const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  proxy = http.createServer((req, res) => {
    if (req.headers.authorization !== expected) {
      refused++;
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="registry"' });
      res.end(JSON.stringify({ error_code: 401, message: 'Unauthorized' }));
      return;
    }
    const { authorization: _auth, host: _host, ...headers } = req.headers;
    const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on('error', () => res.writeHead(502).end());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(proxy.address() as { port: number }).port}${upstream.pathname}`;
});

after(async () => {
  await new Promise<void>((resolve) => proxy.close(() => resolve()));
});

const registryCfg = (pw: string) => loadConfig({}, { SCHEMA_REGISTRY_URL: base, SCHEMA_REGISTRY_USER: user, SCHEMA_REGISTRY_PASSWORD: pw });

test('schemas register and decode through a registry that demands basic auth; a wrong password is a config error', async () => {
  const spec = { ...TOPICS.queries, name: uniq('shardcast.test.registry-auth') };
  const writer = AvroSerde.create(registryCfg(password));
  const id = await writer.registerTopic(spec);
  assert.ok(id > 0);
  const bytes = writer.encode(spec.name, queryEvent('auth-1', 'registry-auth'));
  // a second client knows nothing yet: it fetches the writer schema by id, through the proxy
  const reader = AvroSerde.create(registryCfg(password));
  const decoded = await reader.decode<QueryEvent>(spec.name, bytes);
  assert.equal(decoded.eventId, 'auth-1');

  const before = refused;
  const wrong = secret('wrong');
  const err = await AvroSerde.create(registryCfg(wrong))
    .registerTopic(spec)
    .then(
      () => null,
      (e: unknown) => e,
    );
  assert.ok(err instanceof ConfigError, `a ConfigError, got ${inspect(err)}`);
  assert.match(err.message, /^config: SCHEMA_REGISTRY_PASSWORD: the schema registry refused the credentials \(HTTP 401\)/);
  assert.ok(refused > before, 'the proxy refused the request');
  const text = `${err.message}\n${inspect(err)}`;
  for (const s of [password, wrong]) assert.ok(!text.includes(s), 'a password in the error');
});
