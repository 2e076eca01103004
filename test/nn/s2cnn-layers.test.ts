import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { backward, fromArray, noGrad, Tensor } from '../../src/engine/tensor.js';
import { s2CoefficientIndex, so3CoefficientIndex } from '../../src/harmonic/indexing.js';
import { s2Forward } from '../../src/harmonic/s2-transform.js';
import { so3Forward } from '../../src/harmonic/so3-transform.js';
import { wignerD } from '../../src/harmonic/wigner.js';
import {
  s2NearIdentityGrid, so3IdentityGrid, so3NearIdentityGrid,
} from '../../src/nn/layers/kernel-grids.js';
import { S2Convolution } from '../../src/nn/layers/s2-conv.js';
import { SO3Convolution } from '../../src/nn/layers/so3-conv.js';
import { SO3Integrate } from '../../src/nn/layers/so3-integrate.js';
import { SO3Shortcut } from '../../src/nn/layers/so3-shortcut.js';
import { SO3ToS2 } from '../../src/nn/layers/so3-to-s2.js';
import { Module } from '../../src/nn/module.js';
import { gridAlphas, gridBetas, so3QuadratureWeights } from '../../src/sphere/grid.js';
import { eulerToMatrix, matrixToEuler, multiply, rotateVector } from '../../src/sphere/rotation.js';
import { Random } from '../../src/util/random.js';

/*
 * The S2CNN layers against their defining formulas (transforms.md 4.2-4.4, paper.md 4.2),
 * evaluated independently in float64, and their hand-written backward passes against
 * directional differences (the layers are affine in input, weights and bias, so a difference
 * f(u + v) - f(u) is exactly the derivative along v, up to float32 rounding).
 */

function normals(random: Random, size: number): Float32Array {
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = random.normal();
  return values;
}

/** Real part of the band-limited S2 synthesis of coefficient set s at (beta, alpha). */
function evaluateS2(
  spectrum: { re: Float64Array; im: Float64Array }, S: number, s: number, L: number,
  beta: number, alpha: number,
): number {
  let value = 0;
  for (let l = 0; l < L; l++) {
    for (let m = -l; m <= l; m++) {
      const c = s2CoefficientIndex(l, m) * S + s;
      const d = wignerD(l, m, 0, beta);
      value += (2 * l + 1) * d *
        (spectrum.re[c] * Math.cos(m * alpha) - spectrum.im[c] * Math.sin(m * alpha));
    }
  }
  return value;
}

/** Real part of the band-limited SO(3) synthesis of coefficient set s at Euler angles g. */
function evaluateSo3(
  spectrum: { re: Float64Array; im: Float64Array }, S: number, s: number, L: number,
  g: { alpha: number; beta: number; gamma: number },
): number {
  let value = 0;
  for (let l = 0; l < L; l++) {
    for (let m = -l; m <= l; m++) {
      for (let n = -l; n <= l; n++) {
        const c = so3CoefficientIndex(l, m, n) * S + s;
        const d = wignerD(l, m, n, g.beta);
        const phase = m * g.alpha + n * g.gamma;
        const part = spectrum.re[c] * Math.cos(phase) - spectrum.im[c] * Math.sin(phase);
        value += (2 * l + 1) * d * part;
      }
    }
  }
  return value;
}

function maxAbs(values: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i]));
  return max;
}

/** Random output positions (batch, channel, flat grid index) to check. */
function samplePositions(random: Random, n: number, c: number, points: number, count: number) {
  const positions: Array<[number, number, number]> = [];
  for (let t = 0; t < count; t++) {
    positions.push([random.int(n), random.int(c), random.int(points)]);
  }
  return positions;
}

