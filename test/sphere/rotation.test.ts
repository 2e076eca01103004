import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  eulerToMatrix, matrixToEuler, multiply, randomRotation, rotateVector, rotationY, rotationZ,
  transpose,
} from '../../src/sphere/rotation.js';
import { Random } from '../../src/util/random.js';

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

test('Rz and Ry rotate the axes actively', () => {
  const x = rotateVector(rotationZ(Math.PI / 2), [1, 0, 0]);
  assert.ok(maxDifference(x, [0, 1, 0]) < 1e-15);
  const z = rotateVector(rotationY(Math.PI / 2), [0, 0, 1]);
  assert.ok(maxDifference(z, [1, 0, 0]) < 1e-15);
});

test('R(alpha, beta, gamma) e_z is the point (beta, alpha)', () => {
  const r = eulerToMatrix({ alpha: 0.7, beta: 1.1, gamma: 2.9 });
  const p = rotateVector(r, [0, 0, 1]);
  const expected = [Math.sin(1.1) * Math.cos(0.7), Math.sin(1.1) * Math.sin(0.7), Math.cos(1.1)];
  assert.ok(maxDifference(p, expected) < 1e-15);
});

test('Euler angles round-trip, also next to the poles', () => {
  const random = new Random(3);
  const cases = [1e-9, 1e-5, 0.3, 1.5, 3.0, Math.PI - 1e-7];
  for (const beta of cases) {
    const angles = { alpha: random.uniformIn(0, 2 * Math.PI), beta, gamma: random.uniformIn(0, 6) };
    const r = eulerToMatrix(angles);
    const back = eulerToMatrix(matrixToEuler(r));
    assert.ok(maxDifference(r, back) < 1e-14, `beta ${beta}: ${maxDifference(r, back)}`);
    assert.ok(Math.abs(matrixToEuler(r).beta - beta) < 1e-13 * Math.max(1, beta / 1e-9));
  }
  const lock = eulerToMatrix({ alpha: 0.4, beta: 0, gamma: 0.5 });
  assert.ok(maxDifference(eulerToMatrix(matrixToEuler(lock)), lock) < 1e-15);
});

test('random rotations are orthogonal with determinant 1 and seeded', () => {
  const a = randomRotation(new Random(11));
  const b = randomRotation(new Random(11));
  assert.deepEqual(a, b);
  const identity = multiply(a, transpose(a));
  assert.ok(maxDifference(identity, [1, 0, 0, 0, 1, 0, 0, 0, 1]) < 1e-14);
  const det = a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6])
    + a[2] * (a[3] * a[7] - a[4] * a[6]);
  assert.ok(Math.abs(det - 1) < 1e-14);
});

test('random rotations are Haar: R e_z is uniform on the sphere and trace has the Haar law', () => {
  const random = new Random(5);
  const n = 20000;
  let meanZ = 0;
  let meanZ2 = 0;
  let meanTrace = 0;
  let meanTrace2 = 0;
  for (let i = 0; i < n; i++) {
    const r = randomRotation(random);
    meanZ += r[8] / n;
    meanZ2 += (r[8] * r[8]) / n;
    const trace = r[0] + r[4] + r[8];
    meanTrace += trace / n;
    meanTrace2 += (trace * trace) / n;
  }
  // Uniform z on [-1, 1]: mean 0, second moment 1/3. Haar trace: mean 0, second moment 1.
  assert.ok(Math.abs(meanZ) < 0.02);
  assert.ok(Math.abs(meanZ2 - 1 / 3) < 0.01);
  assert.ok(Math.abs(meanTrace) < 0.03);
  assert.ok(Math.abs(meanTrace2 - 1) < 0.05);
});
