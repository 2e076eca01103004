import { pathToFileURL } from 'node:url';

import { activeBackend } from '../src/engine/kernels/index.js';
import { s2CoefficientCount, so3CoefficientCount } from '../src/harmonic/indexing.js';
import type { Spectrum } from '../src/harmonic/indexing.js';
import { s2Forward, s2Inverse } from '../src/harmonic/s2-transform.js';
import { so3Forward, so3Inverse } from '../src/harmonic/so3-transform.js';
import { clearHarmonicCaches } from '../src/harmonic/tables.js';
import { wignerDTable } from '../src/harmonic/wigner.js';
import { gridBetas } from '../src/sphere/grid.js';
import { Random } from '../src/util/random.js';

/** Median wall time in milliseconds of `runs` calls of fn. */
function medianMs(runs: number, fn: () => void): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

function randomFloat32(n: number, random: Random): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = random.normal();
  return out;
}

function randomSpectrum(count: number, random: Random): Spectrum<Float32Array> {
  return { re: randomFloat32(count, random), im: randomFloat32(count, random) };
}

interface Case {
  b: number;
  channels: number;
  runs: number;
}

/** Times forward and inverse of one space; the first call (cold caches) includes the tables. */
function timeTransforms(
  report: (line: string) => void, label: string, { b, channels, runs }: Case,
  forward: () => void, inverse: () => void,
): void {
  clearHarmonicCaches();
  const cold = medianMs(1, forward);
  const warm = medianMs(runs, forward);
  const coldInverse = medianMs(1, inverse);
  const warmInverse = medianMs(runs, inverse);
  const perChannel = (ms: number): string => `${(ms / channels).toFixed(2)} ms`;
  report(`${label} b=${String(b).padStart(2)}, ${channels} channels: `
    + `forward ${perChannel(warm)}, inverse ${perChannel(warmInverse)} per channel `
    + `(first calls ${cold.toFixed(0)} / ${coldInverse.toFixed(0)} ms with tables)`);
}

/**
 * Times the float32 S2 and SO(3) transforms (forward and inverse, L = b) per channel at
 * bandwidths 16 and 32 and for 11 channels at b = 50, on the active kernel backend, and the
 * Wigner-d table build at b = 64 against its 2-second goal. One line per measurement.
 */
export async function benchHarmonic(report: (line: string) => void): Promise<void> {
  const random = new Random(2024);
  report(`harmonic transforms, float32, kernel backend '${activeBackend().name}'`);

  const start = performance.now();
  const table = wignerDTable(64, gridBetas(64));
  const seconds = (performance.now() - start) / 1000;
  report(`wigner-d table b=64 (${(table.length / 1e6).toFixed(1)}M values, float64): `
    + `${seconds.toFixed(3)} s (goal < 2 s: ${seconds < 2 ? 'met' : 'MISSED'})`);

  const cases: Case[] = [
    { b: 16, channels: 16, runs: 5 },
    { b: 32, channels: 8, runs: 3 },
    { b: 50, channels: 11, runs: 2 },
  ];
  for (const c of cases) {
    const S = c.channels;
    const grid = randomFloat32(S * 4 * c.b * c.b, random);
    const spectrum = randomSpectrum(s2CoefficientCount(c.b) * S, random);
    timeTransforms(report, 's2 ', c, () => s2Forward(grid, S, c.b, c.b),
      () => s2Inverse(spectrum, S, c.b, c.b));
  }
  for (const c of cases) {
    const S = c.channels;
    const grid = randomFloat32(S * (2 * c.b) ** 3, random);
    const spectrum = randomSpectrum(so3CoefficientCount(c.b) * S, random);
    timeTransforms(report, 'so3', c, () => so3Forward(grid, S, c.b, c.b),
      () => so3Inverse(spectrum, S, c.b, c.b));
  }
  clearHarmonicCaches();
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchHarmonic((line) => console.log(line));
}
