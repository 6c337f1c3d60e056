import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

/**
 * Chooses the tfjs backend in a child process whose stderr is a pipe (not a terminal), as the
 * demo and `run forecast` do at start; returns what the child wrote. On a machine without a GPU
 * Dawn prints "Couldn't load Vulkan" from native code straight to fd 2, which only the probe in
 * its own process keeps away from ours.
 */
function initInChild(format: string): { stdout: string; stderr: string } {
  const script = "import { initBackend } from './models/backend.ts'; process.stdout.write(await initBackend('auto'));";
  const r = spawnSync('node', ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, SHARDCAST_LOG_FORMAT: format, LOG_LEVEL: 'debug' },
    timeout: 120_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return { stdout: r.stdout, stderr: r.stderr };
}

test('backend setup writes only JSON log lines to a non-terminal stderr, no raw native or tfjs line', () => {
  const { stdout, stderr } = initInChild('json');
  assert.match(stdout, /^(webgpu|tensorflow|wasm|cpu)$/);
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  assert.ok(lines.length > 0, 'the chosen backend is logged');
  for (const l of lines) assert.doesNotThrow(() => JSON.parse(l), `raw line on stderr: ${l}`);
  const chosen = lines.map((l) => JSON.parse(l)).find((o) => /^tfjs backend: /.test(o.msg));
  assert.equal(chosen?.backend, stdout);
});

test('backend setup writes only pretty log lines when logs are for a person', () => {
  const { stderr } = initInChild('pretty');
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  assert.ok(lines.length > 0);
  for (const l of lines) assert.match(l, /^\[\d\d:\d\d:\d\d\.\d{3}\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL)/, `not a log line: ${l}`);
});
