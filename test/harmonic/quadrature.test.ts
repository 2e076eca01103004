import assert from 'node:assert/strict';
import { test } from 'node:test';

import { betaQuadratureWeights, gridBetas, s2QuadratureWeights,
  so3QuadratureWeights } from '../../src/sphere/grid.js';

/** Exact value of the integral of cos(k beta) sin(beta) over [0, pi]. */
function exactIntegral(k: number): number {
  if (k === 1) return 0;
  return k % 2 === 0 ? 2 / (1 - k * k) : 0;
}

function quadrature(b: number, k: number): number {
  const betas = gridBetas(b);
  const w = betaQuadratureWeights(b);
  let sum = 0;
  for (let j = 0; j < 2 * b; j++) sum += w[j] * Math.cos(k * betas[j]);
  return sum;
}

test('SOFT beta weights sum to 2 and are symmetric under beta -> pi - beta', () => {
  for (const b of [1, 2, 5, 16, 64]) {
    const w = betaQuadratureWeights(b);
    const total = w.reduce((a, v) => a + v, 0);
    assert.ok(Math.abs(total - 2) < 1e-13, `b=${b}: sum ${total}`);
    for (let j = 0; j < 2 * b; j++) assert.ok(Math.abs(w[j] - w[2 * b - 1 - j]) < 1e-15);
  }
});

test('SOFT beta quadrature integrates cos(k beta) sin(beta) exactly for k < 2b, not beyond', () => {
  for (const b of [3, 8, 32]) {
    let worst = 0;
    for (let k = 0; k < 2 * b; k++) {
      worst = Math.max(worst, Math.abs(quadrature(b, k) - exactIntegral(k)));
    }
    assert.ok(worst < 1e-13, `b=${b}: max error ${worst}`);

    // The rule has 2b nodes and cannot be exact for every higher frequency: the check above
    // would notice a wrong weight.
    let beyond = 0;
    for (let k = 2 * b; k < 4 * b + 2; k++) {
      beyond = Math.max(beyond, Math.abs(quadrature(b, k) - exactIntegral(k)));
    }
    assert.ok(beyond > 1e-3, `b=${b}: rule unexpectedly exact beyond 2b (${beyond})`);
  }
});

test('Haar and area weights have total mass 1 on the full grids', () => {
  for (const b of [2, 7, 20]) {
    const q = so3QuadratureWeights(b);
    const area = s2QuadratureWeights(b);
    const haar = q.reduce((a, v) => a + v, 0) * (2 * b) ** 2;
    const sphere = area.reduce((a, v) => a + v, 0) * 2 * b;
    assert.ok(Math.abs(haar - 1) < 1e-13, `b=${b}: Haar mass ${haar}`);
    assert.ok(Math.abs(sphere - 1) < 1e-13, `b=${b}: area mass ${sphere}`);
  }
});
