import { gridPoints } from './grid.js';
import type { Matrix3 } from './rotation.js';

/**
 * Rotating spherical images on the SOFT grid by interpolation in (beta, alpha).
 *
 * This is a convenience for users (looking at a rotated sample, quick checks). It is not exact:
 * bilinear interpolation smooths the signal a little and its error shrinks like the grid spacing
 * squared. The exact rotation of a band-limited signal is spectral, F^l <- D^l(R) F^l
 * (src/harmonic/rotate.ts); use that wherever equivariance is measured.
 *
 * Convention (left action, as in the notes' transforms section 1.1): rotating f by R gives
 *   (L_R f)(x) = f(R^-1 x).
 * A rotation about z by 2 pi m / (2b) therefore rolls the alpha axis by m: g[j][k] = f[j][k - m],
 * exactly.
 *
 * Interpolation: the fractional grid indices of a point (beta, alpha) are
 *   t = 2b beta / pi - 1/2 (rows, beta_j = pi (2j + 1) / (4b)),   s = b alpha / pi (columns),
 * bilinear between rows floor(t), floor(t) + 1 and columns floor(s), floor(s) + 1. Alpha is
 * periodic. Across a pole the rows continue on the far side of the sphere: row -1 is row 0 turned
 * by pi in alpha (column k + b), and row 2b is row 2b - 1 turned by pi, because the point
 * (-beta, alpha) is the point (beta, alpha + pi). Fractional indices within 1e-9 of an integer
 * are snapped to it, so rotations that map the grid onto itself permute samples exactly.
 */

/** Interpolation taps of a resampling: four per output grid point, stored [beta, alpha]. */
export interface ResampleStencil {
  bandwidth: number;
  /** [(2b)^2, 4] indices j * 2b + k into a [2b, 2b] image. */
  indices: Int32Array;
  /** [(2b)^2, 4] bilinear weights, summing to 1 for each output point. */
  weights: Float64Array;
}

const SNAP = 1e-9;

/**
 * The stencil that evaluates, at every grid point x, the bilinear interpolant of an image at
 * `rotation`^-1 x; applying it rotates the image by `rotation`.
 */
export function resampleStencil(bandwidth: number, rotation: Matrix3): ResampleStencil {
  const n = 2 * bandwidth;
  const points = gridPoints(bandwidth);
  const indices = new Int32Array(n * n * 4);
  const weights = new Float64Array(n * n * 4);
  const r = rotation;

  for (let p = 0; p < n * n; p++) {
    const x = points[3 * p];
    const y = points[3 * p + 1];
    const z = points[3 * p + 2];

    // R^-1 x = R^T x.
    const qx = r[0] * x + r[3] * y + r[6] * z;
    const qy = r[1] * x + r[4] * y + r[7] * z;
    const qz = r[2] * x + r[5] * y + r[8] * z;
    const beta = Math.acos(Math.max(-1, Math.min(1, qz)));
    writeTaps(bandwidth, beta, Math.atan2(qy, qx), indices, weights, 4 * p);
  }

  return { bandwidth, indices, weights };
}

/**
 * Rotates spherical images by `rotation` (g(x) = f(R^-1 x)) by bilinear interpolation on the
 * SOFT grid. `images` holds one or more [2b, 2b] maps back to back ([channels, 2b, 2b]); the
 * result has the same layout. Not exact; see the module comment.
 */
export function rotateSphericalImage(
  images: ArrayLike<number>,
  bandwidth: number,
  rotation: Matrix3,
): Float64Array {
  const size = 4 * bandwidth * bandwidth;
  if (images.length === 0 || images.length % size !== 0) {
    throw new RangeError(
      `rotateSphericalImage: ${images.length} values is not a whole number of ${2 * bandwidth}x` +
        `${2 * bandwidth} maps`,
    );
  }
  const stencil = resampleStencil(bandwidth, rotation);
  const out = new Float64Array(images.length);
  for (let offset = 0; offset < images.length; offset += size) {
    applyResampleStencil(stencil, images, offset, out, offset);
  }
  return out;
}

/**
 * Applies a resampling stencil to the [2b, 2b] map starting at `offset` of `image`, writing
 * (2b)^2 values to `out` from `outOffset`.
 */
export function applyResampleStencil(
  stencil: ResampleStencil,
  image: ArrayLike<number>,
  offset = 0,
  out = new Float64Array(stencil.indices.length / 4),
  outOffset = 0,
): Float64Array {
  const { indices, weights } = stencil;
  const count = indices.length / 4;
  for (let p = 0; p < count; p++) {
    const t = 4 * p;
    out[outOffset + p] =
      weights[t] * image[offset + indices[t]] +
      weights[t + 1] * image[offset + indices[t + 1]] +
      weights[t + 2] * image[offset + indices[t + 2]] +
      weights[t + 3] * image[offset + indices[t + 3]];
  }
  return out;
}

/**
 * The bilinear interpolant of one [2b, 2b] map at colatitude `beta` in [0, pi] and longitude
 * `alpha` (radians), with the same pole and periodicity rules as the resampling.
 */
export function sampleSphericalImage(
  image: ArrayLike<number>,
  bandwidth: number,
  beta: number,
  alpha: number,
): number {
  const indices = new Int32Array(4);
  const weights = new Float64Array(4);
  writeTaps(bandwidth, beta, alpha, indices, weights, 0);
  let value = 0;
  for (let tap = 0; tap < 4; tap++) value += weights[tap] * image[indices[tap]];
  return value;
}

/**
 * Writes the four bilinear taps of the point (beta, alpha) into indices/weights from `at`
 * (rows across a pole continue on the far side, alpha is periodic; see the module comment).
 */
function writeTaps(
  bandwidth: number,
  beta: number,
  alpha: number,
  indices: Int32Array,
  weights: Float64Array,
  at: number,
): void {
  const n = 2 * bandwidth;
  const twoPi = 2 * Math.PI;
  const wrapped = ((alpha % twoPi) + twoPi) % twoPi;
  const t = snap((n * beta) / Math.PI - 0.5);
  const s = snap((bandwidth * wrapped) / Math.PI);
  const j0 = Math.floor(t);
  const k0 = Math.floor(s);
  const ft = t - j0;
  const fs = s - k0;

  for (let dj = 0; dj < 2; dj++) {
    let row = j0 + dj;
    let shift = 0;
    if (row < 0) {
      row = 0;
      shift = bandwidth;
    } else if (row >= n) {
      row = n - 1;
      shift = bandwidth;
    }
    const rowWeight = dj === 0 ? 1 - ft : ft;
    for (let dk = 0; dk < 2; dk++) {
      const col = (k0 + dk + shift) % n;
      indices[at + 2 * dj + dk] = row * n + col;
      weights[at + 2 * dj + dk] = rowWeight * (dk === 0 ? 1 - fs : fs);
    }
  }
}

function snap(value: number): number {
  const nearest = Math.round(value);
  return Math.abs(value - nearest) < SNAP ? nearest : value;
}
