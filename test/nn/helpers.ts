/*
 * Shared helpers of the spectral-layer tests (no tests of its own): seeded random arrays and a
 * closeness check relative to the largest expected value.
 */

import assert from 'node:assert/strict';

import type { Random } from '../../src/util/random.js';

/** `size` standard normal draws of `random` as float32. */
export function normals(random: Random, size: number): Float32Array {
  return draws(size, () => random.normal());
}

/** `size` draws of `random` uniform in [-1, 1) as float32. */
export function uniforms(random: Random, size: number): Float32Array {
  return draws(size, () => random.uniformIn(-1, 1));
}

function draws(size: number, draw: () => number): Float32Array {
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = draw();
  return values;
}

/**
 * Asserts max_i |actual_i - expected_i| <= tolerance max(minScale, max_i |expected_i|), the
 * arrays of equal length; `label` names the quantity in the failure message.
 */
export function assertClose(
  actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, label: string,
  minScale = 1e-30,
): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  let worst = 0;
  let scale = minScale;
  for (let i = 0; i < actual.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  assert.ok(worst <= tolerance * scale, `${label}: largest difference ${worst}, scale ${scale}`);
}
