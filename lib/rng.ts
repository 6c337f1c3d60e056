/** A random stream whose position can be read and set again (so a checkpoint can carry it). */
export interface Rng {
  (): number;
  /** Where the stream is: `setPosition` of this value continues it exactly. */
  position(): number;
  setPosition(position: number): void;
}

/** Small deterministic PRNG (mulberry32) so training, simulations and benchmarks are reproducible. */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  const next = (() => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }) as Rng;
  next.position = () => a;
  next.setPosition = (position) => {
    a = position >>> 0;
  };
  return next;
}