describe('S2Convolution semantics (transforms.md 4.2)', () => {
  it('out(R) = 2 b_out scaling sum_c sum_i psi f_c^(l<b_out)(R x_i) + bias at grid points', () => {
    const random = new Random(11);
    const [n, ci, co, bIn, bOut] = [2, 2, 3, 6, 4];
    const grid = s2NearIdentityGrid({ maxBeta: Math.PI / 5, nAlpha: 5, nBeta: 2 });
    const layer = new S2Convolution(ci, co, bIn, bOut, grid, random);
    layer.bias.data.set(normals(random, co));
    const x = normals(random, n * ci * (2 * bIn) ** 2);
    const out = noGrad(() => layer.forward(fromArray(x, [n, ci, 2 * bIn, 2 * bIn])));
    assert.deepEqual(out.shape, [n, co, 2 * bOut, 2 * bOut, 2 * bOut]);

    const spectrum = s2Forward(Float64Array.from(x), n * ci, bIn, bOut);
    const betas = gridBetas(bOut);
    const alphas = gridAlphas(bOut);
    const side = 2 * bOut;
    const scale = 2 * bOut * layer.scaling;
    let worst = 0;
    for (const [b, c1, g] of samplePositions(random, n, co, side ** 3, 12)) {
      const j = Math.floor(g / side ** 2);
      const k = Math.floor(g / side) % side;
      const p = g % side;
      const rotation = eulerToMatrix({ alpha: alphas[k], beta: betas[j], gamma: alphas[p] });
      let expected = layer.bias.data[c1];
      for (let c = 0; c < ci; c++) {
        grid.forEach(([beta, alpha], i) => {
          const point = [
            Math.sin(beta) * Math.cos(alpha), Math.sin(beta) * Math.sin(alpha), Math.cos(beta),
          ];
          const y = rotateVector(rotation, point);
          const value = evaluateS2(spectrum, n * ci, b * ci + c, bOut,
            Math.acos(Math.max(-1, Math.min(1, y[2]))), Math.atan2(y[1], y[0]));
          expected += scale * layer.weight.data[(c * co + c1) * grid.length + i] * value;
        });
      }
      worst = Math.max(worst, Math.abs(out.data[(b * co + c1) * side ** 3 + g] - expected));
    }
    assert.ok(worst <= 1e-4 * maxAbs(out.data), `max error ${worst} vs |out| ${maxAbs(out.data)}`);
  });
});

describe('SO3Convolution semantics (transforms.md 4.3)', () => {
  for (const [bIn, bOut] of [[5, 4], [3, 5]]) {
    it(`out(R) = scaling sum_c sum_i psi F_c^(l<L)(R g_i) + bias, b ${bIn} -> ${bOut}`, () => {
      const random = new Random(12 + bIn);
      const [n, ci, co] = [2, 2, 2];
      const grid = so3NearIdentityGrid({ maxBeta: Math.PI / 6, nAlpha: 4, nBeta: 2, nGamma: 3 });
      const layer = new SO3Convolution(ci, co, bIn, bOut, grid, random);
      layer.bias.data.set(normals(random, co));
      const x = normals(random, n * ci * (2 * bIn) ** 3);
      const out = noGrad(() => layer.forward(fromArray(x, [n, ci, 2 * bIn, 2 * bIn, 2 * bIn])));
      assert.deepEqual(out.shape, [n, co, 2 * bOut, 2 * bOut, 2 * bOut]);

      const L = Math.min(bIn, bOut);
      const spectrum = so3Forward(Float64Array.from(x), n * ci, bIn, L);
      const betas = gridBetas(bOut);
      const alphas = gridAlphas(bOut);
      const side = 2 * bOut;
      let worst = 0;
      for (const [b, c1, g] of samplePositions(random, n, co, side ** 3, 8)) {
        const j = Math.floor(g / side ** 2);
        const k = Math.floor(g / side) % side;
        const p = g % side;
        const rotation = eulerToMatrix({ alpha: alphas[k], beta: betas[j], gamma: alphas[p] });
        let expected = layer.bias.data[c1];
        for (let c = 0; c < ci; c++) {
          grid.forEach(([beta, alpha, gamma], i) => {
            const moved = matrixToEuler(multiply(rotation, eulerToMatrix({ alpha, beta, gamma })));
            const value = evaluateSo3(spectrum, n * ci, b * ci + c, L, moved);
            expected += layer.scaling * layer.weight.data[(c * co + c1) * grid.length + i] * value;
          });
        }
        worst = Math.max(worst, Math.abs(out.data[(b * co + c1) * side ** 3 + g] - expected));
      }
      assert.ok(worst <= 1e-4 * maxAbs(out.data), `error ${worst} vs |out| ${maxAbs(out.data)}`);
    });
  }

  it('with the identity grid and b_out = b_in, mixes channels of the band-limited input', () => {
    const random = new Random(13);
    const b = 3;
    const layer = new SO3Convolution(2, 1, b, b, so3IdentityGrid(), random);
    const x = normals(random, 2 * (2 * b) ** 3);
    const spectrum = so3Forward(Float64Array.from(x), 2, b, b);
    const out = noGrad(() => layer.forward(fromArray(x, [1, 2, 2 * b, 2 * b, 2 * b])));
    const [w0, w1] = [layer.weight.data[0], layer.weight.data[1]];
    // Grid point (beta_2, alpha_3, gamma_1) of the SOFT grid, stored at [2][3][1].
    const g = { alpha: gridAlphas(b)[3], beta: gridBetas(b)[2], gamma: gridAlphas(b)[1] };
    const expected = layer.scaling *
      (w0 * evaluateSo3(spectrum, 2, 0, b, g) + w1 * evaluateSo3(spectrum, 2, 1, b, g));
    const value = out.data[(2 * (2 * b) + 3) * (2 * b) + 1];
    assert.ok(Math.abs(value - expected) <= 1e-4 * maxAbs(out.data), `${value} vs ${expected}`);
  });
});

