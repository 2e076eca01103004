import assert from 'node:assert/strict';
import { test } from 'node:test';

import { so3CoefficientCount, so3CoefficientIndex } from '../../src/harmonic/indexing.js';
import { so3Forward, so3ForwardAdjoint, so3Inverse,
  so3InverseAdjoint } from '../../src/harmonic/so3-transform.js';
import { gridAlphas, gridBetas, so3QuadratureWeights } from '../../src/sphere/grid.js';
import { eulerToMatrix } from '../../src/sphere/rotation.js';
import { Random } from '../../src/util/random.js';
import { dot, evaluateSo3, maxAbs, maxAbsDiff, randomArray, randomSpectrum, realInner,
  realSo3Spectrum } from './helpers.js';

/** Fills a grid [2b]^3 (beta, alpha, gamma) with f(rotation matrix). */
function gridOf(b: number, f: (r: Float64Array) => number): Float64Array {
  const n = 2 * b;
  const betas = gridBetas(b);
  const angles = gridAlphas(b);
  const grid = new Float64Array(n * n * n);
  for (let j = 0; j < n; j++) {
    for (let k = 0; k < n; k++) {
      for (let p = 0; p < n; p++) {
        const r = eulerToMatrix({ alpha: angles[k], beta: betas[j], gamma: angles[p] });
        grid[(j * n + k) * n + p] = f(r);
      }
    }
  }
  return grid;
}

test('inverse matches direct evaluation of sum (2l+1) F^l_mn D^l_mn', (t) => {
  const random = new Random(1);
  const L = 4;
  const b = 5;
  const S = 2;
  const n = 2 * b;
  const spectrum = realSo3Spectrum(Float64Array, L, S, random);
  const grid = so3Inverse(spectrum, S, L, b);
  const betas = gridBetas(b);
  const angles = gridAlphas(b);
  let worst = 0;
  for (let trial = 0; trial < 40; trial++) {
    const s = random.int(S);
    const j = random.int(n);
    const k = random.int(n);
    const p = random.int(n);
    const [re, im] = evaluateSo3(spectrum, S, s, L, angles[k], betas[j], angles[p]);
    assert.ok(Math.abs(im) < 1e-12, 'a real spectrum must give a real signal');
    worst = Math.max(worst, Math.abs(grid[((s * n + j) * n + k) * n + p] - re));
  }
  t.diagnostic(`max error ${worst.toExponential(2)}`);
  assert.ok(worst < 1e-12, `max error ${worst}`);
});

test('F^0_00 is the Haar integral; known answers for matrix entries of R', () => {
  const b = 3;
  const random = new Random(2);
  const n = 2 * b;
  const noise = randomArray(Float64Array, n * n * n, random);
  const q = so3QuadratureWeights(b);
  let integral = 0;
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n * n; i++) integral += q[j] * noise[j * n * n + i];
  }
  assert.ok(Math.abs(so3Forward(noise, 1, b, 1).re[0] - integral) < 1e-15);

  // Haar mean of R_11^2 is 1/3; of R_33 = cos(beta) is 0.
  const square = so3Forward(gridOf(b, (r) => r[0] * r[0]), 1, b, b);
  assert.ok(Math.abs(square.re[0] - 1 / 3) < 1e-14, `mean of R_11^2: ${square.re[0]}`);

  // R_33 = cos(beta) = d^1_00 = 3 F^1_00 d^1_00  =>  F^1_00 = 1/3, all other coefficients 0.
  const z = so3Forward(gridOf(b, (r) => r[8]), 1, b, b);
  const at = so3CoefficientIndex(1, 0, 0);
  assert.ok(Math.abs(z.re[at] - 1 / 3) < 1e-14);
  let others = maxAbs(z.im);
  for (let i = 0; i < z.re.length; i++) if (i !== at) others = Math.max(others, Math.abs(z.re[i]));
  assert.ok(others < 1e-14, `spurious coefficient ${others}`);

  // R_13 = sin(beta) cos(alpha) involves d^1_{+-1,0} only, with F^1_{1,0} = -sqrt2/6.
  const x = so3Forward(gridOf(b, (r) => r[2]), 1, b, b);
  assert.ok(Math.abs(x.re[so3CoefficientIndex(1, 1, 0)] + Math.SQRT2 / 6) < 1e-14);
  assert.ok(Math.abs(x.re[so3CoefficientIndex(1, -1, 0)] - Math.SQRT2 / 6) < 1e-14);
  // R_31 = -sin(beta) cos(gamma) involves d^1_{0,+-1}: F^1_{0,1} = -sqrt2/6.
  const y = so3Forward(gridOf(b, (r) => r[6]), 1, b, b);
  assert.ok(Math.abs(y.re[so3CoefficientIndex(1, 0, 1)] + Math.SQRT2 / 6) < 1e-14);
  assert.ok(Math.abs(y.re[so3CoefficientIndex(1, 0, -1)] - Math.SQRT2 / 6) < 1e-14);
});

