/**
 * `bench policy --runs FILE`: every finished (family, seed) run is appended to FILE as one JSON
 * line, and a run already in FILE is read back instead of simulated again. The full suite is
 * hours of CPU on a small machine; with the file, an interrupted run resumes where it stopped and
 * the suite can be run a few seeds at a time. The file belongs to one version of the simulator and
 * the policies: start a new one after changing either.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { InputError } from '../lib/errors.js';
import type { PoolResult } from './policyPool.js';

const key = (r: { family: string; seed: number }) => `${r.family}\u0000${r.seed}`;

/** The runs recorded in `path` by (family, seed); none when the file does not exist. */
export function readRuns(path: string): Map<string, PoolResult> {
  const out = new Map<string, PoolResult>();
  if (!existsSync(path)) return out;
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      let r: PoolResult;
      try {
        r = JSON.parse(line) as PoolResult;
      } catch (err) {
        throw new InputError(`${path}:${i + 1}: not JSON (${(err as Error).message})`);
      }
      if (typeof r?.family !== 'string' || !Number.isInteger(r.seed) || typeof r.kind !== 'string' || !Array.isArray(r.result?.rows))
        throw new InputError(`${path}:${i + 1}: expected {family, seed, kind, result: {rows}} as bench policy --runs writes`);
      out.set(key(r), r);
    });
  return out;
}

export function recordedRun(runs: ReadonlyMap<string, PoolResult>, job: { family: string; seed: number }): PoolResult | undefined {
  return runs.get(key(job));
}

/** Appends one finished run (one line, so a run cut short loses at most the run in progress). */
export function appendRun(path: string, r: PoolResult): void {
  appendFileSync(path, `${JSON.stringify({ family: r.family, seed: r.seed, kind: r.kind, result: r.result })}\n`);
}
