/**
 * The integration tests never skip: the test command starts the stack first, so a missing
 * server is a failure with its reason, not a green run that tested less. This reads every file
 * of test/integration with the TypeScript parser (comments and strings do not count) and fails
 * on a `skip` option given to a test or suite and on any `.skip(...)` call.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const INTEGRATION = path.join(root, 'test', 'integration');
const TEST_FUNCTIONS = new Set(['test', 'it', 'describe', 'suite']);

/** `file:line: what` for every skip in one source file. */
function skipsIn(source: string, file: string): string[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: string[] = [];
  const at = (node: ts.Node, what: string) =>
    found.push(`${file}:${sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1}: ${what}`);
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node)) {
      const callee = node.expression;
      // test.skip(...), describe.skip(...), t.skip(...), it.skip(...)
      if (ts.isPropertyAccessExpression(callee) && callee.name.text === 'skip') at(node, `${callee.getText(sf)}(...)`);
      // test('name', { skip: ... }, fn), t.test('name', { skip }, fn)
      const name = ts.isIdentifier(callee) ? callee.text : ts.isPropertyAccessExpression(callee) ? callee.name.text : '';
      if (TEST_FUNCTIONS.has(name))
        for (const arg of node.arguments)
          if (ts.isObjectLiteralExpression(arg))
            for (const p of arg.properties)
              if (p.name && ts.isIdentifier(p.name) && p.name.text === 'skip') at(p, `${name}(..., { skip }) option`);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

test('no integration test or suite skips', () => {
  const files = readdirSync(INTEGRATION).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length > 5, 'the integration tests are where they are expected');
  const skips = files.flatMap((f) => skipsIn(readFileSync(path.join(INTEGRATION, f), 'utf8'), `test/integration/${f}`));
  assert.deepEqual(skips, [], 'integration tests fail with the reason instead of skipping');
});

test('the guard finds each kind of skip, and not the word in comments or strings', () => {
  const fixture = [
    "import { describe, test } from 'node:test';",
    "test('a', { skip: 'no server' }, () => {});",
    "describe('b', { timeout: 5, skip }, () => {});",
    "test.skip('c', () => {});",
    "test('d', (t) => { t.skip('later'); });",
    "describe('e', () => { it('f', { skip: true }, () => {}); });",
    '// a comment that says skip: true and t.skip(',
    "test('g', () => { const s = 'skip: yes'; void s; });",
  ].join('\n');
  assert.deepEqual(skipsIn(fixture, 'x.ts'), [
    'x.ts:2: test(..., { skip }) option',
    'x.ts:3: describe(..., { skip }) option',
    'x.ts:4: test.skip(...)',
    'x.ts:5: t.skip(...)',
    'x.ts:6: it(..., { skip }) option',
  ]);
});