describe('SO3ToS2 semantics (paper.md 4.2)', () => {
  for (const [bIn, bOut] of [[4, 5], [5, 3]]) {
    it(`out = Re S2 synthesis of x^l_mn conj(kappa^l_n) summed + bias, b ${bIn} -> ${bOut}`, () => {
      const random = new Random(14 + bIn);
      const [n, ci, co] = [2, 2, 3];
      const grid = so3NearIdentityGrid({ maxBeta: Math.PI / 7, nAlpha: 3, nBeta: 2, nGamma: 4 });
      const layer = new SO3ToS2(ci, co, bIn, bOut, grid, random);
      layer.bias.data.set(normals(random, co));
      const x = normals(random, n * ci * (2 * bIn) ** 3);
      const out = noGrad(() => layer.forward(fromArray(x, [n, ci, 2 * bIn, 2 * bIn, 2 * bIn])));
      assert.deepEqual(out.shape, [n, co, 2 * bOut, 2 * bOut]);

      // float64 reference: kappa^l_p[c, c'] = scaling sum_i psi sum_n conj(D^l_np(g_i)).
      const L = Math.min(bIn, bOut);
      const spectrum = so3Forward(Float64Array.from(x), n * ci, bIn, L);
      const S = n * co;
      const outRe = new Float64Array(L * L * S);
      const outIm = new Float64Array(L * L * S);
      for (let l = 0; l < L; l++) {
        for (let p = -l; p <= l; p++) {
          for (let c = 0; c < ci; c++) {
            for (let c1 = 0; c1 < co; c1++) {
              let kRe = 0;
              let kIm = 0;
              grid.forEach(([beta, alpha, gamma], i) => {
                const w = layer.scaling * layer.weight.data[(c * co + c1) * grid.length + i];
                for (let q = -l; q <= l; q++) {
                  const d = wignerD(l, q, p, beta);
                  kRe += w * d * Math.cos(-q * alpha - p * gamma);
                  kIm += w * d * Math.sin(-q * alpha - p * gamma);
                }
              });
              for (let m = -l; m <= l; m++) {
                for (let b = 0; b < n; b++) {
                  const source = so3CoefficientIndex(l, m, p) * n * ci + b * ci + c;
                  const target = s2CoefficientIndex(l, m) * S + b * co + c1;
                  // x conj(kappa)
                  outRe[target] += spectrum.re[source] * kRe + spectrum.im[source] * kIm;
                  outIm[target] += spectrum.im[source] * kRe - spectrum.re[source] * kIm;
                }
              }
            }
          }
        }
      }
      const side = 2 * bOut;
      const betas = gridBetas(bOut);
      const alphas = gridAlphas(bOut);
      let worst = 0;
      for (const [b, c1, g] of samplePositions(random, n, co, side ** 2, 16)) {
        const expected = layer.bias.data[c1] + evaluateS2({ re: outRe, im: outIm }, S,
          b * co + c1, L, betas[Math.floor(g / side)], alphas[g % side]);
        worst = Math.max(worst, Math.abs(out.data[(b * co + c1) * side ** 2 + g] - expected));
      }
      assert.ok(worst <= 1e-4 * maxAbs(out.data), `error ${worst} vs |out| ${maxAbs(out.data)}`);
    });
  }
});

