import assert from 'node:assert/strict';
import { test } from 'node:test';

import { s2CoefficientCount, so3CoefficientCount } from '../../src/harmonic/indexing.js';
import { rotateS2Spectrum, rotateSo3Spectrum } from '../../src/harmonic/rotate.js';
import { s2Inverse } from '../../src/harmonic/s2-transform.js';
import { so3Inverse } from '../../src/harmonic/so3-transform.js';
import { eulerToMatrix, matrixToEuler, multiply, randomRotation, rotateVector, rotationZ,
  transpose } from '../../src/sphere/rotation.js';
import { Random } from '../../src/util/random.js';
import { evaluateS2, evaluateSo3, maxAbs, maxAbsDiff, randomSpectrum } from './helpers.js';

/** Colatitude and longitude of a unit vector. */
function sphericalAngles(x: Float64Array): { beta: number; alpha: number } {
  return { beta: Math.acos(Math.max(-1, Math.min(1, x[2]))), alpha: Math.atan2(x[1], x[0]) };
}

test('rotated S2 spectrum evaluates to f(Q^-1 x) at random points', (t) => {
  const random = new Random(1);
  const L = 6;
  const S = 2;
  const spectrum = randomSpectrum(Float64Array, s2CoefficientCount(L), S, random);
  let worst = 0;
  for (let trial = 0; trial < 3; trial++) {
    const q = randomRotation(random);
    const rotated = rotateS2Spectrum(spectrum, S, L, q);
    for (let point = 0; point < 6; point++) {
      const x = rotateVector(randomRotation(random), [0, 0, 1]);
      const at = sphericalAngles(x);
      const back = sphericalAngles(rotateVector(transpose(q), x));
      for (let s = 0; s < S; s++) {
        const [re, im] = evaluateS2(rotated, S, s, L, at.beta, at.alpha);
        const [re0, im0] = evaluateS2(spectrum, S, s, L, back.beta, back.alpha);
        worst = Math.max(worst, Math.abs(re - re0), Math.abs(im - im0));
      }
    }
  }
  t.diagnostic(`max error ${worst.toExponential(2)}`);
  assert.ok(worst < 1e-11, `max error ${worst}`);
});

test('rotated SO(3) spectrum evaluates to F(Q^-1 g) at random points', (t) => {
  const random = new Random(2);
  const L = 5;
  const S = 2;
  const spectrum = randomSpectrum(Float64Array, so3CoefficientCount(L), S, random);
  let worst = 0;
  for (let trial = 0; trial < 3; trial++) {
    const q = randomRotation(random);
    const rotated = rotateSo3Spectrum(spectrum, S, L, q);
    for (let point = 0; point < 5; point++) {
      const g = randomRotation(random);
      const at = matrixToEuler(g);
      const back = matrixToEuler(multiply(transpose(q), g));
      for (let s = 0; s < S; s++) {
        const [re, im] = evaluateSo3(rotated, S, s, L, at.alpha, at.beta, at.gamma);
        const [re0, im0] = evaluateSo3(spectrum, S, s, L, back.alpha, back.beta, back.gamma);
        worst = Math.max(worst, Math.abs(re - re0), Math.abs(im - im0));
      }
    }
  }
  t.diagnostic(`max error ${worst.toExponential(2)}`);
  assert.ok(worst < 1e-11, `max error ${worst}`);
});

test('rotation about z by a grid step rolls the synthesised grid (S2, SO(3), float32)', () => {
  const random = new Random(3);
  const b = 5;
  const L = 4;
  const n = 2 * b;
  const shift = 3;
  const q = rotationZ((2 * Math.PI * shift) / n);

  const s2 = randomSpectrum(Float64Array, s2CoefficientCount(L), 1, random);
  const s2Grid = s2Inverse(s2, 1, L, b);
  const s2Rotated = s2Inverse(rotateS2Spectrum(s2, 1, L, q), 1, L, b);
  const s2Rolled = new Float64Array(n * n);
  // f(Q^-1 x) at alpha_k is f at alpha_{k - shift}.
  for (let j = 0; j < n; j++) {
    for (let k = 0; k < n; k++) s2Rolled[j * n + k] = s2Grid[j * n + ((k - shift + n) % n)];
  }
  assert.ok(maxAbsDiff(s2Rotated, s2Rolled) < 1e-12);

  const so3 = randomSpectrum(Float64Array, so3CoefficientCount(L), 1, random);
  const so3_32 = { re: Float32Array.from(so3.re), im: Float32Array.from(so3.im) };
  const grid = so3Inverse(so3_32, 1, L, b);
  const rotated = so3Inverse(rotateSo3Spectrum(so3_32, 1, L, q), 1, L, b);
  assert.ok(rotated instanceof Float32Array);
  const rolled = new Float32Array(n * n * n);
  for (let j = 0; j < n; j++) {
    for (let k = 0; k < n; k++) {
      for (let p = 0; p < n; p++) {
        rolled[(j * n + k) * n + p] = grid[(j * n + ((k - shift + n) % n)) * n + p];
      }
    }
  }
  assert.ok(maxAbsDiff(rotated, rolled) < 1e-5 * maxAbs(grid));
});

test('rotations compose, also for rotations within 1e-9 of the poles', (t) => {
  const random = new Random(4);
  const L = 6;
  const spectrum = randomSpectrum(Float64Array, so3CoefficientCount(L), 3, random);
  const q1 = randomRotation(random);
  let worst = 0;
  for (const beta of [0, 1e-12, 1e-9, 1e-5, 1.3, Math.PI - 1e-9, Math.PI]) {
    const q2 = eulerToMatrix({ alpha: 0.2, beta, gamma: 2.9 });
    const twice = rotateSo3Spectrum(rotateSo3Spectrum(spectrum, 3, L, q1), 3, L, q2);
    const once = rotateSo3Spectrum(spectrum, 3, L, multiply(q2, q1));
    worst = Math.max(worst, maxAbsDiff(twice.re, once.re), maxAbsDiff(twice.im, once.im));
  }
  t.diagnostic(`max error ${worst.toExponential(2)}`);
  assert.ok(worst < 1e-12, `max error ${worst}`);
});
