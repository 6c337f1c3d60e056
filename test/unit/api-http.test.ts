/**
 * The HTTP layer without servers behind it: tokens and roles, the OpenAPI document, and the
 * refusals (401, 403, 400 naming the parameter, 404, 405, 413, malformed JSON) answered before
 * the operations layer is called at all, so a refused request cannot change anything.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { authenticate, authorize, parseTokens } from '../../console/http/auth.js';
import { errorResponse } from '../../console/http/errors.js';
import { openApiDocument } from '../../console/http/openapi.js';
import { httpOptions } from '../../console/http/options.js';
import { matchRoute, ROUTES } from '../../console/http/routes.js';
import { type RunningServer, startServer } from '../../console/http/server.js';
import type { Operations } from '../../console/ops/operations.js';
import { ConfigError } from '../../lib/config.js';
import { UnavailableError } from '../../lib/errors.js';

const VIEWER = 'viewer-token-0123456789';
const OPERATOR = 'operator-token-0123456789';
const ADMIN = 'admin-token:with:colons';
const tokens = parseTokens(` ann:viewer:${VIEWER}, bob:operator:${OPERATOR},root:admin:admin-token:with:colons`);

test('tokens: name:role:token entries; bad entries name the variable and the entry, never the token', () => {
  assert.deepEqual(
    tokens.map((t) => [t.name, t.role, t.token.toString()]),
    [
      ['ann', 'viewer', VIEWER],
      ['bob', 'operator', OPERATOR],
      ['root', 'admin', 'admin-token:with:colons'],
    ],
  );
  assert.deepEqual(parseTokens(undefined), []);
  for (const bad of [
    'ann:boss:0123456789abcdef',
    'ann:viewer:short',
    ':viewer:0123456789abcdef',
    'a:viewer:0123456789abcdef,a:admin:fedcba9876543210',
  ])
    assert.throws(
      () => parseTokens(bad),
      (e: unknown) => e instanceof ConfigError && /SHARDCAST_API_TOKENS/.test(e.message) && !/0123456789abcdef/.test(e.message),
    );
});

test('roles: 401 without or with a wrong token, 403 below the role, viewer < operator < admin', () => {
  const status = (f: () => unknown) => {
    try {
      f();
      return 200;
    } catch (e) {
      return errorResponse(e).status;
    }
  };
  assert.equal(
    status(() => authenticate(undefined, tokens)),
    401,
  );
  assert.equal(
    status(() => authenticate('Basic abc', tokens)),
    401,
  );
  assert.equal(
    status(() => authenticate(`Bearer ${VIEWER}x`, tokens)),
    401,
  );
  assert.equal(
    status(() => authenticate(`Bearer ${VIEWER}`, [])),
    401,
  );
  const ann = authenticate(`Bearer ${VIEWER}`, tokens);
  assert.deepEqual(ann, { name: 'ann', role: 'viewer' });
  assert.equal(
    status(() => authorize(ann, 'viewer')),
    200,
  );
  assert.equal(
    status(() => authorize(ann, 'operator')),
    403,
  );
  const root = authenticate('bearer admin-token:with:colons', tokens);
  assert.equal(
    status(() => authorize(root, 'operator')),
    200,
  );
});

test('port: flag over SHARDCAST_HTTP_PORT over 8787; a bad one names where it came from', () => {
  assert.equal(httpOptions({}, {}).port, 8787);
  assert.equal(httpOptions({}, { SHARDCAST_HTTP_PORT: '9000' }).port, 9000);
  assert.equal(httpOptions({ port: '0' }, { SHARDCAST_HTTP_PORT: '9000' }).port, 0);
  assert.throws(() => httpOptions({}, { SHARDCAST_HTTP_PORT: 'x' }), /SHARDCAST_HTTP_PORT/);
  assert.throws(() => httpOptions({ port: '70000' }, {}), /--port/);
});

test('routes match by method and path; the OpenAPI document describes each with its role and parameters', () => {
  const m = matchRoute('POST', '/api/commands/abc/approve');
  assert.ok(m.route);
  assert.deepEqual(m.params, { id: 'abc' });
  assert.deepEqual(
    matchRoute('DELETE', '/api/commands').route === null && (matchRoute('DELETE', '/api/commands') as { allowed: string[] }).allowed,
    ['GET'],
  );
  const doc = openApiDocument('1.2.3') as {
    openapi: string;
    paths: Record<string, Record<string, { parameters: { name: string }[]; description: string }>>;
  };
  assert.equal(doc.openapi, '3.1.0');
  assert.equal(Object.values(doc.paths).flatMap((p) => Object.keys(p)).length, ROUTES.length);
  const list = doc.paths['/api/commands']!.get!;
  assert.deepEqual(
    list.parameters.map((p) => p.name),
    ['status', 'waiting', 'limit'],
  );
  assert.match(doc.paths['/api/commands/{id}/approve']!.post!.description, /operator/);
  assert.equal(errorResponse(new UnavailableError('down')).status, 503);
  assert.equal(errorResponse(new TypeError('bug')).body.reason, 'internal error (see the server log)');
});

let server: RunningServer;
const touched: string[] = [];
/** Operations that record being called: a refused request must never reach them. */
const refuse = (service: string) => () => {
  touched.push(service);
  throw new UnavailableError('not in this test');
};
const untouchable: Operations = {
  commands: async () => refuse('commands')(),
  catalog: refuse('catalog'),
  analytics: refuse('analytics'),
  load: refuse('load'),
  stages: refuse('stages'),
  proposals: refuse('proposals'),
  controls: async () => refuse('controls')(),
  events: refuse('events'),
  close: async () => undefined,
};

