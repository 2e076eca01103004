import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { s2CoefficientIndex, so3CoefficientIndex } from '../../src/harmonic/indexing.js';
import { wignerD } from '../../src/harmonic/wigner.js';
import {
  s2EquatorialGrid, s2KernelTable, s2NearIdentityGrid, so3IdentityGrid, so3KernelTable,
  so3NearIdentityGrid, so3ToS2KernelTable,
} from '../../src/nn/layers/kernel-grids.js';
import { eulerToMatrix, multiply, rotationY, rotationZ } from '../../src/sphere/rotation.js';

const PI = Math.PI;

function close(a: number, b: number, tolerance = 1e-12): boolean {
  return Math.abs(a - b) <= tolerance;
}

describe('kernel grids (transforms.md 4.1)', () => {
  it('s2NearIdentityGrid: rings at i maxBeta / nBeta (i = 1..nBeta), beta-major, no centre', () => {
    const grid = s2NearIdentityGrid();
    assert.equal(grid.length, 24);
    assert.deepEqual(grid[0], [PI / 24, 0]);
    assert.ok(close(grid[9][0], PI / 12) && close(grid[9][1], 2 * PI / 8));
    assert.ok(close(grid[23][0], PI / 8) && close(grid[23][1], 7 * 2 * PI / 8));
    assert.ok(grid.every(([beta]) => beta > 0));

    const small = s2NearIdentityGrid({ maxBeta: PI / 16, nAlpha: 6, nBeta: 1 });
    assert.equal(small.length, 6);
    assert.ok(small.every(([beta], k) => close(beta, PI / 16) && close(small[k][1], k * PI / 3)));
  });

  it('so3NearIdentityGrid: gamma = pre_gamma - alpha, pre_gamma = linspace(-g, g, n)', () => {
    const grid = so3NearIdentityGrid();
    assert.equal(grid.length, 192);
    const preGammas = Array.from({ length: 8 }, (_, i) => -2 * PI + (4 * PI * i) / 7);
    for (let i = 1; i <= 3; i++) {
      for (let k = 0; k < 8; k++) {
        for (let g = 0; g < 8; g++) {
          const [beta, alpha, gamma] = grid[((i - 1) * 8 + k) * 8 + g];
          assert.ok(close(beta, (i * PI) / 24));
          assert.ok(close(alpha, (2 * PI * k) / 8));
          assert.ok(close(gamma, preGammas[g] - alpha));
        }
      }
    }
    assert.ok(close(grid[0][2], -2 * PI) && close(grid[7][2], 2 * PI));

    // n_gamma defaults to n_alpha: the deep classifier's 6 x 1 x 6 = 36 points.
    assert.equal(so3NearIdentityGrid({ nAlpha: 6, nBeta: 1, maxBeta: PI / 16 }).length, 36);
    assert.equal(so3NearIdentityGrid({ nAlpha: 6, nBeta: 1, nGamma: 2 }).length, 12);
  });

  it('an SO(3) grid point is a tilt by beta towards azimuth alpha after a spin', () => {
    const [beta, alpha, gamma] = so3NearIdentityGrid({ maxBeta: 0.7, nAlpha: 5, nBeta: 1 })[13];
    const preGamma = gamma + alpha;
    const direct = eulerToMatrix({ alpha, beta, gamma });
    const tilt = multiply(multiply(rotationZ(alpha), rotationY(beta)), rotationZ(-alpha));
    const expected = multiply(tilt, rotationZ(preGamma));
    for (let i = 0; i < 9; i++) assert.ok(close(direct[i], expected[i]));
  });

  it('identity and equatorial grids', () => {
    assert.deepEqual(so3IdentityGrid(), [[0, 0, 0]]);
    const ring = s2EquatorialGrid(0.2, 4, 3);
    assert.equal(ring.length, 12);
    assert.ok(close(ring[0][0], PI / 2 - 0.2) && close(ring[4][0], PI / 2));
    assert.ok(close(ring[8][0], PI / 2 + 0.2));
  });
});

describe('kernel tables', () => {
  const grid = so3NearIdentityGrid({ maxBeta: 0.9, nAlpha: 3, nBeta: 2, nGamma: 3 });
  const L = 4;

  it('s2KernelTable[(l, n)][i] = e^{-i n alpha_i} d^l_{n0}(beta_i)', () => {
    const s2Grid = s2NearIdentityGrid({ maxBeta: 0.9, nAlpha: 5, nBeta: 2 });
    const table = s2KernelTable(s2Grid, L);
    for (const [l, n, i] of [[0, 0, 0], [2, -1, 3], [3, 3, 9], [3, -2, 7]]) {
      const [beta, alpha] = s2Grid[i];
      const row = s2CoefficientIndex(l, n) * s2Grid.length + i;
      const d = wignerD(l, n, 0, beta);
      assert.ok(close(table.re[row], d * Math.cos(-n * alpha), 1e-6));
      assert.ok(close(table.im[row], d * Math.sin(-n * alpha), 1e-6));
    }
  });

  it('so3KernelTable[(l, n, p)][i] = conj(D^l_np(g_i))', () => {
    const table = so3KernelTable(grid, L);
    for (const [l, n, p, i] of [[1, 0, 1, 2], [2, -2, 1, 10], [3, 1, -3, 17], [3, 2, 2, 5]]) {
      const [beta, alpha, gamma] = grid[i];
      const row = so3CoefficientIndex(l, n, p) * grid.length + i;
      const d = wignerD(l, n, p, beta);
      const phase = n * alpha + p * gamma;
      assert.ok(close(table.re[row], d * Math.cos(phase), 1e-6));
      assert.ok(close(table.im[row], -d * Math.sin(phase), 1e-6));
    }
  });

  it('so3ToS2KernelTable is so3KernelTable summed over the left order', () => {
    const full = so3KernelTable(grid, L);
    const summed = so3ToS2KernelTable(grid, L);
    const G = grid.length;
    for (let l = 0; l < L; l++) {
      for (let p = -l; p <= l; p++) {
        for (let i = 0; i < G; i++) {
          let re = 0;
          let im = 0;
          for (let n = -l; n <= l; n++) {
            re += full.re[so3CoefficientIndex(l, n, p) * G + i];
            im += full.im[so3CoefficientIndex(l, n, p) * G + i];
          }
          assert.ok(close(summed.re[s2CoefficientIndex(l, p) * G + i], re, 1e-5));
          assert.ok(close(summed.im[s2CoefficientIndex(l, p) * G + i], im, 1e-5));
        }
      }
    }
  });
});
