import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { OnlineForecaster } from '../../models/online.js';
import { ForecastRounds } from '../../processors/forecast/rounds.js';
import { ForecastStateFile } from '../../pipelines/forecastState.js';
import { logger } from '../../lib/log.js';

const log = logger('test');
const T = 'shardcast.workload.aggregates';

const windows = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => ({ seriesId: 's', windowStart: from + i, queries: 10 + (i % 3), source: 'x' }) as never);

/** A forecaster and its rounds that observed windows 0..n-1 of one series. */
async function fed(n: number) {
  const f = new OnlineForecaster({ stepMs: 1, horizon: 2, global: false });
  const rounds = new ForecastRounds(f, { stepMs: 1 });
  await rounds.next(windows(0, n), 0);
  return { f, rounds };
}

async function saved(dir: string) {
  const file = path.join(dir, 'f.ckpt.json');
  // state after offsets 0..9 committed, then a pending save for offset 19 (windows 0..19)
  const a = await fed(10);
  const sa = new ForecastStateFile(file, a.f, a.rounds, log);
  await sa.writePending([{ topic: T, partition: 0, offset: '9' }]);
  await sa.promote();
  const b = await fed(0);
  const sb = new ForecastStateFile(file, b.f, b.rounds, log);
  await sb.restore([{ topic: T, partition: 0, offset: '10' }]);
  await b.rounds.next(windows(10, 20), 0);
  await sb.writePending([{ topic: T, partition: 0, offset: '19' }]);
  return file;
}

test('a pending save whose offsets the group committed is taken (crash after the commit)', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fsf-'));
  const file = await saved(dir);
  const c = await fed(0);
  await new ForecastStateFile(file, c.f, c.rounds, log).restore([{ topic: T, partition: 0, offset: '20' }]);
  assert.equal(c.f.history.get('s')?.observed, 20);
  assert.equal(c.rounds.snapshot().latestWindow, 19);
  await assert.rejects(fs.access(`${file}.pending`), 'the pending file became the state');
  await fs.rm(dir, { recursive: true });
});

test('a pending save whose transaction did not commit is dropped: the state before it is loaded', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fsf-'));
  const file = await saved(dir);
  const c = await fed(0);
  await new ForecastStateFile(file, c.f, c.rounds, log).restore([{ topic: T, partition: 0, offset: '10' }]);
  assert.equal(c.f.history.get('s')?.observed, 10);
  assert.equal(c.rounds.snapshot().latestWindow, 9);
  await assert.rejects(fs.access(`${file}.pending`), 'the pending file was removed');
  await fs.rm(dir, { recursive: true });
});