describe('SO3Integrate (transforms.md 4.4)', () => {
  it('equals sum_j q_j sum_{k,l} F and the coefficient F^0_00', () => {
    const random = new Random(15);
    const b = 4;
    const x = normals(random, 3 * (2 * b) ** 3);
    const out = noGrad(() => new SO3Integrate().forward(fromArray(x, [1, 3, 2 * b, 2 * b, 2 * b])));
    assert.deepEqual(out.shape, [1, 3]);
    const spectrum = so3Forward(Float64Array.from(x), 3, b, 1);
    const q = so3QuadratureWeights(b);
    for (let s = 0; s < 3; s++) {
      let direct = 0;
      for (let g = 0; g < (2 * b) ** 3; g++) {
        direct += q[Math.floor(g / (2 * b) ** 2)] * x[s * (2 * b) ** 3 + g];
      }
      assert.ok(Math.abs(out.data[s] - direct) <= 1e-5 * (1 + Math.abs(direct)));
      assert.ok(Math.abs(out.data[s] - spectrum.re[s]) <= 1e-5 * (1 + Math.abs(direct)));
      assert.ok(Math.abs(spectrum.im[s]) <= 1e-12);
    }
  });
});

/**
 * Backward-pass check of an affine layer: with seed gradient g, for a random direction v of the
 * input, the weights and the bias in turn, sum g (f(u + v) - f(u)) must equal sum grad v.
 */
function checkAffineGradients(
  layer: Module & { weight: Tensor; bias: Tensor }, inputShape: number[], random: Random,
): void {
  const size = inputShape.reduce((a, b) => a * b, 1);
  const input = new Tensor(normals(random, size), inputShape, true);
  layer.bias.data.set(normals(random, layer.bias.size));
  layer.weight.grad = null;
  layer.bias.grad = null;
  const out = layer.forward(input);
  const seed = normals(random, out.size);
  const base = Float32Array.from(out.data);
  backward(out, seed);

  const directional = (): number => {
    const moved = noGrad(() => layer.forward(new Tensor(input.data, inputShape)));
    let sum = 0;
    for (let i = 0; i < seed.length; i++) sum += seed[i] * (moved.data[i] - base[i]);
    return sum;
  };
  const targets: Array<[string, Float32Array, Float32Array | null]> = [
    ['input', input.data, input.grad],
    ['weight', layer.weight.data, layer.weight.grad],
    ['bias', layer.bias.data, layer.bias.grad],
  ];
  for (const [name, values, grad] of targets) {
    assert.ok(grad !== null, `${name} received no gradient`);
    const v = normals(random, values.length);
    const saved = Float32Array.from(values);
    for (let i = 0; i < v.length; i++) values[i] += v[i];
    const measured = directional();
    values.set(saved);
    let predicted = 0;
    let scale = 0;
    for (let i = 0; i < v.length; i++) {
      predicted += grad[i] * v[i];
      scale += Math.abs(grad[i] * v[i]);
    }
    assert.ok(Math.abs(measured - predicted) <= 1e-4 * scale,
      `${name}: directional difference ${measured}, gradient predicts ${predicted}`);
  }
}

