/**
 * Checkpoints of the online forecaster: global-model weights, calibrator, and per-series state
 * (history, season, Holt-Winters state, recent errors) in one JSON file, float arrays as
 * base64. The payload carries a SHA-256 so a truncated or edited file is detected. Writes are
 * atomic (temp file + rename). Loading never throws: a missing, corrupt or mismatched
 * checkpoint is reported (logged and returned) and the forecaster is left as it was.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { logger } from '../lib/log.js';
import { InputError } from '../lib/errors.js';
import type { CalibratorSnapshot, ConformalCalibrator } from './calibrator.js';
import type { GlobalModel, GlobalWeights } from './global.js';
import type { HWSnapshot } from './baselines.js';

export const CHECKPOINT_FORMAT = 'shardcast-forecaster';
export const CHECKPOINT_VERSION = 1;

/** One series' state as a checkpoint holds it: the forecaster's part, and the models' fields. */
export type SeriesSnapshot = SeriesCoreSnapshot & ModelFields;

/** The forecaster's part of a series' checkpoint record. */
export interface SeriesCoreSnapshot {
  id: string;
  season: number;
  /**
   * Observations at the last season detection; null for a known season (never detected).
   * Absent in older checkpoints: then the observations at the save.
   */
  seasonAt?: number | null;
  sawNegative: boolean;
  err: number[];
  cnt: number[];
  /** Absent in checkpoints written before the records existed. */
  rec?: number[];
  recShort?: number[];
  /** Absent in older checkpoints (then taken from `err`, and nothing set aside). */
  werr?: (number | null)[];
  aside?: number[];
  admitted?: number[];
  scale: number;
  /**
   * Pending forecasts, their interval scales and issue steps, and where each model's records
   * start (null for NaN and -Infinity). Absent in older checkpoints: then forecasts issued
   * before the save are not scored when they mature.
   */
  pend?: (number | null)[];
  pendW?: (number | null)[];
  pendIssue?: (number | null)[];
  recordFrom?: (number | null)[];
  /** Absent (or null) in older checkpoints: then `scale`. */
  scaleFast?: number | null;
  accounted: number;
  hist: { lastStep: number; firstStep: number; lastObservedStep: number; observed: number; values: Float32Array } | null;
}

/** The models' fields in a series' checkpoint record. */
export interface ModelFields {
  /**
   * Holt-Winters' fields, written and read by its model (plugins/holtWinters.ts); at the top
   * level, where checkpoints have always had them. Other models add fields of their own.
   */
  hw?: HWSnapshot | null;
  hwStep?: number;
  /** -Infinity (null in the file): never fitted. */
  hwFitAt?: number | null;
  hwFitObs?: number;
  [modelField: string]: unknown;
}

/** What a checkpoint reads from and restores into: the online forecaster, seen structurally so this module does not import it. */
/** The forecaster's schedule: steps taken, the random stream's position, the window last stepped (null: none). */
export interface RunState {
  steps: number;
  rand: number;
  lastStep: number | null;
}

export interface Checkpointable {
  readonly opts: { horizon: number; lags: number; level: number; stepMs: number };
  /** The models' names, in the order of the per-series arrays. */
  readonly modelNames: readonly string[];
  readonly global: GlobalModel | null | undefined;
  readonly calibrator: ConformalCalibrator;
  readonly size: number;
  snapshotSeries(includeHistory?: boolean): SeriesSnapshot[];
  /** `historyOnly`: the series' observations and seasons, each model's state afresh. */
  restoreSeries(snaps: SeriesSnapshot[], historyOnly?: boolean): void;
  /** The step count, random stream position and last step, when the forecaster keeps them. */
  runState?(): RunState;
  restoreRunState?(r: RunState): void;
}

export interface CheckpointResult {
  ok: boolean;
  reason?: string;
  series?: number;
  bytes?: number;
  /** What the stage saved beside the models (its input offsets, its rounds); null when none. */
  stage?: unknown;
  /**
   * The checkpoint's models differ from this forecaster's (a version added or removed one): the
   * series' history was restored and every model starts afresh on it. The saved names (null:
   * a checkpoint from before names were saved).
   */
  modelsChanged?: { saved: readonly string[] | null; now: readonly string[] };
}

