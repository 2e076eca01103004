import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { fromArray, noGrad, Tensor } from '../../src/engine/tensor.js';
import { rotateS2Spectrum, rotateSo3Spectrum } from '../../src/harmonic/rotate.js';
import { s2Forward, s2Inverse } from '../../src/harmonic/s2-transform.js';
import { so3Forward, so3Inverse } from '../../src/harmonic/so3-transform.js';
import { s2NearIdentityGrid, so3NearIdentityGrid } from '../../src/nn/layers/kernel-grids.js';
import { S2Convolution } from '../../src/nn/layers/s2-conv.js';
import { SO3Convolution } from '../../src/nn/layers/so3-conv.js';
import { SO3Integrate } from '../../src/nn/layers/so3-integrate.js';
import { SO3ToS2 } from '../../src/nn/layers/so3-to-s2.js';
import { Module } from '../../src/nn/module.js';
import { S2cnnSegmenter } from '../../src/nn/models/s2cnn-segmenter.js';
import { randomRotation, type Matrix3 } from '../../src/sphere/rotation.js';
import { Random } from '../../src/util/random.js';

/*
 * Equivariance of the linear S2CNN layers under random rotations that are not grid symmetries
 * (transforms.md 5, checks 7 and 9): inputs are band-limited (the projection of noise onto
 * degrees l < b, built in float64) and rotated exactly in the spectral domain; the output of the
 * rotated input must equal the spectrally rotated output. Layers run in float32 (measured
 * relative errors are about 2e-7; the bound is 1e-5).
 */

type Domain = 's2' | 'so3';

function noise(random: Random, size: number): Float64Array {
  const values = new Float64Array(size);
  for (let i = 0; i < size; i++) values[i] = random.normal();
  return values;
}

function gridSize(domain: Domain, b: number): number {
  return domain === 's2' ? (2 * b) ** 2 : (2 * b) ** 3;
}

/** L_Q f on the grid of bandwidth b for real grids f band-limited to l < b (float64). */
function rotateGrid(
  domain: Domain, grid: Float64Array, S: number, b: number, q: Matrix3,
): Float64Array {
  if (domain === 's2') {
    return s2Inverse(rotateS2Spectrum(s2Forward(grid, S, b, b), S, b, q), S, b, b);
  }
  return so3Inverse(rotateSo3Spectrum(so3Forward(grid, S, b, b), S, b, q), S, b, b);
}

/** Random real signals band-limited to l < b on the grid of bandwidth b (float64). */
function bandLimited(domain: Domain, random: Random, S: number, b: number): Float64Array {
  const x = noise(random, S * gridSize(domain, b));
  if (domain === 's2') return s2Inverse(s2Forward(x, S, b, b), S, b, b);
  return so3Inverse(so3Forward(x, S, b, b), S, b, b);
}

function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    diff += (actual[i] - expected[i]) ** 2;
    norm += expected[i] ** 2;
  }
  return Math.sqrt(diff / norm);
}

/**
 * Runs `layer` on x and on L_Q x and returns ||layer(L_Q x) - L_Q layer(x)|| / ||L_Q layer(x)||.
 */
function equivarianceError(
  layer: Module, inDomain: Domain, outDomain: Domain, shape: number[], bOut: number,
  random: Random,
): number {
  const [n, c] = shape;
  const bIn = shape[2] / 2;
  const q = randomRotation(random);
  const x = bandLimited(inDomain, random, n * c, bIn);
  const xRotated = rotateGrid(inDomain, x, n * c, bIn, q);

  const run = (values: Float64Array): Tensor =>
    noGrad(() => layer.forward(fromArray(Float32Array.from(values), shape)));
  const y = run(x);
  const yOfRotated = run(xRotated);
  const outChannels = y.shape[1];
  const expected = rotateGrid(outDomain, Float64Array.from(y.data), n * outChannels, bOut, q);
  return relativeError(yOfRotated.data, expected);
}

function withRandomBias(layer: Module & { bias: Tensor }, random: Random): Module {
  for (let i = 0; i < layer.bias.size; i++) layer.bias.data[i] = random.normal();
  return layer;
}

