import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OnlineForecaster } from '../../models/online.js';
import { MODEL_NAMES, MODELS } from '../../models/registry.js';

test('the model list: names in order, the ensemble last', () => {
  assert.deepEqual(MODEL_NAMES, ['seasonal_naive', 'holt_winters', 'global', 'key_drift', 'daily_profile', 'ensemble']);
  const f = new OnlineForecaster({ stepMs: 1, horizon: 3, global: false });
  assert.deepEqual(
    f.models.map((m) => m.name),
    MODELS.map((m) => m.name),
  );
  assert.equal(f.global, null);
});

test('Holt-Winters refits within a budget of work: the same fits on every run, whatever the load', async () => {
  const run = async (): Promise<number[]> => {
    const f = new OnlineForecaster({ stepMs: 1, horizon: 4, season: 12, global: false, hwFitBudget: 20_000 });
    const fitted: number[] = [];
    for (let t = 0; t < 60; t++) {
      for (let i = 0; i < 40; i++) f.observe(`s${i}`, t, 50 + i + 10 * Math.sin((2 * Math.PI * (t + i)) / 12) + ((t * (i + 3)) % 7));
      await f.step(t);
      fitted.push(f.lastTimings.hwFitted!);
      assert.ok(f.lastTimings.hwFitWork! <= 4 * 20_000 + 20_000, `work ${f.lastTimings.hwFitWork}`);
    }
    return fitted;
  };
  const a = await run();
  assert.deepEqual(await run(), a);
  // The budget holds refits back: fewer than the 40 new series at the first fitting step.
  assert.ok(
    a.some((n) => n > 0 && n < 40),
    `fits per step ${a.join(',')}`,
  );
});