describe('S2CNN layer gradients (hand-written adjoints)', () => {
  it('S2Convolution: input, weight and bias', () => {
    const random = new Random(21);
    const grid = s2NearIdentityGrid({ nAlpha: 4, nBeta: 2 });
    const layer = new S2Convolution(2, 3, 5, 4, grid, random);
    checkAffineGradients(layer, [2, 2, 10, 10], random);
  });

  it('S2Convolution with b_out > b_in (zero padding)', () => {
    const random = new Random(22);
    const grid = s2NearIdentityGrid({ nAlpha: 3, nBeta: 1 });
    const layer = new S2Convolution(1, 2, 3, 4, grid, random);
    checkAffineGradients(layer, [2, 1, 6, 6], random);
  });

  it('SO3Convolution: input, weight and bias, b 4 -> 3 and 3 -> 4', () => {
    const random = new Random(23);
    const grid = so3NearIdentityGrid({ nAlpha: 3, nBeta: 2, nGamma: 3 });
    checkAffineGradients(new SO3Convolution(2, 3, 4, 3, grid, random), [2, 2, 8, 8, 8], random);
    checkAffineGradients(new SO3Convolution(3, 2, 3, 4, grid, random), [1, 3, 6, 6, 6], random);
  });

  it('SO3ToS2: input, weight and bias, b 4 -> 5 and 4 -> 3', () => {
    const random = new Random(24);
    const grid = so3NearIdentityGrid({ nAlpha: 3, nBeta: 2, nGamma: 3 });
    checkAffineGradients(new SO3ToS2(2, 3, 4, 5, grid, random), [2, 2, 8, 8, 8], random);
    checkAffineGradients(new SO3ToS2(2, 2, 4, 3, grid, random), [1, 2, 8, 8, 8], random);
  });

  it('SO3Integrate: input', () => {
    const random = new Random(25);
    const b = 3;
    const input = new Tensor(normals(random, 2 * 2 * (2 * b) ** 3), [2, 2, 6, 6, 6], true);
    const seed = normals(random, 4);
    backward(new SO3Integrate().forward(input), seed);
    const q = so3QuadratureWeights(b);
    const grad = input.grad!;
    for (let s = 0; s < 4; s++) {
      for (let g = 0; g < 216; g += 7) {
        assert.ok(Math.abs(grad[s * 216 + g] - seed[s] * q[Math.floor(g / 36)]) <= 1e-7);
      }
    }
  });

  it('a central finite difference on one weight of SO3Convolution followed by a square', () => {
    // A non-linear scalar loss: sum(out^2) / 2, whose gradient seed is out itself.
    const random = new Random(26);
    const grid = so3NearIdentityGrid({ nAlpha: 2, nBeta: 1 });
    const layer = new SO3Convolution(1, 2, 3, 3, grid, random);
    const input = fromArray(normals(random, 216), [1, 1, 6, 6, 6]);
    const loss = (): number => {
      const out = noGrad(() => layer.forward(input));
      return out.data.reduce((sum, v) => sum + v * v, 0) / 2;
    };
    const out = layer.forward(input);
    backward(out, Float32Array.from(out.data));
    const index = 3;
    const h = 1e-2;
    const saved = layer.weight.data[index];
    layer.weight.data[index] = saved + h;
    const plus = loss();
    layer.weight.data[index] = saved - h;
    const minus = loss();
    layer.weight.data[index] = saved;
    const numeric = (plus - minus) / (2 * h);
    const analytic = layer.weight.grad![index];
    assert.ok(Math.abs(numeric - analytic) <= 1e-3 * (Math.abs(analytic) + 1e-3),
      `finite difference ${numeric}, backward ${analytic}`);
  });
});

describe('SO3Shortcut', () => {
  it('is the identity when nothing changes, else a one-point SO3Convolution', () => {
    const random = new Random(27);
    const same = new SO3Shortcut(3, 3, 4, 4, random);
    const x = fromArray(normals(random, 3 * 512), [1, 3, 8, 8, 8]);
    assert.equal(same.forward(x), x);
    assert.equal(same.parameterCount(), 0);

    const change = new SO3Shortcut(3, 2, 4, 3, random);
    assert.equal(change.parameterCount(), 3 * 2 + 2);
    const out = noGrad(() => change.forward(x));
    assert.deepEqual(out.shape, [1, 2, 6, 6, 6]);
    // One identity kernel point: out_c'(R) = scaling sum_c psi[c, c'] F_c^(l<3)(R).
    const conv = change.convolution!;
    const spectrum = so3Forward(Float64Array.from(x.data), 3, 4, 3);
    const g = { alpha: gridAlphas(3)[1], beta: gridBetas(3)[4], gamma: gridAlphas(3)[5] };
    let expected = 0;
    for (let c = 0; c < 3; c++) {
      expected += conv.scaling * conv.weight.data[c * 2 + 1] * evaluateSo3(spectrum, 3, c, 3, g);
    }
    const value = out.data[216 + (4 * 6 + 1) * 6 + 5];
    assert.ok(Math.abs(value - expected) <= 1e-4 * maxAbs(out.data), `${value} vs ${expected}`);
  });
});
