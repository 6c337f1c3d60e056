/**
 * Standalone GPU speed run: `initBackend('webgpu')`, then one update (train step + batched
 * forecast) for 1k/10k/100k series, printed as JSON. Bundle with esbuild (keep `webgpu`
 * external) and run on the GPU machine. Importing this module has no side effects; only
 * running it as the main script does the work.
 */
import { pathToFileURL } from 'node:url';
import { backendInfo, initBackend } from '../models/backend.js';
import { speedRun, type SpeedRow } from './forecastBench.js';

export async function runForecastGpu(
  sizes: number[] = [1000, 10000, 100000],
): Promise<{ backend: string; adapter?: string; skipped: unknown; rows: SpeedRow[] }> {
  const backend = await initBackend('webgpu');
  const rows: SpeedRow[] = [];
  for (const n of sizes) rows.push(await speedRun(n, backend));
  const info = backendInfo();
  return { backend, ...(info?.adapter ? { adapter: info.adapter } : {}), skipped: info?.skipped ?? [], rows };
}

const isMain = (() => {
  try {
    return !!process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href;
  } catch {
    return false;
  }
})();

if (isMain) {
  const sizes = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => n > 0);
  runForecastGpu(sizes.length ? sizes : undefined).then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exit(1);
    },
  );
}
