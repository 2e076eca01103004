import { gridPoints } from './grid.js';
import type { Matrix3 } from './rotation.js';

/**
 * Stereographic projection of a planar image onto the SOFT grid (paper notes section 3, with the
 * SOFT grid in place of the reference code's half-cell-shifted one and true bilinear
 * interpolation in place of its ix-1 / ix+1 stencil).
 *
 * Geometry, for a grid point p = (sin b cos a, sin b sin a, cos b) on the unit sphere:
 *  1. Optionally rotate it: p' = R p. The sample at p reads the image at R p, so the spherical
 *     signal is the unrotated one rotated by R^-1: f_R(p) = f(R p) = (L_{R^-1} f)(p).
 *  2. Place the sphere on the plane z = 0, touching it with its south pole (centre (0, 0, 1)), and
 *     project from the north pole (0, 0, 2) onto that plane:
 *       q = 2 (p'_x, p'_y) / (1 - p'_z).
 *     The reference code puts the projection centre 1e-3 above the north pole to avoid a division
 *     by zero at a pole sample; the SOFT grid has none, so the exact pole is used here (the two
 *     differ by a 0.05 % change of scale). A point at the north pole itself gets value 0.
 *  3. The square [-1.5, 1.5]^2 of the plane (3 sphere radii wide) is mapped linearly onto the
 *     image: the first image axis (rows) runs along x and the second (columns) along y, as in
 *     the reference code, and pixel (r, c) is centred at
 *       q = (3 (r + 1/2) / height - 1.5, 3 (c + 1/2) / width - 1.5),
 *     so the image centre lands exactly on the south pole. In pixel units,
 *       u = height (q_x + 1.5) / 3 - 1/2,   v = width (q_y + 1.5) / 3 - 1/2.
 *  4. Bilinear interpolation between pixels floor(u), floor(u) + 1 and floor(v), floor(v) + 1;
 *     pixels outside the image count as 0.
 *
 * The image edge midpoints lie 2 atan(0.75) = 73.7 degrees from the south pole, the corners about
 * 93 degrees; the northern cap stays 0.
 */

/** Side of the square of the tangent plane that the image covers, in sphere radii. */
export const IMAGE_SQUARE_SIDE = 3;

/**
 * Precomputed projection geometry for one bandwidth, image size and rotation: for each of the
 * (2b)^2 grid points (stored [beta, alpha]) the four bilinear taps. Taps that fall outside the
 * image have weight 0 (and index 0), so applying a stencil needs no bounds checks.
 */
export interface ProjectionStencil {
  bandwidth: number;
  height: number;
  width: number;
  /** [(2b)^2, 4] pixel indices row * width + col into a [height, width] image. */
  indices: Int32Array;
  /** [(2b)^2, 4] bilinear weights. */
  weights: Float64Array;
}

const gridCache = new Map<number, Float64Array>();

/**
 * Plane coordinates q = (q_x, q_y) of the stereographic projection of the unit vector (x, y, z)
 * from the north pole onto the plane tangent at the south pole (section 3, step 2). Returns
 * [Infinity, Infinity] at the north pole.
 */
export function stereographicPlanePoint(x: number, y: number, z: number): [number, number] {
  const denominator = 1 - z;
  if (!(denominator > 1e-15)) return [Infinity, Infinity];
  return [(2 * x) / denominator, (2 * y) / denominator];
}

/** Inverse of stereographicPlanePoint: the unit vector that projects to (q_x, q_y). */
export function planePointToSphere(qx: number, qy: number): [number, number, number] {
  const r2 = qx * qx + qy * qy;
  return [(4 * qx) / (r2 + 4), (4 * qy) / (r2 + 4), (r2 - 4) / (r2 + 4)];
}

/**
 * Continuous pixel coordinates (u = row, v = column; pixel (r, c) is centred at u = r, v = c) of
 * the point of the unit sphere (x, y, z) in a height x width image (section 3, step 3).
 */
export function imageCoordinates(
  x: number,
  y: number,
  z: number,
  height: number,
  width: number,
): [number, number] {
  const [qx, qy] = stereographicPlanePoint(x, y, z);
  const half = IMAGE_SQUARE_SIDE / 2;
  return [
    (height * (qx + half)) / IMAGE_SQUARE_SIDE - 0.5,
    (width * (qy + half)) / IMAGE_SQUARE_SIDE - 0.5,
  ];
}