describe('equivariance of the S2CNN layers under random off-grid rotations (float32)', () => {
  it('S2Convolution, b 8 -> 6', () => {
    const random = new Random(31);
    const layer = new S2Convolution(2, 3, 8, 6, s2NearIdentityGrid(), random);
    withRandomBias(layer, random);
    const error = equivarianceError(layer, 's2', 'so3', [2, 2, 16, 16], 6, random);
    assert.ok(error <= 1e-5, `relative error ${error}`);
  });

  it('SO3Convolution, b 6 -> 5 and 4 -> 6 (zero padding)', () => {
    const random = new Random(32);
    const grid = so3NearIdentityGrid({ maxBeta: Math.PI / 6, nAlpha: 6, nBeta: 2, nGamma: 6 });
    const down = withRandomBias(new SO3Convolution(3, 2, 6, 5, grid, random), random);
    const downError = equivarianceError(down, 'so3', 'so3', [2, 3, 12, 12, 12], 5, random);
    assert.ok(downError <= 1e-5, `relative error ${downError} (6 -> 5)`);
    const up = withRandomBias(new SO3Convolution(2, 2, 4, 6, grid, random), random);
    const upError = equivarianceError(up, 'so3', 'so3', [1, 2, 8, 8, 8], 6, random);
    assert.ok(upError <= 1e-5, `relative error ${upError} (4 -> 6)`);
  });

  it('SO3ToS2, b 5 -> 7 (zero padding) and 6 -> 4', () => {
    const random = new Random(33);
    const grid = so3NearIdentityGrid();
    const up = withRandomBias(new SO3ToS2(2, 3, 5, 7, grid, random), random);
    const upError = equivarianceError(up, 'so3', 's2', [2, 2, 10, 10, 10], 7, random);
    assert.ok(upError <= 1e-5, `relative error ${upError} (5 -> 7)`);
    const down = withRandomBias(new SO3ToS2(2, 2, 6, 4, grid, random), random);
    const downError = equivarianceError(down, 'so3', 's2', [1, 2, 12, 12, 12], 4, random);
    assert.ok(downError <= 1e-5, `relative error ${downError} (6 -> 4)`);
  });

  it('a segmentation S2CNN without its non-linearities, b 6 -> 5 -> 4 -> 5 -> 6', () => {
    const random = new Random(34);
    const grid = { maxBeta: 0, nAlpha: 4, nBeta: 2, maxGamma: 2 * Math.PI, nGamma: 4 };
    const model = new S2cnnSegmenter({
      bandwidth: 6,
      inChannels: 1,
      classes: 3,
      s2: { channels: 3, bandwidth: 5, grid: { maxBeta: Math.PI / 6, nAlpha: 6, nBeta: 2 } },
      so3: [
        { channels: 4, bandwidth: 4, grid: { ...grid, maxBeta: Math.PI / 5 } },
        { channels: 3, bandwidth: 5, grid: { ...grid, maxBeta: Math.PI / 4 } },
      ],
      outputGrid: { ...grid, maxBeta: Math.PI / 6 },
      nonlinearity: 'identity',
    }, random);
    for (const [, p] of model.namedParameters()) {
      if (p.shape.length === 1) for (let i = 0; i < p.size; i++) p.data[i] = random.normal();
    }
    const error = equivarianceError(model, 's2', 's2', [2, 1, 12, 12], 6, random);
    assert.ok(error <= 1e-5, `relative error ${error}`);
  });

  it('SO3Integrate is invariant', () => {
    const random = new Random(35);
    const b = 5;
    const q = randomRotation(random);
    const x = bandLimited('so3', random, 3, b);
    const rotated = rotateGrid('so3', x, 3, b, q);
    const integrate = new SO3Integrate();
    const shape = [1, 3, 2 * b, 2 * b, 2 * b];
    const a = noGrad(() => integrate.forward(fromArray(Float32Array.from(x), shape)));
    const c = noGrad(() => integrate.forward(fromArray(Float32Array.from(rotated), shape)));
    let scale = 0;
    for (let i = 0; i < x.length; i++) scale = Math.max(scale, Math.abs(x[i]));
    for (let s = 0; s < 3; s++) {
      assert.ok(Math.abs(a.data[s] - c.data[s]) <= 1e-5 * scale, `${a.data[s]} vs ${c.data[s]}`);
    }
    // Not trivially zero: the l = 0 part of band-limited noise is non-zero.
    assert.ok(Math.abs(a.data[0]) > 1e-4 * scale);
  });
});

describe('the equivariance check itself', () => {
  it('reports a large error for a layer that is not equivariant (a fixed mask on the grid)', () => {
    const random = new Random(36);
    const b = 6;
    class Mask extends Module {
      forward(input: Tensor): Tensor {
        const out = Float32Array.from(input.data);
        const side = 2 * b;
        for (let i = 0; i < out.length; i++) out[i] *= 1 + Math.floor(i / side) % side;
        return fromArray(out, input.shape);
      }
    }
    const error = equivarianceError(new Mask(), 's2', 's2', [1, 1, 12, 12], b, random);
    assert.ok(error > 1e-2, `relative error ${error}`);
  });
});
