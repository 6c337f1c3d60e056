import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const cli = (...args: string[]) =>
  spawnSync('node', ['bin/shardcast.js', ...args], { encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'silent' } });

test('every command has --help and exits 0 with it', () => {
  for (const c of [
    [],
    ['stack'],
    ['stack', 'up'],
    ['demo'],
    ['publish'],
    ['run'],
    ['forecast-eval'],
    ['policy-eval'],
    ['bench'],
    ['analytics'],
  ]) {
    const r = cli(...c, '--help');
    assert.equal(r.status, 0, `${c.join(' ')} --help`);
    assert.match(r.stdout, /Usage: shardcast/);
  }
  assert.match(cli('analytics', '--help').stdout, /hot-ranges/);
});

test('bad usage and bad input exit 2 with a one-line reason', () => {
  for (const args of [
    ['run', 'nope'],
    ['bench', 'nope'],
    ['publish', 'nope'],
    ['no-such-command'],
    ['forecast-eval', '--input', '/nonexistent.csv', '--horizon', '3', '--out', '/tmp/x.csv'],
    ['forecast-eval', '--input', 'x', '--horizon', 'zero', '--out', 'y'],
    ['policy-eval', '--trace', '/nonexistent.csv'],
    ['bench', 'policy', '--outage', '30'],
    ['bench', 'faults', '--outage', '0'],
  ]) {
    const r = cli(...args);
    assert.equal(r.status, 2, args.join(' '));
    assert.ok(r.stderr.trim().length > 0);
  }
  const bad = spawnSync('node', ['bin/shardcast.js', 'analytics', 'hot-ranges'], {
    encoding: 'utf8',
    env: { ...process.env, CLICKHOUSE_URL: 'nope' },
  });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /config: CLICKHOUSE_URL/);
});
