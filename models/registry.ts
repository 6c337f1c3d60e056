/**
 * The models the online forecaster combines, in order: their position is their index in the
 * per-series errors, records and checkpoints. Adding a model means its file and a line here.
 */
import type { ForecastModel, ModelContext } from './model.js';
import { dailyProfileModel } from './plugins/dailyProfile.js';
import { globalModel } from './plugins/global.js';
import { holtWintersModel } from './plugins/holtWinters.js';
import { keyDriftModel } from './plugins/keyDrift.js';
import { seasonalNaiveModel } from './plugins/seasonalNaive.js';

export type ModelFactory = (ctx: ModelContext) => ForecastModel;

export const MODELS: readonly { name: string; create: ModelFactory }[] = [
  { name: 'seasonal_naive', create: seasonalNaiveModel },
  { name: 'holt_winters', create: holtWintersModel },
  { name: 'global', create: globalModel },
  { name: 'key_drift', create: keyDriftModel },
  { name: 'daily_profile', create: dailyProfileModel },
];

/** The models' names and, last, the ensemble's: how per-model results are indexed. */
export const MODEL_NAMES: readonly string[] = [...MODELS.map((m) => m.name), 'ensemble'];
