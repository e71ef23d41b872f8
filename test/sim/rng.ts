/** A seeded random number generator (mulberry32), so every simulation run is the same. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Exponentially distributed with this mean. */
  exp(mean: number): number;
}

export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, exp: (mean) => -mean * Math.log(1 - next()) };
}
