/** The layer check of `.dependency-cruiser.cjs`: clean on the project, and able to fail. */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseResult, type IConfiguration } from 'dependency-cruiser';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const config = createRequire(import.meta.url)(path.join(root, '.dependency-cruiser.cjs')) as IConfiguration;

/** Every folder of the project's code, tests included (tests may import anything, the product never imports tests). */
const PROJECT_DIRS = [
  'analytics',
  'bench',
  'bin',
  'catalog',
  'collectors',
  'console',
  'demo',
  'executors',
  'infra',
  'lib',
  'models',
  'pipelines',
  'processors',
  'schemas',
  'stores',
  'test',
  'topics',
];

async function violations(baseDir: string, dirs: string[]): Promise<string[]> {
  const out = await cruise(dirs, { ...config.options, validate: true, ruleSet: { forbidden: config.forbidden }, baseDir });
  const result = out.output as ICruiseResult;
  return result.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort();
}

test('the project has no import circle and no import against the layers', async () => {
  assert.deepEqual(await violations(root, PROJECT_DIRS), []);
});

test('an upward import, a later stage imported by an earlier one and a circle are each reported', async () => {
  const fixture = path.join(root, 'test', 'fixtures', 'layers');
  const found = await violations(fixture, ['lib', 'pipelines', 'processors']);
  assert.ok(found.includes('layer-lib: lib/config.ts → pipelines/run.ts'), found.join('\n'));
  assert.ok(found.includes('stage-ingest: processors/ingest/window.ts → processors/decide/plan.ts'), found.join('\n'));
  assert.ok(
    found.some((v) => v.startsWith('no-circular:')),
    found.join('\n'),
  );
  assert.ok(!found.some((v) => v.startsWith('layer-pipelines')), 'a pipeline may import lib');
});
