/** The ingest hot path's QueryEvent check must agree with the zod schema that names problems. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isValidQueryEvent, QueryEventSchema, validateQueryEvent } from '../../processors/ingest/validate.js';

const valid = {
  eventId: 'e1',
  ts: 1_700_000_000_000,
  source: 'app',
  dialect: 'postgres',
  database: null,
  sql: 'SELECT 1',
  fingerprint: null,
  tables: ['t'],
  operation: null,
  durationMs: 1.5,
  rowsRead: 1,
  rowsWritten: 0,
  node: 'node0',
  partition: null,
  keyValues: { id: '5' },
  client: null,
  status: 'ok',
  txId: null,
};

/** Values of every kind, including the edge cases each rule is about. */
const anyValue = fc.oneof(
  fc.constantFrom(
    '',
    'x',
    'postgres',
    'select',
    'ok',
    'error',
    'mysql',
    'ddl',
    null,
    undefined,
    0,
    -1,
    1.5,
    2 ** 53,
    NaN,
    Infinity,
    -Infinity,
    32_503_680_000_000,
    32_503_680_000_001,
    true,
    [],
    ['a'],
    [1],
    {},
    { k: 'v' },
    { k: 1 },
  ),
  fc.string(),
  fc.double(),
  fc.integer(),
  fc.array(fc.oneof(fc.string(), fc.integer())),
  fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer())),
);

test('isValidQueryEvent accepts exactly what QueryEventSchema accepts (random field mutations)', () => {
  const fields = Object.keys(valid);
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.constantFrom(...fields), anyValue), { maxLength: 4 }), fc.boolean(), (edits, dropOne) => {
      const e: Record<string, unknown> = { ...valid };
      for (const [k, v] of edits) e[k] = v;
      if (dropOne && edits[0]) delete e[edits[0][0]];
      const fast = isValidQueryEvent(e);
      const schema = QueryEventSchema.safeParse(e).success;
      assert.equal(fast, schema, `disagree on ${JSON.stringify(e)}`);
    }),
    { numRuns: 3000 },
  );
});

test('validateQueryEvent: a valid event comes back as itself; an invalid one with the field named', () => {
  const ok = validateQueryEvent(valid);
  assert.ok(ok.ok && ok.value === (valid as unknown));
  const bad = validateQueryEvent({ ...valid, durationMs: -1 });
  assert.deepEqual(bad, { ok: false, reason: 'durationMs: must be >= 0' });
  const badTs = validateQueryEvent({ ...valid, ts: 1.5 });
  assert.ok(!badTs.ok && badTs.reason.startsWith('ts:'));
  assert.equal(validateQueryEvent([valid]).ok, false);
});
