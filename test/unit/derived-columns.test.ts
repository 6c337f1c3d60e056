import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type DerivedColumn, useDerivedColumns } from '../../stores/postgres/derivedColumns.js';

const lc: DerivedColumn = { name: 'payload_lc', sql: 'lower("payload")' };
const day: DerivedColumn = { name: 'day', sql: `date_trunc('day', ("updated_at" AT TIME ZONE 'UTC'))` };

describe('useDerivedColumns: a read spelling out a derived expression reads the column', () => {
  test('every occurrence in code is replaced by the quoted column', () => {
    assert.equal(
      useDerivedColumns('SELECT lower("payload") AS p FROM {t} WHERE lower("payload") = $1', [lc]),
      'SELECT "payload_lc" AS p FROM {t} WHERE "payload_lc" = $1',
    );
    assert.equal(
      useDerivedColumns(`SELECT count(*) FROM {t} WHERE date_trunc('day', ("updated_at" AT TIME ZONE 'UTC')) = $1 AND payload <> 'x'`, [
        lc,
        day,
      ]),
      `SELECT count(*) FROM {t} WHERE "day" = $1 AND payload <> 'x'`,
    );
  });

  test('inside a string literal or a quoted name it stays, and so does another spelling', () => {
    const inLiteral = `SELECT id FROM {t} WHERE payload = 'lower("payload")' AND lower("payload") = $1`;
    assert.equal(useDerivedColumns(inLiteral, [lc]), `SELECT id FROM {t} WHERE payload = 'lower("payload")' AND "payload_lc" = $1`);
    assert.equal(useDerivedColumns(`SELECT 1 AS "x lower(""payload"")" FROM {t}`, [lc]), `SELECT 1 AS "x lower(""payload"")" FROM {t}`);
    assert.equal(useDerivedColumns(`SELECT 'it''s' AS a, lower("payload") FROM {t}`, [lc]), `SELECT 'it''s' AS a, "payload_lc" FROM {t}`);
    for (const other of ['SELECT lower(payload) FROM {t}', 'SELECT LOWER("payload") FROM {t}', 'SELECT lower( "payload" ) FROM {t}']) {
      assert.equal(useDerivedColumns(other, [lc]), other);
    }
  });

  test('statements whose quoting is not followed run as written', () => {
    for (const sql of [
      'SELECT lower("payload") FROM {t} -- note',
      'SELECT lower("payload") FROM {t} /* c */',
      'SELECT $$x$$, lower("payload") FROM {t}',
      `SELECT E'\\'', lower("payload") FROM {t}`,
    ]) {
      assert.equal(useDerivedColumns(sql, [lc]), sql);
    }
    assert.equal(useDerivedColumns('SELECT lower("payload") FROM {t}', []), 'SELECT lower("payload") FROM {t}');
  });
});
