/**
 * The API's routes: method, path, the least role, the schemas of path parameters, query and body,
 * the answer's schema, and the handler (a call into the operations layer). The server validates
 * with these schemas and the OpenAPI document is made from them.
 */
import type { z } from 'zod';
import type { Operations } from '../ops/operations.js';
import type { Principal, Role } from './auth.js';
import * as S from './schemas.js';

export interface RouteContext {
  ops: Operations;
  principal: Principal;
  params: Record<string, unknown>;
  query: Record<string, unknown>;
  body: unknown;
}

export interface Route {
  method: 'GET' | 'POST';
  /** `/api/commands/:id`: segments starting with `:` are parameters. */
  path: string;
  summary: string;
  role: Role;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  response: z.ZodType;
  /** 2xx statuses other than 200 are not used. */
  handle(ctx: RouteContext): Promise<unknown>;
}

const verdict = (v: 'approved' | 'denied'): Route['handle'] => {
  return async ({ ops, principal, params }) =>
    (await ops.commands()).decide(String(params.id), v, { name: principal.name, role: principal.role, via: 'api' });
};

export const ROUTES: Route[] = [
  {
    method: 'GET',
    path: '/api/commands',
    summary: 'commands in the executor ledger with status, progress and outcome, newest first',
    role: 'viewer',
    query: S.CommandListQuery,
    response: S.CommandList,
    handle: async ({ ops, query }) => {
      const q = query as z.output<typeof S.CommandListQuery>;
      return { commands: await (await ops.commands()).list({ status: q.status, waiting: q.waiting === 'true', limit: q.limit }) };
    },
  },
  {
    method: 'GET',
    path: '/api/commands/:id',
    summary: 'one command',
    role: 'viewer',
    params: S.CommandIdParams,
    response: S.CommandView,
    handle: async ({ ops, params }) => (await ops.commands()).get(String(params.id)),
  },
  {
    method: 'POST',
    path: '/api/commands/:id/approve',
    summary: 'approve a command waiting for approval; the executor runs it within a few seconds (audited)',
    role: 'operator',
    params: S.CommandIdParams,
    body: S.VerdictBody,
    response: S.CommandView,
    handle: verdict('approved'),
  },
  {
    method: 'POST',
    path: '/api/commands/:id/deny',
    summary: 'deny a command waiting for approval; the executor reports it REJECTED (audited)',
    role: 'operator',
    params: S.CommandIdParams,
    body: S.VerdictBody,
    response: S.CommandView,
    handle: verdict('denied'),
  },
  {
    method: 'GET',
    path: '/api/catalog/placement',
    summary: 'partitions of sharded tables and their placement on nodes, from the catalog',
    role: 'viewer',
    query: S.PlacementQuery,
    response: S.Placement,
    handle: async ({ ops, query }) => {
      const q = query as z.output<typeof S.PlacementQuery>;
      return ops.catalog().placement({ source: q.source, tables: q.table });
    },
  },
  {
    method: 'GET',
    path: '/api/analytics',
    summary: 'the canned analytics queries',
    role: 'viewer',
    response: S.AnalyticsList,
    handle: async ({ ops }) => ({ queries: ops.analytics().queries() }),
  },
  {
    method: 'GET',
    path: '/api/analytics/:query',
    summary: 'run a canned analytics query on ClickHouse',
    role: 'viewer',
    params: S.AnalyticsParams,
    query: S.AnalyticsQuery,
    response: S.AnalyticsAnswer,
    handle: async ({ ops, params, query }) => ops.analytics().run(String(params.query), query as z.output<typeof S.AnalyticsQuery>),
  },
];

/** The route for a method and path, with its path parameters; `allowed` lists the methods of a known path. */
export function matchRoute(
  method: string,
  pathname: string,
): { route: Route; params: Record<string, string> } | { route: null; allowed: string[] } {
  const segs = pathname.split('/');
  const allowed: string[] = [];
  for (const route of ROUTES) {
    const rsegs = route.path.split('/');
    if (rsegs.length !== segs.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < rsegs.length && ok; i++) {
      const r = rsegs[i]!;
      if (r.startsWith(':')) {
        try {
          params[r.slice(1)] = decodeURIComponent(segs[i]!);
        } catch {
          params[r.slice(1)] = segs[i]!; // not valid percent-encoding: the parameter's schema refuses it
        }
      } else ok = r === segs[i];
    }
    if (!ok) continue;
    if (route.method === method) return { route, params };
    allowed.push(route.method);
  }
  return { route: null, allowed };
}
