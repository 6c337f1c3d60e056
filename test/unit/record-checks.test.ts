/**
 * The checks a decoded record passes before a stage sees it (schemas/recordChecks.ts), and the
 * ingest validation's limits on identifiers and SQL: each bad value is named by its field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadSchema } from '../../schemas/load.js';
import { queryEvent } from '../fixtures/records.js';
import { identifierProblem, recordProblem } from '../../schemas/recordChecks.js';
import { MAX_SQL_CHARS, MAX_SQL_NESTING, sqlNesting, validateQueryEvent } from '../../processors/ingest/validate.js';

const metric = (over: Record<string, unknown> = {}) => ({
  ts: 1_700_000_000_000,
  source: 'shop',
  node: 'node0',
  metric: 'cpu',
  value: 0.5,
  labels: {},
  ...over,
});
const { type: metricType } = loadSchema('MetricSample');
const { type: forecastType } = loadSchema('Forecast');

test('numbers: finite, counts and times not negative, times before year 3000, doubles within ±1e15', () => {
  assert.equal(recordProblem(metricType, metric()), null);
  assert.equal(recordProblem(metricType, metric({ value: -3 })), null, 'a negative double can be a value');
  assert.equal(recordProblem(metricType, metric({ value: Number.NaN })), 'value: must be finite');
  assert.equal(recordProblem(metricType, metric({ value: 1e300 })), 'value: is beyond ±1000000000000000');
  assert.equal(recordProblem(metricType, metric({ ts: -1 })), 'ts: must be >= 0');
  assert.equal(recordProblem(metricType, metric({ ts: 9e15 })), 'ts: is after year 3000');
  const forecast = {
    seriesId: 's',
    issuedAt: 1,
    originTs: 1,
    stepMs: 10,
    metric: 'queries',
    model: 'ensemble',
    backend: null,
    points: [{ horizon: 1, ts: 2, predicted: 1, lower: 0, upper: Number.POSITIVE_INFINITY }],
    recentError: Number.NaN,
    intervalLevel: 0.9,
  };
  assert.equal(recordProblem(forecastType, forecast), 'points[0].upper: must be finite');
  forecast.points[0]!.upper = 2;
  assert.equal(recordProblem(forecastType, forecast), 'recentError: must be finite', 'a union branch is checked too');
});

test('text: no control characters or leftovers of invalid UTF-8; identifiers: no quotes, separators, spaces or invisible characters', () => {
  assert.equal(recordProblem(metricType, metric({ metric: 'cpu\u0000' })), 'metric: has control characters or invalid UTF-8');
  assert.equal(recordProblem(metricType, metric({ metric: 'cpu \ufffd' })), 'metric: has control characters or invalid UTF-8');
  assert.equal(recordProblem(metricType, metric({ labels: { 'a\u0007': 'x' } })), 'labels: key has control characters or invalid UTF-8');
  assert.equal(
    recordProblem(metricType, metric({ node: 'node"; DROP TABLE x; --' })),
    'node: has quotes, separators, spaces or invisible characters',
  );
  assert.equal(identifierProblem('заказы_2024'), null, 'unicode letters name tables');
  assert.equal(identifierProblem('public.orders'), null);
  for (const bad of ['ord\u202eers', 'a\u200bb', "o'rders", 'a b', 'x'.repeat(256), '']) assert.notEqual(identifierProblem(bad), null, bad);
});

test('ingest refuses SQL over its length or nesting limit, and identifiers that could not name a table', () => {
  const event = (over: Record<string, unknown>) => queryEvent('e1', 'shop', { tables: ['orders'], ...over });

  assert.equal(validateQueryEvent(event({})).ok, true);
  assert.equal(sqlNesting('SELECT ((1) + (2))'), 2);
  const nested = `SELECT ${'('.repeat(MAX_SQL_NESTING + 1)}1${')'.repeat(MAX_SQL_NESTING + 1)}`;
  assert.deepEqual(validateQueryEvent(event({ sql: nested })), {
    ok: false,
    reason: `sql: is nested deeper than ${MAX_SQL_NESTING} parentheses`,
  });
  const long = validateQueryEvent(event({ sql: `SELECT '${'x'.repeat(MAX_SQL_CHARS)}'` }));
  assert.deepEqual(long, { ok: false, reason: `sql: is longer than ${MAX_SQL_CHARS} characters` });
  assert.deepEqual(validateQueryEvent(event({ tables: ['orders;--'] })), {
    ok: false,
    reason: 'tables.0: has quotes, separators, spaces or invisible characters',
  });
  assert.deepEqual(validateQueryEvent(event({ sql: 'SELECT \ufffd' })), {
    ok: false,
    reason: 'sql: has control characters or invalid UTF-8',
  });
});
