import { Random } from '../util/random.js';

/**
 * Rotations of R^3. Conventions (as in s2cnn and SOFT): ZYZ Euler angles, active rotations,
 *
 *   R(alpha, beta, gamma) = Rz(alpha) Ry(beta) Rz(gamma),
 *
 * alpha, gamma in [0, 2pi), beta in [0, pi]. Matrices are row-major Float64Array(9).
 */
export interface EulerZYZ {
  alpha: number;
  beta: number;
  gamma: number;
}

export type Matrix3 = Float64Array;

export function rotationZ(angle: number): Matrix3 {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  return Float64Array.of(c, -s, 0, s, c, 0, 0, 0, 1);
}

export function rotationY(angle: number): Matrix3 {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  return Float64Array.of(c, 0, s, 0, 1, 0, -s, 0, c);
}

export function multiply(a: Matrix3, b: Matrix3): Matrix3 {
  const out = new Float64Array(9);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      out[3 * i + j] = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j];
    }
  }
  return out;
}

export function transpose(a: Matrix3): Matrix3 {
  return Float64Array.of(a[0], a[3], a[6], a[1], a[4], a[7], a[2], a[5], a[8]);
}

/** R = Rz(alpha) Ry(beta) Rz(gamma). */
export function eulerToMatrix(angles: EulerZYZ): Matrix3 {
  const zy = multiply(rotationZ(angles.alpha), rotationY(angles.beta));
  return multiply(zy, rotationZ(angles.gamma));
}

/**
 * Inverse of eulerToMatrix, with alpha, gamma in [0, 2pi). beta comes from atan2 rather than
 * acos(R33), which would lose half the digits near the poles. At beta = 0 or pi only alpha + gamma
 * (or alpha - gamma) is defined; gamma is then set to 0.
 */
export function matrixToEuler(r: Matrix3): EulerZYZ {
  const sinBeta = Math.hypot(r[2], r[5]);
  const beta = Math.atan2(sinBeta, r[8]);
  const wrap = (angle: number): number => {
    const twoPi = 2 * Math.PI;
    const a = angle % twoPi;
    return a < 0 ? a + twoPi : a;
  };

  if (sinBeta < 1e-12) {
    // Gimbal lock: the upper-left 2x2 block is a rotation by alpha + gamma (beta = 0) or
    // minus a rotation by alpha - gamma (beta = pi).
    const alpha = r[8] > 0 ? Math.atan2(r[3], r[0]) : Math.atan2(-r[3], -r[0]);
    return { alpha: wrap(alpha), beta, gamma: 0 };
  }

  const alpha = Math.atan2(r[5], r[2]);
  const gamma = Math.atan2(r[7], -r[6]);
  return { alpha: wrap(alpha), beta, gamma: wrap(gamma) };
}

/** out = R x for a 3-vector. */
export function rotateVector(
  r: Matrix3, x: ArrayLike<number>, out = new Float64Array(3),
): Float64Array {
  const x0 = x[0];
  const x1 = x[1];
  const x2 = x[2];
  out[0] = r[0] * x0 + r[1] * x1 + r[2] * x2;
  out[1] = r[3] * x0 + r[4] * x1 + r[5] * x2;
  out[2] = r[6] * x0 + r[7] * x1 + r[8] * x2;
  return out;
}

/**
 * A rotation drawn from the Haar (uniform) measure on SO(3): a uniform random unit quaternion,
 * from four standard normals (Shoemake's method, equivalent in law).
 */
export function randomRotation(random: Random): Matrix3 {
  let w = 0;
  let x = 0;
  let y = 0;
  let z = 0;
  let norm = 0;
  while (norm < 1e-12) {
    w = random.normal();
    x = random.normal();
    y = random.normal();
    z = random.normal();
    norm = Math.hypot(w, x, y, z);
  }
  w /= norm;
  x /= norm;
  y /= norm;
  z /= norm;
  return Float64Array.of(
    1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
    2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
    2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
  );
}

/** Haar-random Euler angles. */
export function randomEuler(random: Random): EulerZYZ {
  return matrixToEuler(randomRotation(random));
}

export const IDENTITY: Matrix3 = Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1);
