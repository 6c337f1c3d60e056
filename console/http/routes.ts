/**
 * The API's routes: method, path, the least role, the schemas of path parameters, query and body,
 * the answer's schema, and the handler (a call into the operations layer). The server validates
 * with these schemas and the OpenAPI document is made from them.
 */
import { StateError } from '../../lib/errors.js';
import type { z } from 'zod';
import type { Operations } from '../ops/operations.js';
import type { Principal, Role } from './auth.js';
import * as C from './catalogSchemas.js';
import * as S from './schemas.js';
import * as V from './stateSchemas.js';

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
  /** A Server-Sent Events stream instead of one JSON answer (the server runs it; `handle` is not called). */
  stream?: boolean;
  /** 2xx statuses other than 200 are not used. */
  handle(ctx: RouteContext): Promise<unknown>;
}

const actorOf = (p: Principal) => ({ name: p.name, role: p.role, via: 'api' as const });

const verdict = (v: 'approved' | 'denied'): Route['handle'] => {
  return async ({ ops, principal, params }) => (await ops.commands()).decide(String(params.id), v, actorOf(principal));
};

const pauseRoute = (paused: boolean): Route => ({
  method: 'POST',
  path: `/api/controls/decide/${paused ? 'pause' : 'resume'}`,
  summary: paused ? 'pause deciding: the decide stage plans nothing from its next round on (audited)' : 'resume deciding (audited)',
  role: 'operator',
  body: V.PauseBody,
  response: V.Controls,
  handle: async ({ ops, principal, body }) =>
    (await ops.controls()).setPaused(paused, actorOf(principal), (body as z.output<typeof V.PauseBody>).scope),
});

export const ROUTES: Route[] = [
  {
    method: 'GET',
    path: '/api/whoami',
    summary: "the token's name and role (what the UI may offer)",
    role: 'viewer',
    response: V.WhoAmI,
    handle: async ({ principal }) => ({ name: principal.name, role: principal.role }),
  },
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
  {
    method: 'POST',
    path: '/api/commands/:id/stop',
    summary: 'stop a running command safely: the executor rolls it back at its next safe point (audited)',
    role: 'operator',
    params: S.CommandIdParams,
    body: S.VerdictBody,
    response: S.CommandView,
    handle: async ({ ops, principal, params }) => (await ops.commands()).stop(String(params.id), actorOf(principal)),
  },
  {
    method: 'GET',
    path: '/api/stages',
    summary: "each stage's state: running (consumer group members), consumer lag, rates and health, last dead letter",
    role: 'viewer',
    query: V.StagesQuery,
    response: V.Stages,
    handle: async ({ ops, query }) => ops.stages().list((query as z.output<typeof V.StagesQuery>).group),
  },
  {
    method: 'GET',
    path: '/api/load/keyspace',
    summary: "a table's key space over time: reads and writes per key range and window, the forecast after, the decisions on it",
    role: 'viewer',
    query: V.KeyspaceQuery,
    response: V.Keyspace,
    handle: async ({ ops, query }) => {
      const q = query as z.output<typeof V.KeyspaceQuery>;
      return ops.load().keyspace(q.table, q);
    },
  },
  {
    method: 'GET',
    path: '/api/load/nodes',
    summary: 'queries per window of each node over time, with the latest forecast and its interval',
    role: 'viewer',
    query: V.NodeLoadQuery,
    response: V.NodeLoad,
    handle: async ({ ops, query }) => ops.load().nodes(query as z.output<typeof V.NodeLoadQuery>),
  },
  {
    method: 'GET',
    path: '/api/forecasts',
    summary: 'the latest forecast of each series, with its prediction intervals',
    role: 'viewer',
    query: V.ForecastsQuery,
    response: V.Forecasts,
    handle: async ({ ops, query }) => ops.load().forecasts(query as z.output<typeof V.ForecastsQuery>),
  },
  {
    method: 'GET',
    path: '/api/proposals',
    summary: 'what the decide stage would do now: a dry run of the decision engine, with evidence and cost-model scores',
    role: 'viewer',
    response: V.Proposals,
    handle: async ({ ops }) => ops.proposals().compute(),
  },
  {
    method: 'POST',
    path: '/api/proposals/:id/execute',
    summary: 'publish a proposal computed in the last ten minutes, signed, to its command topic (audited)',
    role: 'operator',
    params: V.ProposalIdParams,
    body: S.VerdictBody,
    response: V.Proposal,
    handle: async ({ ops, principal, params }) => ops.proposals().execute(String(params.id), actorOf(principal)),
  },
  {
    method: 'GET',
    path: '/api/controls',
    summary: "the operators' controls: whether deciding is paused, approval mode per store",
    role: 'viewer',
    query: V.ControlsQuery,
    response: V.Controls,
    handle: async ({ ops, query }) => (await ops.controls()).get((query as z.output<typeof V.ControlsQuery>).scope),
  },
  pauseRoute(true),
  pauseRoute(false),
  {
    method: 'POST',
    path: '/api/controls/approval/:store',
    summary: "set a store's approval mode: manual holds every command on it for approval (audited)",
    role: 'admin',
    params: V.ApprovalModeParams,
    body: V.ApprovalModeBody,
    response: V.Controls,
    handle: async ({ ops, principal, params, body }) =>
      (await ops.controls()).setApproval(String(params.store), (body as z.output<typeof V.ApprovalModeBody>).mode, actorOf(principal)),
  },
  {
    method: 'GET',
    path: '/api/catalog/lineage',
    summary: "a table's lineage graph from the catalog: derived tables, partitions on nodes, commands on them",
    role: 'viewer',
    query: V.LineageQuery,
    response: V.LineageGraph,
    handle: async ({ ops, query }) => ops.catalog().lineage(query as z.output<typeof V.LineageQuery>),
  },
  {
    method: 'GET',
    path: '/api/catalog/where',
    summary: 'the partition and nodes that hold a key of a table or topic',
    role: 'viewer',
    query: C.WhereQuery,
    response: C.WhereAnswer,
    handle: async ({ ops, query }) => ops.catalog().where(query as z.output<typeof C.WhereQuery>),
  },
  {
    method: 'GET',
    path: '/api/catalog/hot',
    summary: "series and partitions by their latest window's load (recorded by `run catalog`)",
    role: 'viewer',
    query: C.HotQuery,
    response: C.HotAnswer,
    handle: async ({ ops, query }) => {
      const q = query as z.output<typeof C.HotQuery>;
      return ops.catalog().hot({ limit: q.limit, sinceMs: q.since });
    },
  },
  {
    method: 'GET',
    path: '/api/catalog/deps',
    summary: 'what is derived from a table (views, materialized views, their targets), transitively',
    role: 'viewer',
    query: C.DepsQuery,
    response: C.DepsAnswer,
    handle: async ({ ops, query }) => ops.catalog().deps(query as z.output<typeof C.DepsQuery>),
  },
  {
    method: 'POST',
    path: '/api/catalog/discover',
    summary: 'introspect every source now and write what changed to the catalog (audited)',
    role: 'operator',
    body: C.DiscoverBody,
    response: C.DiscoveryReport,
    handle: async ({ ops, principal }) => ops.catalog().discover(actorOf(principal)),
  },
  {
    method: 'GET',
    path: '/api/events',
    summary: 'live updates as Server-Sent Events: command changes, controls, audited writes',
    role: 'viewer',
    response: V.EventStream,
    stream: true,
    handle: async () => {
      throw new StateError('a stream route is run by the server');
    },
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
