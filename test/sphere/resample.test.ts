import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { gridAlphas, gridPoints } from '../../src/sphere/grid.js';
import {
  resampleStencil, rotateSphericalImage, sampleSphericalImage,
} from '../../src/sphere/resample.js';
import {
  eulerToMatrix,
  randomRotation,
  rotateVector,
  rotationZ,
  transpose,
  type Matrix3,
} from '../../src/sphere/rotation.js';
import { Random } from '../../src/util/random.js';

/** A smooth signal on the sphere: a sum of two wide bumps. */
function smooth(x: ArrayLike<number>): number {
  return Math.exp(1.5 * (0.6 * x[0] - 0.8 * x[2])) + 0.5 * Math.exp(x[1]);
}

function sampleOnGrid(bandwidth: number, f: (x: ArrayLike<number>) => number): Float64Array {
  const points = gridPoints(bandwidth);
  return Float64Array.from({ length: points.length / 3 }, (_, p) =>
    f(points.subarray(3 * p, 3 * p + 3)));
}

function relativeError(a: Float64Array, b: Float64Array): number {
  let difference = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    difference += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return Math.sqrt(difference / norm);
}

describe('rotateSphericalImage', () => {
  const bandwidth = 16;
  const n = 2 * bandwidth;
  const random = new Random(3);
  const noise = Float64Array.from({ length: n * n }, () => random.normal());

  it('rotates about z by a multiple of 2 pi / 2b as an exact roll of alpha', () => {
    for (const m of [1, 7, n - 1]) {
      const rotated = rotateSphericalImage(noise, bandwidth, rotationZ(gridAlphas(bandwidth)[m]));
      const rolled = new Float64Array(n * n);
      for (let j = 0; j < n; j++) {
        for (let k = 0; k < n; k++) rolled[j * n + k] = noise[j * n + ((k - m + n) % n)];
      }
      assert.deepEqual(rotated, rolled, `m = ${m}`);
    }
  });

  it('rotates by pi about x as an exact flip across the equator (through both poles)', () => {
    const flip = eulerToMatrix({ alpha: 0, beta: Math.PI, gamma: Math.PI });
    const rotated = rotateSphericalImage(noise, bandwidth, flip);
    const expected = new Float64Array(n * n);
    for (let j = 0; j < n; j++) {
      for (let k = 0; k < n; k++) expected[j * n + k] = noise[(n - 1 - j) * n + ((n - k) % n)];
    }
    assert.deepEqual(rotated, expected);
  });

  it('follows the left action g(x) = f(R^-1 x) on a smooth signal', () => {
    const rotation = randomRotation(new Random(8));
    const inverse = transpose(rotation);
    const f = sampleOnGrid(bandwidth, smooth);
    const exact = sampleOnGrid(bandwidth, (x) => smooth(rotateVector(inverse, x)));
    const error = relativeError(rotateSphericalImage(f, bandwidth, rotation), exact);
    assert.ok(error < 5e-3, `relative error ${error}`);
    // Bilinear interpolation: the error falls about 4x when the grid spacing halves.
    const fine = 2 * bandwidth;
    const fineError = relativeError(
      rotateSphericalImage(sampleOnGrid(fine, smooth), fine, rotation),
      sampleOnGrid(fine, (x) => smooth(rotateVector(inverse, x))),
    );
    assert.ok(fineError < error / 3, `errors ${error} then ${fineError}`);
  });

  it('brings a smooth signal back close to itself after R then R^-1', () => {
    const f = sampleOnGrid(bandwidth, smooth);
    for (const seed of [1, 2, 3]) {
      const rotation: Matrix3 = randomRotation(new Random(seed));
      const back = rotateSphericalImage(rotateSphericalImage(f, bandwidth, rotation), bandwidth,
        transpose(rotation));
      const error = relativeError(back, f);
      assert.ok(error < 1e-2, `seed ${seed}: relative error ${error}`);
    }
  });

  it('rotates every channel of a [channels, 2b, 2b] array alike and keeps constants', () => {
    const rotation = randomRotation(new Random(4));
    const two = new Float64Array(2 * n * n);
    two.set(noise, 0);
    two.fill(3, n * n);
    const rotated = rotateSphericalImage(two, bandwidth, rotation);
    assert.deepEqual(rotated.subarray(0, n * n), rotateSphericalImage(noise, bandwidth, rotation));
    for (const value of rotated.subarray(n * n)) assert.ok(Math.abs(value - 3) < 1e-12);
  });

  it('interpolates across the poles from the far side of the sphere', () => {
    // At the north pole the two nearest rows are row 0 at alpha and row 0 at alpha + pi.
    const value = sampleSphericalImage(noise, bandwidth, 0, gridAlphas(bandwidth)[3]);
    assert.ok(Math.abs(value - (noise[3] + noise[3 + bandwidth]) / 2) < 1e-12);
    const south = sampleSphericalImage(noise, bandwidth, Math.PI, 0);
    const last = (n - 1) * n;
    assert.ok(Math.abs(south - (noise[last] + noise[last + bandwidth]) / 2) < 1e-12);
    const stencil = resampleStencil(bandwidth, randomRotation(new Random(6)));
    for (let p = 0; p < n * n; p++) {
      const sum = stencil.weights.subarray(4 * p, 4 * p + 4).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-12);
    }
  });
});
