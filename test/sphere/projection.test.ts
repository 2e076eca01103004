import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { gridAlphas, gridBetas, gridPoints, s2QuadratureWeights } from '../../src/sphere/grid.js';
import {
  imageCoordinates,
  planePointToSphere,
  projectImage,
  projectionStencil,
  stereographicPlanePoint,
} from '../../src/sphere/projection.js';
import { randomRotation, rotateVector, rotationZ, transpose } from '../../src/sphere/rotation.js';
import { Random } from '../../src/util/random.js';

const SIDE = 28;

/** Pixel coordinates of grid point (j, k), straight from the formulas of paper section 3. */
function expectedUV(beta: number, alpha: number, side: number): [number, number] {
  const x = Math.sin(beta) * Math.cos(alpha);
  const y = Math.sin(beta) * Math.sin(alpha);
  const z = Math.cos(beta);
  // Sphere centred at (0, 0, 1), eye at the north pole (0, 0, 2), plane z = 0.
  const shiftedZ = z + 1;
  const t = -shiftedZ / (shiftedZ - 2);
  const qx = x + t * (x - 0);
  const qy = y + t * (y - 0);
  return [(side * (qx + 1.5)) / 3 - 0.5, (side * (qy + 1.5)) / 3 - 0.5];
}

/** The bilinear interpolant of a constant 1 image, with zeros outside: a product of ramps. */
function coverage(u: number, side: number): number {
  if (u <= -1 || u >= side) return 0;
  if (u < 0) return 1 + u;
  if (u > side - 1) return side - u;
  return 1;
}

describe('stereographic geometry', () => {
  it('maps the south pole to the plane origin and back', () => {
    assert.deepEqual(stereographicPlanePoint(0, 0, -1), [0, 0]);
    const [x, y, z] = planePointToSphere(0.7, -1.2);
    const [qx, qy] = stereographicPlanePoint(x, y, z);
    assert.ok(Math.abs(qx - 0.7) < 1e-14 && Math.abs(qy + 1.2) < 1e-14);
    assert.ok(Math.abs(Math.hypot(x, y, z) - 1) < 1e-15);
  });

  it('puts the image edge midpoints 2 atan(0.75) = 73.7 degrees from the south pole', () => {
    const [, , z] = planePointToSphere(1.5, 0);
    const fromSouthPole = Math.acos(-z);
    assert.ok(Math.abs(fromSouthPole - 2 * Math.atan(0.75)) < 1e-14);
    // That point is the outer edge of the last pixel: u = 28 - 1/2.
    const [x, y] = planePointToSphere(1.5, 0);
    const [u] = imageCoordinates(x, y, z, SIDE, SIDE);
    assert.ok(Math.abs(u - (SIDE - 0.5)) < 1e-12);
  });

  it('centres the image on the south pole', () => {
    const [u, v] = imageCoordinates(0, 0, -1, SIDE, SIDE);
    assert.equal(u, (SIDE - 1) / 2);
    assert.equal(v, (SIDE - 1) / 2);
  });
});

