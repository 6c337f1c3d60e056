/**
 * The global network's optimizer state for checkpoints: Adam's step count, then the first and
 * second moments of each weight, so a restored model takes the same next steps as the one saved
 * (started afresh, its first steps differ, and so do its forecasts for a while).
 */
import * as tf from '@tensorflow/tfjs';
import { InputError } from '../lib/errors.js';

export interface OptimizerState {
  names: string[];
  shapes: number[][];
  data: Float32Array[];
}

export async function readOptimizerState(opt: tf.Optimizer): Promise<OptimizerState> {
  const ws = await opt.getWeights();
  return {
    names: ws.map((w) => w.name),
    shapes: ws.map((w) => w.tensor.shape.slice()),
    data: await Promise.all(ws.map(async (w) => Float32Array.from((await w.tensor.data()) as Float32Array))),
  };
}

/** Loads the state into `opt`; returns null (nothing left pending). */
export async function loadOptimizerState(opt: tf.Optimizer, o: OptimizerState): Promise<null> {
  await opt.setWeights(o.names.map((name, i) => ({ name, tensor: tf.tensor(o.data[i]!, o.shapes[i]!) })));
  return null;
}

/**
 * Checks state against the model's weights: the step count, then (once a step was taken) a first
 * and a second moment of each weight's shape, in the weights' order. Throws an InputError.
 */
export function checkOptimizerState(o: OptimizerState, vars: readonly { shape: number[] }[]): void {
  const n = vars.length;
  if (o.names.length !== 1 && o.names.length !== 1 + 2 * n)
    throw new InputError(`optimizer state: expected 1 or ${1 + 2 * n} tensors, got ${o.names.length}`);
  o.names.forEach((name, i) => {
    const want = i === 0 ? [] : vars[(i - 1) % n]!.shape;
    const shape = o.shapes[i] ?? [];
    if (shape.join('x') !== want.join('x'))
      throw new InputError(`optimizer state: tensor ${name} is ${shape.join('x')}, expected ${want.join('x')}`);
    const d = o.data[i];
    if (
      !d ||
      d.length !==
        Math.max(
          1,
          want.reduce((a, b) => a * b, 1),
        ) ||
      d.some((v) => !Number.isFinite(v))
    )
      throw new InputError(`optimizer state: tensor ${name} has missing or non-finite values`);
  });
}
