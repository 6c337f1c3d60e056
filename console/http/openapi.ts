/** The OpenAPI 3.1 document of the API, made from the routes' zod schemas (JSON Schema 2020-12). */
import { z } from 'zod';
import { ROUTES, type Route } from './routes.js';
import { ErrorBody } from './schemas.js';

type Json = Record<string, unknown>;

const schema = (t: z.ZodType, io: 'input' | 'output'): Json => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(t, { io, unrepresentable: 'any' }) as Json;
  return rest;
};

function parameters(route: Route): Json[] {
  const out: Json[] = [];
  for (const [where, t] of [
    ['path', route.params],
    ['query', route.query],
  ] as const) {
    if (!t) continue;
    const s = schema(t, 'input') as { properties?: Record<string, Json>; required?: string[] };
    for (const [name, p] of Object.entries(s.properties ?? {})) {
      const { description, ...rest } = p;
      out.push({ name, in: where, required: where === 'path' || (s.required ?? []).includes(name), description, schema: rest });
    }
  }
  return out;
}

const error = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

export function openApiDocument(version: string): Json {
  const paths: Record<string, Json> = {};
  for (const r of ROUTES) {
    const path = r.path.replace(/:([A-Za-z]+)/g, '{$1}');
    paths[path] ??= {};
    paths[path]![r.method.toLowerCase()] = {
      summary: r.summary,
      description: `Needs the ${r.role} role or above.`,
      security: [{ bearer: [] }],
      parameters: parameters(r),
      ...(r.body ? { requestBody: { required: false, content: { 'application/json': { schema: schema(r.body, 'input') } } } } : {}),
      responses: {
        200: {
          description: 'OK',
          content: { [r.stream ? 'text/event-stream' : 'application/json']: { schema: schema(r.response, 'output') } },
        },
        400: error('a bad parameter (named in `parameter`), malformed JSON or a body that does not fit'),
        401: error('no token, or a token that is not valid'),
        403: error(`the token's role is below ${r.role}`),
        ...(r.params ? { 404: error('no such id') } : {}),
        ...(r.method === 'POST'
          ? {
              409: error('the request does not fit the current state (a command not waiting, not in flight)'),
              413: error('the body is too large'),
            }
          : {}),
        503: error('a server behind the API (PostgreSQL, ClickHouse, Neo4j, Kafka) does not answer'),
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'shardcast operations API', version },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a token from SHARDCAST_API_TOKENS' } },
      schemas: { Error: schema(ErrorBody, 'output') },
    },
    paths,
  };
}