describe('projectImage', () => {
  const bandwidth = 12;
  const n = 2 * bandwidth;
  const betas = gridBetas(bandwidth);
  const alphas = gridAlphas(bandwidth);

  it('is exact bilinear interpolation on a linear ramp, where every grid point lands', () => {
    const image = Float64Array.from({ length: SIDE * SIDE }, (_, i) =>
      2 * Math.floor(i / SIDE) - 3 * (i % SIDE) + 5);
    const sphere = projectImage(image, SIDE, SIDE, bandwidth);
    let inside = 0;
    for (let j = 0; j < n; j++) {
      for (let k = 0; k < n; k++) {
        const [u, v] = expectedUV(betas[j], alphas[k], SIDE);
        if (u < 0 || u > SIDE - 1 || v < 0 || v > SIDE - 1) continue;
        inside++;
        assert.ok(Math.abs(sphere[j * n + k] - (2 * u - 3 * v + 5)) < 1e-10, `at (${j}, ${k})`);
      }
    }
    assert.ok(inside > 100, `only ${inside} grid points inside the image`);
  });

  it('turns a constant image into the expected disc, zero on the northern cap', () => {
    const sphere = projectImage(new Float64Array(SIDE * SIDE).fill(1), SIDE, SIDE, bandwidth);
    for (let j = 0; j < n; j++) {
      for (let k = 0; k < n; k++) {
        const [u, v] = expectedUV(betas[j], alphas[k], SIDE);
        const expected = coverage(u, SIDE) * coverage(v, SIDE);
        assert.ok(Math.abs(sphere[j * n + k] - expected) < 1e-12, `at (${j}, ${k})`);
      }
    }
    // The image corners reach 93 degrees from the south pole, so everything north of 85 degrees
    // colatitude stays 0.
    for (let j = 0; betas[j] < (85 * Math.PI) / 180; j++) {
      for (let k = 0; k < n; k++) assert.equal(sphere[j * n + k], 0, 'northern cap');
    }
    for (let k = 0; k < n; k++) assert.equal(sphere[(n - 1) * n + k], 1, 'row nearest the pole');
  });

  it('centres the disc on the south pole (mirror symmetric, centre of mass along -z)', () => {
    const sphere = projectImage(new Float64Array(SIDE * SIDE).fill(1), SIDE, SIDE, bandwidth);
    const weights = s2QuadratureWeights(bandwidth);
    const points = gridPoints(bandwidth);
    const centre = [0, 0, 0];
    for (let j = 0; j < n; j++) {
      for (let k = 0; k < n; k++) {
        // alpha -> -alpha is y -> -y; alpha -> pi - alpha is x -> -x.
        const value = sphere[j * n + k];
        assert.ok(Math.abs(value - sphere[j * n + ((n - k) % n)]) < 1e-12);
        assert.ok(Math.abs(value - sphere[j * n + ((bandwidth - k + n) % n)]) < 1e-12);
        for (let c = 0; c < 3; c++) centre[c] += weights[j] * value * points[3 * (j * n + k) + c];
      }
    }
    assert.ok(Math.abs(centre[0]) < 1e-14 && Math.abs(centre[1]) < 1e-14);
    assert.ok(centre[2] < -0.1);
  });

  it('sends one pixel to the grid points that the formula puts next to it', () => {
    const row = 20;
    const col = 9;
    const image = new Float64Array(SIDE * SIDE);
    image[row * SIDE + col] = 1;
    const sphere = projectImage(image, SIDE, SIDE, bandwidth);
    for (let j = 0; j < n; j++) {
      for (let k = 0; k < n; k++) {
        const [u, v] = expectedUV(betas[j], alphas[k], SIDE);
        const expected = Math.max(0, 1 - Math.abs(u - row)) * Math.max(0, 1 - Math.abs(v - col));
        assert.ok(Math.abs(sphere[j * n + k] - expected) < 1e-12, `at (${j}, ${k})`);
      }
    }
    assert.ok(sphere.some((value) => value > 0), 'the pixel is seen by some grid point');
  });

  it('rotated by R, reads the image at R p: a z-rotation by alpha_m shifts alpha by m', () => {
    const random = new Random(5);
    const image = Float64Array.from({ length: SIDE * SIDE }, () => random.uniform());
    const plain = projectImage(image, SIDE, SIDE, bandwidth);
    const m = 5;
    const turned = projectImage(image, SIDE, SIDE, bandwidth, rotationZ(alphas[m]));
    for (let j = 0; j < n; j++) {
      for (let k = 0; k < n; k++) {
        assert.ok(Math.abs(turned[j * n + k] - plain[j * n + ((k + m) % n)]) < 1e-12);
      }
    }
  });

  it('rotated by R, moves the image centre from the south pole to R^-1 (0, 0, -1)', () => {
    const b = 24;
    const size = 2 * b;
    const rotation = randomRotation(new Random(11));
    const sphere = projectImage(new Float64Array(SIDE * SIDE).fill(1), SIDE, SIDE, b, rotation);
    const weights = s2QuadratureWeights(b);
    const points = gridPoints(b);
    const centre = new Float64Array(3);
    for (let p = 0; p < size * size; p++) {
      const weight = weights[Math.floor(p / size)] * sphere[p];
      for (let c = 0; c < 3; c++) centre[c] += weight * points[3 * p + c];
    }
    const norm = Math.hypot(centre[0], centre[1], centre[2]);
    const expected = rotateVector(transpose(rotation), [0, 0, -1]);
    const dot = centre[0] * expected[0] + centre[1] * expected[1] + centre[2] * expected[2];
    const cosine = dot / norm;
    assert.ok(cosine > 0.999, `centre direction off by ${Math.acos(cosine)} rad`);
  });

  it('stencil weights are non-negative and sum to at most 1', () => {
    const stencil = projectionStencil(bandwidth, SIDE, SIDE, randomRotation(new Random(2)));
    for (let p = 0; p < n * n; p++) {
      let sum = 0;
      for (let t = 0; t < 4; t++) {
        assert.ok(stencil.weights[4 * p + t] >= 0);
        sum += stencil.weights[4 * p + t];
      }
      assert.ok(sum <= 1 + 1e-12);
    }
  });
});