test('coefficient -> grid -> coefficient is the identity in float64 (bandwidth changes)', (t) => {
  const random = new Random(3);
  let worst = 0;
  for (const [L, bOut] of [[1, 1], [2, 2], [3, 5], [6, 6], [5, 8]]) {
    const S = 3;
    const spectrum = realSo3Spectrum(Float64Array, L, S, random);
    const back = so3Forward(so3Inverse(spectrum, S, L, bOut), S, bOut, L);
    worst = Math.max(worst, maxAbsDiff(back.re, spectrum.re), maxAbsDiff(back.im, spectrum.im));
  }
  t.diagnostic(`max error ${worst.toExponential(2)}`);
  assert.ok(worst < 1e-12, `max error ${worst}`);
});

test('forward truncation keeps exactly the low degrees of a band-limited grid', () => {
  const random = new Random(4);
  const S = 2;
  const full = realSo3Spectrum(Float64Array, 7, S, random);
  const grid = so3Inverse(full, S, 7, 7);
  const low = so3Forward(grid, S, 7, 4);
  const count = so3CoefficientCount(4) * S;
  assert.ok(maxAbsDiff(low.re, full.re.subarray(0, count)) < 1e-12);
  assert.ok(maxAbsDiff(low.im, full.im.subarray(0, count)) < 1e-12);
});

test('float32 round trip is accurate to ~1e-5 relative and matches float64', (t) => {
  const random = new Random(5);
  const L = 6;
  const b = 8;
  const S = 3;
  const spectrum64 = realSo3Spectrum(Float64Array, L, S, random);
  const spectrum32 = { re: Float32Array.from(spectrum64.re), im: Float32Array.from(spectrum64.im) };
  const grid32 = so3Inverse(spectrum32, S, L, b);
  assert.ok(grid32 instanceof Float32Array);
  const grid64 = so3Inverse(spectrum64, S, L, b);
  const gridError = maxAbsDiff(grid32, grid64) / maxAbs(grid64);
  const back = so3Forward(grid32, S, b, L);
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
  for (const [L, b] of [[2, 2], [3, 5], [6, 6]]) {
    const S = 2;
    const n = S * (2 * b) ** 3;
    const x = randomArray(Float64Array, n, random);
    const g = randomSpectrum(Float64Array, so3CoefficientCount(L), S, random);
    const lhs = realInner(so3Forward(x, S, b, L), g);
    const rhs = dot(x, so3ForwardAdjoint(g, S, b, L));
    const z = randomSpectrum(Float64Array, so3CoefficientCount(L), S, random);
    const y = randomArray(Float64Array, n, random);
    const lhs2 = dot(so3Inverse(z, S, L, b), y);
    const rhs2 = realInner(z, so3InverseAdjoint(y, S, L, b));
    worst = Math.max(worst, Math.abs(lhs - rhs) / Math.abs(lhs),
      Math.abs(lhs2 - rhs2) / Math.abs(lhs2));
  }
  t.diagnostic(`max relative mismatch ${worst.toExponential(2)}`);
  assert.ok(worst < 1e-12, `mismatch ${worst}`);
});

test('shape errors are reported', () => {
  assert.throws(() => so3Forward(new Float64Array(63), 1, 2, 2), RangeError);
  assert.throws(() => so3Inverse({ re: new Float64Array(10), im: new Float64Array(9) }, 1, 2, 2),
    RangeError);
});