/**
 * The projection stencil of a height x width image onto the SOFT grid of `bandwidth`, optionally
 * rotated: the sample at grid point p reads the image at `rotation` p (so the signal is rotated by
 * rotation^-1). Cost O((2b)^2). `reuse`, a stencil of the same bandwidth and image size, is
 * overwritten and returned instead of allocating a new one.
 */
export function projectionStencil(
  bandwidth: number,
  height: number,
  width: number,
  rotation?: Matrix3,
  reuse?: ProjectionStencil,
): ProjectionStencil {
  const points = cachedGridPoints(bandwidth);
  const pointCount = points.length / 3;
  const fits = reuse !== undefined && reuse.bandwidth === bandwidth && reuse.height === height
    && reuse.width === width;
  const indices = fits ? reuse.indices.fill(0) : new Int32Array(pointCount * 4);
  const weights = fits ? reuse.weights.fill(0) : new Float64Array(pointCount * 4);
  const r = rotation;
  const half = IMAGE_SQUARE_SIDE / 2;

  for (let p = 0; p < pointCount; p++) {
    let x = points[3 * p];
    let y = points[3 * p + 1];
    let z = points[3 * p + 2];
    if (r !== undefined) {
      const rx = r[0] * x + r[1] * y + r[2] * z;
      const ry = r[3] * x + r[4] * y + r[5] * z;
      z = r[6] * x + r[7] * y + r[8] * z;
      x = rx;
      y = ry;
    }

    // Steps 2 and 3, inlined from imageCoordinates (this loop runs once per sample).
    const scale = 2 / (1 - z);
    if (!(scale < Infinity)) continue;
    const u = (height * (x * scale + half)) / IMAGE_SQUARE_SIDE - 0.5;
    const v = (width * (y * scale + half)) / IMAGE_SQUARE_SIDE - 0.5;
    if (!(u > -1 && u < height && v > -1 && v < width)) continue;

    // Bilinear taps (r0, c0), (r0, c0 + 1), (r0 + 1, c0), (r0 + 1, c0 + 1).
    const r0 = Math.floor(u);
    const c0 = Math.floor(v);
    const fr = u - r0;
    const fc = v - c0;
    for (let dr = 0; dr < 2; dr++) {
      const row = r0 + dr;
      if (row < 0 || row >= height) continue;
      const rowWeight = dr === 0 ? 1 - fr : fr;
      for (let dc = 0; dc < 2; dc++) {
        const col = c0 + dc;
        if (col < 0 || col >= width) continue;
        const tap = 4 * p + 2 * dr + dc;
        indices[tap] = row * width + col;
        weights[tap] = rowWeight * (dc === 0 ? 1 - fc : fc);
      }
    }
  }

  return { bandwidth, height, width, indices, weights };
}

/**
 * Applies a stencil to one image (height * width values starting at `offset` of `image`, row-major)
 * and returns the (2b)^2 spherical samples, stored [beta, alpha].
 */
export function applyStencil(
  stencil: ProjectionStencil,
  image: ArrayLike<number>,
  offset = 0,
  out = new Float64Array(stencil.indices.length / 4),
): Float64Array {
  const { indices, weights } = stencil;
  for (let p = 0; p < out.length; p++) {
    const t = 4 * p;
    out[p] =
      weights[t] * image[offset + indices[t]] +
      weights[t + 1] * image[offset + indices[t + 1]] +
      weights[t + 2] * image[offset + indices[t + 2]] +
      weights[t + 3] * image[offset + indices[t + 3]];
  }
  return out;
}

/**
 * Projects a height x width image (row-major, any numeric scale) onto the SOFT grid of
 * `bandwidth`, optionally rotated as in projectionStencil. Returns Float64Array [2b, 2b] in the
 * image's units (no normalisation).
 */
export function projectImage(
  image: ArrayLike<number>,
  height: number,
  width: number,
  bandwidth: number,
  rotation?: Matrix3,
): Float64Array {
  if (image.length !== height * width) {
    throw new RangeError(
      `projectImage: image has ${image.length} values, expected ${height}x${width}`,
    );
  }
  return applyStencil(projectionStencil(bandwidth, height, width, rotation), image);
}

function cachedGridPoints(bandwidth: number): Float64Array {
  let points = gridCache.get(bandwidth);
  if (points === undefined) {
    points = gridPoints(bandwidth);
    gridCache.set(bandwidth, points);
  }
  return points;
}
