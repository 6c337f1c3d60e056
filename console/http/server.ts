/**
 * `shardcast serve`: the web UI at `/` (assets.ts) and the JSON API under `/api/` on node:http,
 * with live updates as Server-Sent Events at `/api/events`. Each API request: route → bearer token
 * (401) → role (403) → path, query and body checked against the route's zod schemas (400 naming
 * the parameter; 413 over the body limit; malformed JSON 400) → the operations layer. A refused
 * request changes nothing: checks run before any call into the operations layer.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { z } from 'zod';
import type { Logger } from '../../lib/log.js';
import { ParameterError } from '../ops/errors.js';
import type { Operations } from '../ops/operations.js';
import { authenticate, authorize, type Principal, type TokenEntry } from './auth.js';
import { errorResponse, HttpError } from './errors.js';
import { asset, contentSecurityPolicy } from './assets.js';
import { openApiDocument } from './openapi.js';
import { matchRoute } from './routes.js';

/** A comment line on an idle event stream, so proxies and browsers keep it open. */
const SSE_HEARTBEAT_MS = 15_000;

export const DEFAULT_MAX_BODY_BYTES = 16 * 1024;

export interface ServeOptions {
  ops: Operations;
  tokens: readonly TokenEntry[];
  log: Logger;
  host?: string;
  /** 0: any free port. */
  port: number;
  maxBodyBytes?: number;
  version?: string;
}

export interface RunningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Parses with `schema`; the first issue becomes a ParameterError naming the parameter. */
function check<T extends z.ZodType>(schema: T, value: unknown, fallback: string): z.output<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const keys = (issue as { keys?: string[] }).keys;
  const name = issue.path.length > 0 ? String(issue.path[0]) : keys?.[0] ? keys[0] : fallback;
  const given = issue.path.length > 0 ? (value as Record<PropertyKey, unknown> | null)?.[issue.path[0]!] : value;
  const reason =
    issue.code === 'unrecognized_keys' ? 'not a parameter of this request' : given === undefined ? 'is required' : issue.message;
  throw new ParameterError(name, reason);
}

function queryObject(url: URL): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of url.searchParams) {
    if (k in out) throw new ParameterError(k, 'given more than once (use a comma-separated list)');
    out[k] = v;
  }
  return out;
}

/** Reads the body up to `limit` bytes; 413 beyond it (by Content-Length before reading, or while reading). */
async function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () => new HttpError(413, 'payload_too_large', `the body is larger than ${limit} bytes`, { connection: 'close' });
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (declared > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw tooLarge();
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

function parseJson(buf: Buffer): unknown {
  if (buf.length === 0) return {};
  try {
    return JSON.parse(buf.toString('utf8')) as unknown;
  } catch (err) {
    throw new HttpError(400, 'bad_json', `the body is not valid JSON: ${(err as Error).message}`);
  }
}

export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const maxBody = o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const openapi = JSON.stringify(openApiDocument(o.version ?? '0.0.0'));

  const send = (res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
    res.end(body);
  };

  const csp = contentSecurityPolicy();
  const streams = new Set<http.ServerResponse>();

  /** Server-Sent Events: every event of the operations layer's feed, as `event: <type>` with JSON data. */
  const streamEvents = (req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(`retry: 3000\nevent: hello\ndata: {}\n\n`);
    const off = o.ops.events().subscribe((e) => res.write(`event: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`));
    const beat = setInterval(() => res.write(': ping\n\n'), SSE_HEARTBEAT_MS);
    streams.add(res);
    const end = () => {
      clearInterval(beat);
      off();
      streams.delete(res);
    };
    req.once('close', end);
    res.once('close', end);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<{ status: number; who?: Principal }> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    if (url.pathname === '/api/openapi.json' && method === 'GET') {
      send(res, 200, openapi);
      return { status: 200 };
    }
    if (!url.pathname.startsWith('/api/') && (method === 'GET' || method === 'HEAD')) {
      const a = asset(url.pathname);
      if (!a) throw new HttpError(404, 'not_found', `no such page: ${url.pathname}`);
      res.writeHead(200, {
        'content-type': a.type,
        'cache-control': a.immutable ? 'public, max-age=86400' : 'no-cache',
        'content-security-policy': csp,
        'x-content-type-options': 'nosniff',
      });
      res.end(method === 'HEAD' ? undefined : a.body);
      return { status: 200 };
    }
    const m = matchRoute(method, url.pathname);
    if (!m.route) {
      if (m.allowed.length > 0)
        throw new HttpError(405, 'method_not_allowed', `${method} is not allowed here`, { allow: m.allowed.join(', ') });
      throw new HttpError(404, 'not_found', `no such endpoint: ${url.pathname}`);
    }
    const { route } = m;
    const principal = authenticate(req.headers.authorization, o.tokens);
    authorize(principal, route.role);
    const params = (route.params ? check(route.params, m.params, 'path') : {}) as Record<string, unknown>;
    const query = (route.query ? check(route.query, queryObject(url), 'query') : queryObject(url)) as Record<string, unknown>;
    if (!route.query && Object.keys(query).length > 0) throw new ParameterError(Object.keys(query)[0]!, 'not a parameter of this request');
    let body: unknown;
    if (route.body) body = check(route.body, parseJson(await readBody(req, maxBody)), 'body');
    if (route.stream) {
      streamEvents(req, res);
      return { status: 200, who: principal };
    }
    const answer = await route.handle({ ops: o.ops, principal, params, query, body });
    send(res, 200, JSON.stringify(answer));
    return { status: 200, who: principal };
  };

  const server = http.createServer((req, res) => {
    const started = performance.now();
    handle(req, res)
      .catch((err: unknown) => {
        const e = errorResponse(err);
        if (e.unexpected) o.log.error({ err, method: req.method, url: req.url }, 'API request failed');
        send(res, e.status, JSON.stringify(e.body), e.headers);
        // a refused body is not read: let the client see the answer, then drop what it still sends
        if (e.status === 413) res.once('finish', () => req.destroy());
        return { status: e.status, who: undefined };
      })
      .then(({ status, who }) =>
        o.log.info(
          { method: req.method, path: req.url, status, who: who?.name, ms: Math.round(performance.now() - started) },
          `${req.method} ${req.url} ${status}`,
        ),
      );
  });
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const r of streams) r.end();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
