/**
 * A worker thread of `bench policy`: takes { family, seed } jobs, answers with the workload's
 * PolicyEvalResult (or the error's message). Started by policyPool.ts.
 */
import { parentPort } from 'node:worker_threads';
import { evaluateWorkload } from './policyEval.js';
import { FAMILIES } from './sim/families.js';

parentPort?.on('message', async (job: { id: number; family: string; seed: number }) => {
  try {
    const w = FAMILIES[job.family]!(job.seed);
    parentPort!.postMessage({ id: job.id, result: await evaluateWorkload(w, {}), kind: w.kind });
  } catch (err) {
    parentPort!.postMessage({ id: job.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
