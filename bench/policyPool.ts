/**
 * Runs (family, seed) simulations of `bench policy` on worker threads, one per core by default:
 * each run is independent and CPU-bound. Workers load the TypeScript sources through tsx's
 * loader, as the command does.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { PolicyEvalResult } from './policyEval.js';
import type { Workload } from './sim/workload.js';
import { StateError } from '../lib/errors.js';

export interface PoolJob {
  family: string;
  seed: number;
}

export interface PoolResult extends PoolJob {
  kind: Workload['kind'];
  result: PolicyEvalResult;
}

type Reply = { id: number; result: PolicyEvalResult; kind: Workload['kind'] } | { id: number; error: string };

/** Results in the order of `jobs`; with no jobs no worker starts. */
export async function runPool(
  jobs: readonly PoolJob[],
  workers = availableParallelism(),
  onDone?: (r: PoolResult) => void,
): Promise<PoolResult[]> {
  if (!jobs.length) return [];
  const n = Math.max(1, Math.min(workers, jobs.length));
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./policyWorker.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  const out: PoolResult[] = new Array(jobs.length);
  let next = 0;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const w = new Worker(boot, { eval: true });
      const feed = () => {
        if (next >= jobs.length) {
          void w.terminate().then(() => resolve());
          return;
        }
        const id = next++;
        w.postMessage({ id, ...jobs[id]! });
      };
      w.on('message', (m: Reply) => {
        if ('error' in m) {
          void w.terminate();
          reject(new StateError(`bench policy worker, ${jobs[m.id]!.family} seed ${jobs[m.id]!.seed}: ${m.error}`));
          return;
        }
        out[m.id] = { ...jobs[m.id]!, kind: m.kind, result: m.result };
        onDone?.(out[m.id]!);
        feed();
      });
      w.on('error', reject);
      w.on('online', feed);
    });
  await Promise.all(Array.from({ length: n }, one));
  return out;
}
