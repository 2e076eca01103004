import assert from 'node:assert/strict';
import { test } from 'node:test';

import { s2CoefficientCount, s2CoefficientIndex } from '../../src/harmonic/indexing.js';
import { s2Forward, s2ForwardAdjoint, s2Inverse,
  s2InverseAdjoint } from '../../src/harmonic/s2-transform.js';
import { gridAlphas, gridBetas, s2QuadratureWeights } from '../../src/sphere/grid.js';
import { Random } from '../../src/util/random.js';
import { dot, evaluateS2, maxAbs, maxAbsDiff, randomArray, randomSpectrum, realInner,
  realS2Spectrum } from './helpers.js';

test('inverse matches direct evaluation of sum (2l+1) f^l_m d^l_m0 e^{i m alpha}', (t) => {
  const random = new Random(1);
  const L = 5;
  const b = 6;
  const S = 2;
  const spectrum = realS2Spectrum(Float64Array, L, S, random);
  const grid = s2Inverse(spectrum, S, L, b);
  const betas = gridBetas(b);
  const alphas = gridAlphas(b);
  let worst = 0;
  for (let s = 0; s < S; s++) {
    for (let j = 0; j < 2 * b; j++) {
      for (let k = 0; k < 2 * b; k += 3) {
        const [re] = evaluateS2(spectrum, S, s, L, betas[j], alphas[k]);
        worst = Math.max(worst, Math.abs(grid[(s * 2 * b + j) * 2 * b + k] - re));
      }
    }
  }
  t.diagnostic(`max error ${worst.toExponential(2)}`);
  assert.ok(worst < 1e-12, `max error ${worst}`);
});

test('known answers: z = cos(beta) and x = sin(beta) cos(alpha), and f^0_0 = area mean', () => {
  const b = 4;
  const betas = gridBetas(b);
  const alphas = gridAlphas(b);
  const n = 2 * b;
  const grid = new Float64Array(2 * n * n);
  for (let j = 0; j < n; j++) {
    for (let k = 0; k < n; k++) {
      grid[j * n + k] = Math.cos(betas[j]) + 2;
      grid[n * n + j * n + k] = Math.sin(betas[j]) * Math.cos(alphas[k]);
    }
  }
  const f = s2Forward(grid, 2, b, b);
  const at = (l: number, m: number, s: number): [number, number] =>
    [f.re[s2CoefficientIndex(l, m) * 2 + s], f.im[s2CoefficientIndex(l, m) * 2 + s]];
  // cos(beta) + 2 = 3 f^1_0 d^1_00 + f^0_0  =>  f^1_0 = 1/3, f^0_0 = 2.
  assert.ok(Math.abs(at(0, 0, 0)[0] - 2) < 1e-14);
  assert.ok(Math.abs(at(1, 0, 0)[0] - 1 / 3) < 1e-14);
  // sin(beta) cos(alpha) = 3 (f^1_1 d^1_10 e^{i alpha} + f^1_-1 d^1_-10 e^{-i alpha}) with
  // d^1_10 = -sin/sqrt2, d^1_-10 = +sin/sqrt2  =>  f^1_1 = -sqrt2/6, f^1_-1 = +sqrt2/6.
  assert.ok(Math.abs(at(1, 1, 1)[0] + Math.SQRT2 / 6) < 1e-14);
  assert.ok(Math.abs(at(1, -1, 1)[0] - Math.SQRT2 / 6) < 1e-14);
  let others = 0;
  for (let l = 0; l < b; l++) {
    for (let m = -l; m <= l; m++) {
      const [re0, im0] = at(l, m, 0);
      const [re1, im1] = at(l, m, 1);
      if (!(l === 0 && m === 0) && !(l === 1 && m === 0)) others = Math.max(others, Math.abs(re0));
      if (!(l === 1 && Math.abs(m) === 1)) others = Math.max(others, Math.abs(re1));
      others = Math.max(others, Math.abs(im0), Math.abs(im1));
    }
  }
  assert.ok(others < 1e-14, `spurious coefficient ${others}`);

  // f^0_0 of an arbitrary grid is its area-weighted mean.
  const random = new Random(2);
  const noise = randomArray(Float64Array, n * n, random);
  const w = s2QuadratureWeights(b);
  let mean = 0;
  for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) mean += w[j] * noise[j * n + k];
  assert.ok(Math.abs(s2Forward(noise, 1, b, 1).re[0] - mean) < 1e-14);
});