export interface SaveOptions {
  includeHistory?: boolean;
  /** JSON the stage keeps with the models, under the same checksum. */
  stage?: unknown;
}

const f32ToB64 = (a: Float32Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
function b64ToF32(s: string): Float32Array {
  const b = Buffer.from(s, 'base64');
  if (b.byteLength % 4) throw new InputError('base64 float array has a ragged length');
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/** Settings that must match for a checkpoint to be loadable. */
function fingerprint(f: Checkpointable): Record<string, unknown> {
  return {
    horizon: f.opts.horizon,
    lags: f.opts.lags,
    level: f.opts.level,
    stepMs: f.opts.stepMs,
    hidden: f.global?.hidden ?? null,
    global: !!f.global,
  };
}

/** Serialises the forecaster's state (JSON text). */
export async function serializeForecaster(f: Checkpointable, opts: SaveOptions = {}): Promise<string> {
  const w = f.global ? await f.global.getWeights() : null;
  const series = f.snapshotSeries(opts.includeHistory ?? true).map((s) => ({
    ...s,
    err: s.err.map((x) => (Number.isFinite(x) ? x : null)),
    scale: Number.isFinite(s.scale) ? s.scale : null,
    hist: s.hist
      ? {
          ...s.hist,
          lastObservedStep: Number.isFinite(s.hist.lastObservedStep) ? s.hist.lastObservedStep : null,
          values: f32ToB64(s.hist.values),
        }
      : null,
  }));
  const payload = JSON.stringify({
    config: fingerprint(f),
    globalSteps: f.global?.steps ?? 0,
    run: f.runState?.() ?? null,
    weights: w ? { names: w.names, shapes: w.shapes, data: w.data.map(f32ToB64) } : null,
    optimizer: w?.optimizer ? { names: w.optimizer.names, shapes: w.optimizer.shapes, data: w.optimizer.data.map(f32ToB64) } : null,
    models: f.modelNames,
    calibrator: f.calibrator.toJSON(),
    series,
    stage: opts.stage ?? null,
  });
  const sha256 = createHash('sha256').update(payload).digest('hex');
  return JSON.stringify({ format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, savedAt: new Date().toISOString(), sha256, payload });
}

/** Writes a checkpoint atomically. */
export async function saveCheckpoint(f: Checkpointable, file: string, opts: SaveOptions = {}): Promise<CheckpointResult> {
  const text = await serializeForecaster(f, opts);
  await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, text);
  await fs.rename(tmp, file);
  return { ok: true, series: f.size, bytes: Buffer.byteLength(text) };
}

/** Restores from checkpoint text; on any problem returns ok:false with the reason and changes nothing. */
export function restoreForecaster(f: Checkpointable, text: string): CheckpointResult {
  try {
    const outer = JSON.parse(text) as { format?: string; version?: number; sha256?: string; payload?: string };
    if (outer.format !== CHECKPOINT_FORMAT) throw new InputError(`not a forecaster checkpoint (format ${String(outer.format)})`);
    if (outer.version !== CHECKPOINT_VERSION)
      throw new InputError(`checkpoint version ${String(outer.version)}, expected ${CHECKPOINT_VERSION}`);
    if (typeof outer.payload !== 'string') throw new InputError('checkpoint has no payload');
    const sum = createHash('sha256').update(outer.payload).digest('hex');
    if (sum !== outer.sha256) throw new InputError('checksum mismatch (file corrupt or edited)');
    const p = JSON.parse(outer.payload) as {
      config: Record<string, unknown>;
      globalSteps: number;
      run?: RunState | null;
      weights: { names: string[]; shapes: number[][]; data: string[] } | null;
      optimizer?: { names: string[]; shapes: number[][]; data: string[] } | null;
      models?: string[];
      calibrator: CalibratorSnapshot;
      stage?: unknown;
      series: (Omit<SeriesCoreSnapshot, 'hist' | 'err' | 'scale'> &
        ModelFields & {
          err: (number | null)[];
          scale: number | null;
          hist:
            | (Omit<NonNullable<SeriesSnapshot['hist']>, 'values' | 'lastObservedStep'> & {
                values: string;
                lastObservedStep: number | null;
              })
            | null;
        })[];
    };
    const want = fingerprint(f);
    for (const [k, v] of Object.entries(want)) {
      if (p.config?.[k] !== v)
        throw new InputError(`checkpoint ${k}=${JSON.stringify(p.config?.[k])} does not match this forecaster's ${JSON.stringify(v)}`);
    }
    // Decode and validate everything first, then apply.
    const weights: GlobalWeights | null = p.weights
      ? {
          names: p.weights.names,
          shapes: p.weights.shapes,
          data: p.weights.data.map(b64ToF32),
          ...(p.optimizer
            ? { optimizer: { names: p.optimizer.names, shapes: p.optimizer.shapes, data: p.optimizer.data.map(b64ToF32) } }
            : {}),
        }
      : null;
    const series: SeriesSnapshot[] = p.series.map((s) => ({
      ...s,
      err: s.err.map((x) => (x === null ? NaN : x)),
      scale: s.scale ?? NaN,
      hist: s.hist ? { ...s.hist, lastObservedStep: s.hist.lastObservedStep ?? -Infinity, values: b64ToF32(s.hist.values) } : null,
    }));
    if (f.global && !weights) throw new InputError('checkpoint has no global-model weights');
    const c = p.calibrator;
    // Another set of models (a version added one): what each model learned is indexed by the old
    // set and is dropped; the series' observations, which take days to gather, are kept.
    const saved = Array.isArray(p.models) && p.models.every((m) => typeof m === 'string') ? p.models : null;
    const sameModels = saved ? saved.join() === f.modelNames.join() : c?.models === f.calibrator.models;
    if (sameModels && (!c || c.models !== f.calibrator.models || c.horizon !== f.calibrator.horizon || !Array.isArray(c.scores)))
      throw new InputError('checkpoint calibrator does not match');
    // Dry runs against fresh objects would need a second model; instead apply in an order
    // where each step validates before mutating: weights (validated inside), calibrator, series.
    if (f.global && weights) {
      f.global.setWeights(weights);
      f.global.steps = Math.max(f.global.steps, p.globalSteps || 1);
    }
    if (sameModels) f.calibrator.restore(p.calibrator);
    f.restoreSeries(series, !sameModels);
    const run = p.run;
    if (
      run &&
      Number.isSafeInteger(run.steps) &&
      Number.isSafeInteger(run.rand) &&
      (run.lastStep === null || Number.isSafeInteger(run.lastStep))
    )
      f.restoreRunState?.(run);
    return {
      ok: true,
      series: series.length,
      bytes: text.length,
      stage: p.stage ?? null,
      ...(sameModels ? {} : { modelsChanged: { saved, now: f.modelNames } }),
    };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
}

/** What the stage saved in checkpoint text, without restoring anything (the checksum is checked). */
export function checkpointStage(text: string): unknown {
  const outer = JSON.parse(text) as { format?: string; sha256?: string; payload?: string };
  if (outer.format !== CHECKPOINT_FORMAT || typeof outer.payload !== 'string') throw new InputError('not a forecaster checkpoint');
  if (createHash('sha256').update(outer.payload).digest('hex') !== outer.sha256)
    throw new InputError('checksum mismatch (file corrupt or edited)');
  return (JSON.parse(outer.payload) as { stage?: unknown }).stage ?? null;
}

/** Loads a checkpoint file if there is one; a missing or bad file is reported and ignored. */
export async function loadCheckpoint(f: Checkpointable, file: string): Promise<CheckpointResult> {
  const log = logger('forecast.checkpoint');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no checkpoint file' : `unreadable: ${(err as Error).message}`;
    log.info({ file, reason }, 'forecaster checkpoint not loaded');
    return { ok: false, reason };
  }
  const r = restoreForecaster(f, text);
  if (r.ok && r.modelsChanged)
    log.warn(
      { file, series: r.series, saved: r.modelsChanged.saved ?? 'unnamed (an older version)', now: r.modelsChanged.now },
      "forecaster checkpoint of other models: the series' history is restored, every model starts afresh on it",
    );
  else if (r.ok) log.info({ file, series: r.series }, 'forecaster checkpoint loaded');
  else log.warn({ file, reason: r.reason }, 'forecaster checkpoint ignored');
  return r;
}