before(async () => {
  server = await startServer({ ops: untouchable, tokens, log: pino({ level: 'silent' }), port: 0, maxBodyBytes: 64 });
});
after(async () => server?.close());

async function call(method: string, path: string, token?: string, body?: string) {
  const res = await fetch(`${server.url}${path}`, { method, body, headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: (await res.json()) as { error: string; reason: string; parameter?: string } };
}

test('refusals are JSON with the status and reason, and never reach the operations layer', async () => {
  const cases: [string, string, string | undefined, string | undefined, number, string, string?][] = [
    ['GET', '/api/commands', undefined, undefined, 401, 'unauthorized'],
    ['GET', '/api/commands', 'nope-nope-nope-nope', undefined, 401, 'unauthorized'],
    ['POST', '/api/commands/c1/approve', VIEWER, undefined, 403, 'forbidden'],
    ['POST', '/api/commands/c1/deny', VIEWER, undefined, 403, 'forbidden'],
    ['GET', '/api/commands?limit=0', VIEWER, undefined, 400, 'bad_parameter', 'limit'],
    ['GET', '/api/commands?limit=abc', VIEWER, undefined, 400, 'bad_parameter', 'limit'],
    ['GET', '/api/commands?status=DONE', VIEWER, undefined, 400, 'bad_parameter', 'status'],
    ['GET', '/api/commands?limit=1&limit=2', VIEWER, undefined, 400, 'bad_parameter', 'limit'],
    ['GET', '/api/commands?colour=red', VIEWER, undefined, 400, 'bad_parameter', 'colour'],
    ['GET', '/api/commands/bad%20id', VIEWER, undefined, 400, 'bad_parameter', 'id'],
    ['GET', '/api/catalog/placement', VIEWER, undefined, 400, 'bad_parameter', 'table'],
    ['GET', '/api/catalog/placement?table=a;drop', VIEWER, undefined, 400, 'bad_parameter', 'table'],
    ['GET', '/api/analytics/hot-ranges?since=-5', VIEWER, undefined, 400, 'bad_parameter', 'since'],
    ['GET', '/api/analytics?x=1', VIEWER, undefined, 400, 'bad_parameter', 'x'],
    ['POST', '/api/commands/c1/approve', OPERATOR, '{not json', 400, 'bad_json'],
    ['POST', '/api/commands/c1/approve', OPERATOR, '[]', 400, 'bad_parameter', 'body'],
    ['POST', '/api/commands/c1/approve', OPERATOR, '{"by":"someone else"}', 400, 'bad_parameter', 'by'],
    ['POST', '/api/commands/c1/approve', OPERATOR, JSON.stringify({ pad: 'x'.repeat(200) }), 413, 'payload_too_large'],
    ['GET', '/api/nothing-here', VIEWER, undefined, 404, 'not_found'],
    ['GET', '/elsewhere', undefined, undefined, 404, 'not_found'],
    ['DELETE', '/api/commands/c1', OPERATOR, undefined, 405, 'method_not_allowed'],
    ['POST', '/api/commands/c1/stop', VIEWER, undefined, 403, 'forbidden'],
    ['POST', '/api/controls/decide/pause', VIEWER, undefined, 403, 'forbidden'],
    ['POST', '/api/controls/approval/pg-shards', OPERATOR, '{"mode":"manual"}', 403, 'forbidden'],
    ['POST', '/api/controls/approval/pg-shards', ADMIN, '{"mode":"sometimes"}', 400, 'bad_parameter', 'mode'],
    ['POST', '/api/controls/approval/pg-shards', ADMIN, '{}', 400, 'bad_parameter', 'mode'],
    ['POST', '/api/controls/approval/a;b', ADMIN, '{"mode":"auto"}', 400, 'bad_parameter', 'store'],
    ['POST', '/api/proposals/p1/execute', VIEWER, undefined, 403, 'forbidden'],
    ['GET', '/api/load/keyspace', VIEWER, undefined, 400, 'bad_parameter', 'table'],
    ['GET', '/api/load/keyspace?table=orders&since=x', VIEWER, undefined, 400, 'bad_parameter', 'since'],
    ['GET', '/api/load/nodes?until=-1', VIEWER, undefined, 400, 'bad_parameter', 'until'],
    ['GET', '/api/forecasts?limit=5000', VIEWER, undefined, 400, 'bad_parameter', 'limit'],
    ['GET', '/api/stages?group=a%20b', VIEWER, undefined, 400, 'bad_parameter', 'group'],
    ['GET', '/api/catalog/lineage?table=orders&depth=3', VIEWER, undefined, 400, 'bad_parameter', 'depth'],
    ['GET', '/api/proposals?x=1', VIEWER, undefined, 400, 'bad_parameter', 'x'],
    ['GET', '/api/events', undefined, undefined, 401, 'unauthorized'],
    ['GET', '/ui/../package.json', undefined, undefined, 404, 'not_found'],
    ['GET', '/vendor/nothing.js', undefined, undefined, 404, 'not_found'],
  ];
  for (const [method, path, token, body, status, error, parameter] of cases) {
    const r = await call(method, path, token, body);
    const what = `${method} ${path} → ${JSON.stringify(r)}`;
    assert.equal(r.status, status, what);
    assert.equal(r.body.error, error, what);
    assert.ok(r.body.reason.length > 0, what);
    assert.equal(r.body.parameter, parameter, what);
  }
  assert.deepEqual(touched, [], 'no refused request reached the operations layer');
});

test('the OpenAPI document is public; a server behind the API that is down is a 503', async () => {
  const doc = await fetch(`${server.url}/api/openapi.json`);
  assert.equal(doc.status, 200);
  assert.equal(((await doc.json()) as { openapi: string }).openapi, '3.1.0');
  const r = await call('GET', '/api/commands', VIEWER);
  assert.equal(r.status, 503);
  assert.equal(r.body.error, 'unavailable');
  assert.deepEqual(touched, ['commands']);
});