test('coefficient -> grid -> coefficient is the identity in float64 (bandwidth changes)', (t) => {
  const random = new Random(3);
  let worst = 0;
  for (const [L, bOut] of [[1, 1], [4, 4], [5, 9], [12, 12], [10, 16]]) {
    const S = 3;
    const spectrum = realS2Spectrum(Float64Array, L, S, random);
    const back = s2Forward(s2Inverse(spectrum, S, L, bOut), S, bOut, L);
    worst = Math.max(worst, maxAbsDiff(back.re, spectrum.re), maxAbsDiff(back.im, spectrum.im));
  }
  t.diagnostic(`max error ${worst.toExponential(2)}`);
  assert.ok(worst < 1e-12, `max error ${worst}`);
});

test('forward truncation keeps exactly the low degrees of a band-limited grid', () => {
  const random = new Random(4);
  const S = 2;
  const full = realS2Spectrum(Float64Array, 8, S, random);
  const grid = s2Inverse(full, S, 8, 8);
  const low = s2Forward(grid, S, 8, 5);
  const expected = full.re.subarray(0, s2CoefficientCount(5) * S);
  assert.ok(maxAbsDiff(low.re, expected) < 1e-12);
  assert.ok(maxAbsDiff(low.im, full.im.subarray(0, s2CoefficientCount(5) * S)) < 1e-12);
});

test('float32 round trip is accurate to ~1e-5 relative and matches float64', (t) => {
  const random = new Random(5);
  const L = 10;
  const b = 12;
  const S = 4;
  const spectrum64 = realS2Spectrum(Float64Array, L, S, random);
  const spectrum32 = { re: Float32Array.from(spectrum64.re), im: Float32Array.from(spectrum64.im) };
  const grid32 = s2Inverse(spectrum32, S, L, b);
  assert.ok(grid32 instanceof Float32Array);
  const grid64 = s2Inverse(spectrum64, S, L, b);
  const gridError = maxAbsDiff(grid32, grid64) / maxAbs(grid64);
  const back = s2Forward(grid32, S, b, L);
  assert.ok(back.re instanceof Float32Array);
  const error = Math.max(maxAbsDiff(back.re, spectrum64.re), maxAbsDiff(back.im, spectrum64.im))
    / maxAbs(spectrum64.re);
  t.diagnostic(`relative errors: grid ${gridError.toExponential(2)}, `
    + `round trip ${error.toExponential(2)}`);
  assert.ok(gridError < 1e-5, `grid error ${gridError}`);
  assert.ok(error < 1e-5, `round trip error ${error}`);
});

test('adjoint identities of the forward and inverse transforms (float64)', (t) => {
  const random = new Random(6);
  let worst = 0;
  for (const [L, b] of [[3, 3], [4, 7], [9, 10]]) {
    const S = 2;
    const n = S * 4 * b * b;
    // <A x, g> = <x, Re A^H g> for real x and complex g (no symmetry).
    const x = randomArray(Float64Array, n, random);
    const g = randomSpectrum(Float64Array, s2CoefficientCount(L), S, random);
    const lhs = realInner(s2Forward(x, S, b, L), g);
    const rhs = dot(x, s2ForwardAdjoint(g, S, b, L));
    // <Re B z, y> = Re <z, B^H y> for complex z (no symmetry) and real y.
    const z = randomSpectrum(Float64Array, s2CoefficientCount(L), S, random);
    const y = randomArray(Float64Array, n, random);
    const lhs2 = dot(s2Inverse(z, S, L, b), y);
    const rhs2 = realInner(z, s2InverseAdjoint(y, S, L, b));
    worst = Math.max(worst, Math.abs(lhs - rhs) / Math.abs(lhs),
      Math.abs(lhs2 - rhs2) / Math.abs(lhs2));
  }
  t.diagnostic(`max relative mismatch ${worst.toExponential(2)}`);
  assert.ok(worst < 1e-12, `mismatch ${worst}`);
});

test('shape errors are reported', () => {
  assert.throws(() => s2Forward(new Float64Array(10), 1, 2, 2), RangeError);
  assert.throws(() => s2Forward(new Float64Array(16), 1, 2, 3), RangeError);
  assert.throws(() => s2Inverse({ re: new Float64Array(4), im: new Float64Array(3) }, 1, 2, 2),
    RangeError);
});
