/**
 * TensorFlow.js backend selection, following shared/gpu.md:
 *
 *   webgpu (Dawn's `webgpu` npm package)  → tensorflow (tfjs-node-gpu / tfjs-node, only when the
 *   user installed them) → wasm → cpu
 *
 * Every candidate is loaded with a dynamic `import()` so a missing optional package is a clean
 * fallback, never a crash. The backend actually in use is returned, and logged together with
 * the reason each preferred one was skipped. What the libraries print at setup (tfjs's
 * "install our node backend" banner, Dawn's "Couldn't load Vulkan") goes to the project logger
 * at debug level, not to the terminal.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { UnavailableError, UsageError } from '../lib/errors.js';
import { type Logger, logger } from '../lib/log.js';

export type BackendPref = 'auto' | 'webgpu' | 'tensorflow' | 'wasm' | 'cpu';
export type BackendName = 'webgpu' | 'tensorflow' | 'wasm' | 'cpu';

export interface BackendInfo {
  name: BackendName;
  /** Why each backend tried before this one was not used. */
  skipped: { backend: BackendName; reason: string }[];
  /** GPU adapter description when webgpu is in use. */
  adapter?: string;
}

const ORDER: BackendName[] = ['webgpu', 'tensorflow', 'wasm', 'cpu'];
const require = createRequire(import.meta.url);
let current: BackendInfo | undefined;

/** The backend chosen by the last successful `initBackend`, if any. */
export function backendInfo(): BackendInfo | undefined {
  return current;
}

function message(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.split('\n')[0]!.slice(0, 200);
}

/**
 * Runs `fn` with console.log/info/warn routed to `log` at debug level. tfjs and its backends
 * print setup notices with console.warn (the cpu backend's banner on its first tensor, webgpu's
 * missing timestamp-query), which would otherwise land on the terminal between our log lines.
 */
async function quietConsole<T>(log: Logger, fn: () => Promise<T>): Promise<T> {
  const saved = { log: console.log, info: console.info, warn: console.warn };
  const toLog = (...args: unknown[]): void => log.debug({ from: 'tfjs' }, args.map(String).join(' ').trim());
  console.log = console.info = console.warn = toLog;
  try {
    return await fn();
  } finally {
    Object.assign(console, saved);
  }
}

const run = promisify(execFile);

/**
 * Whether Dawn finds a GPU adapter, asked in a child process: Dawn's native code writes its
 * warnings (e.g. "Couldn't load Vulkan" on a machine without a GPU) straight to file
 * descriptor 2, where no in-process hook can catch them; the child's stderr is logged instead.
 */
async function probeWebgpu(entry: string, log: Logger): Promise<boolean> {
  const script = `const m = await import(${JSON.stringify(pathToFileURL(entry).href)});
const a = await m.create([]).requestAdapter({ powerPreference: 'high-performance' });
process.stdout.write(a ? 'adapter' : 'none');`;
  try {
    const { stdout, stderr } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 });
    if (stderr.trim()) log.debug({ from: 'dawn', stderr: stderr.trim() }, 'webgpu probe output');
    return stdout.trim() === 'adapter';
  } catch (err) {
    log.debug({ from: 'dawn', err: message(err) }, 'webgpu probe failed');
    return false;
  }
}

async function tryWebgpu(log: Logger): Promise<string> {
  // Dawn's Node binding. Its package ships the native binary; a failed postinstall is harmless.
  let mod: { create: (flags: string[]) => GPUish; globals: Record<string, unknown> };
  try {
    const spec = 'webgpu';
    if (!(await probeWebgpu(require.resolve(spec), log)))
      throw new UnavailableError('no WebGPU adapter (no GPU, or a Vulkan driver Dawn cannot use)');
    mod = (await import(spec)) as typeof mod;
  } catch (err) {
    if (err instanceof UnavailableError) throw err;
    throw new UnavailableError(`package 'webgpu' not loadable: ${message(err)}`);
  }
  const gpu = mod.create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new UnavailableError('no WebGPU adapter (no GPU, or a Vulkan driver Dawn cannot use)');
  let desc = 'unknown adapter';
  try {
    const i = adapter.info ?? (await adapter.requestAdapterInfo?.());
    if (i) desc = [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ');
  } catch {
    /* adapter info is optional */
  }
  // tfjs-backend-webgpu registers itself only if navigator.gpu exists when it is evaluated.
  Object.assign(globalThis, mod.globals);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new UnavailableError('tf.setBackend("webgpu") returned false');
  return desc;
}

interface GPUish {
  requestAdapter(o?: unknown): Promise<null | {
    info?: Record<string, string>;
    requestAdapterInfo?: () => Promise<Record<string, string>>;
  }>;
}

async function tryTensorflow(): Promise<void> {
  const errs: string[] = [];
  for (const spec of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(spec);
      if (await tf.setBackend('tensorflow')) return;
      errs.push(`${spec}: setBackend returned false`);
    } catch (err) {
      errs.push(`${spec}: ${/Cannot find (module|package)/.test(message(err)) ? 'not installed' : message(err)}`);
    }
  }
  throw new UnavailableError(errs.join('; '));
}

async function tryWasm(): Promise<void> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const dir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  const files = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];
  // In Node the module loads its binary with fs from a plain file path.
  wasm.setWasmPaths(Object.fromEntries(files.map((f) => [f, path.join(dir, f)])));
  if (!(await tf.setBackend('wasm'))) throw new UnavailableError('tf.setBackend("wasm") returned false');
}

async function tryCpu(): Promise<void> {
  if (!(await tf.setBackend('cpu'))) throw new UnavailableError('tf.setBackend("cpu") returned false');
}

/**
 * Selects and initialises a backend. `auto` walks the whole order; a named preference starts
 * there and falls back along the order (so `webgpu` on a machine without a GPU ends on wasm).
 * Returns the backend name in use.
 */
export async function initBackend(pref: BackendPref = 'auto'): Promise<BackendName> {
  const log = logger('forecast.backend');
  const start = pref === 'auto' ? 0 : ORDER.indexOf(pref);
  if (start < 0) throw new UsageError(`unknown backend preference '${pref}'`);
  const skipped: BackendInfo['skipped'] = [];
  for (const name of ORDER.slice(start)) {
    try {
      const adapter = await quietConsole(log, async () => {
        let a: string | undefined;
        if (name === 'webgpu') a = await tryWebgpu(log);
        else if (name === 'tensorflow') await tryTensorflow();
        else if (name === 'wasm') await tryWasm();
        else await tryCpu();
        await tf.ready();
        // The first tensor is when a backend prints its notices (the cpu backend's banner).
        tf.scalar(0).dispose();
        return a;
      });
      current = { name, skipped, ...(adapter ? { adapter } : {}) };
      log.info({ backend: name, preferred: pref, adapter, skipped }, `tfjs backend: ${name}`);
      return name;
    } catch (err) {
      skipped.push({ backend: name, reason: message(err) });
      log.info({ backend: name, reason: message(err) }, `tfjs backend ${name} unavailable, falling back`);
    }
  }
  throw new UnavailableError(`no tfjs backend could be initialised: ${skipped.map((s) => `${s.backend}: ${s.reason}`).join('; ')}`);
}
