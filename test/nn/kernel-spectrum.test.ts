import assert from 'node:assert/strict';
import { test } from 'node:test';

import { fromArray, noGrad } from '../../src/engine/tensor.js';
import { so3CoefficientCount } from '../../src/harmonic/indexing.js';
import { so3KernelTable, so3NearIdentityGrid } from '../../src/nn/layers/kernel-grids.js';
import {
  kernelSpectrum, kernelSpectrumWeightGradient,
} from '../../src/nn/layers/kernel-spectrum.js';
import { SO3Convolution } from '../../src/nn/layers/so3-conv.js';
import { swapMiddleAxesComplex } from '../../src/nn/layers/spectral-products.js';
import { Random } from '../../src/util/random.js';
import { assertClose, uniforms } from './helpers.js';
import {
  halfKernelSpectrum, halfKernelSpectrumWeightGradient, unfoldKernelMatrix,
} from './spectral-reference.js';

/*
 * The half-spectrum kernel products of SO3Convolution (rows n >= 0 only, the rest by the
 * real-signal symmetry) against the full products, on odd channel counts and grids.
 */

function assertNear(actual: Float32Array, expected: Float32Array, label: string): void {
  assertClose(actual, expected, 2e-5, label, 1);
}

for (const [L, ci, co, nAlpha, nGamma] of [[3, 3, 5, 3, 5], [5, 2, 7, 5, 3], [1, 1, 1, 1, 1]]) {
  test(`half kernel spectrum equals the full one, L ${L}, ${ci} -> ${co} channels`, () => {
    const random = new Random(L * 100 + ci);
    const grid = so3NearIdentityGrid({ maxBeta: 0.3, nAlpha, nBeta: 2, nGamma });
    const table = so3KernelTable(grid, L);
    const pairs = ci * co;
    const count = so3CoefficientCount(L);
    const weights = uniforms(random, pairs * grid.length);

    // Forward: the per-degree matrices rows (p, c), columns (n, c').
    const full = { re: new Float32Array(count * pairs), im: new Float32Array(count * pairs) };
    kernelSpectrum(table, weights, count, grid.length, pairs, 0.7, full);
    const expected = { re: new Float32Array(count * pairs), im: new Float32Array(count * pairs) };
    const raw = { re: new Float32Array(count * pairs), im: new Float32Array(count * pairs) };
    const actual = { re: new Float32Array(count * pairs), im: new Float32Array(count * pairs) };
    halfKernelSpectrum(table, weights, L, grid.length, pairs, 0.7, raw);
    for (let l = 0; l < L; l++) {
      const dl = 2 * l + 1;
      const offset = so3CoefficientCount(l) * pairs;
      swapMiddleAxesComplex(full, offset, expected, offset, 1, dl, dl * ci, co);
      unfoldKernelMatrix(raw, actual, offset, l, ci, co);
    }
    assertNear(actual.re, expected.re, 'kernel spectrum re');
    assertNear(actual.im, expected.im, 'kernel spectrum im');

    // Gradient: random, then made symmetric, g_{-n,-p} = (-1)^{n-p} conj(g_np), rows [l][n][p].
    const symmetric = {
      re: uniforms(random, count * pairs), im: uniforms(random, count * pairs),
    };
    for (let l = 0; l < L; l++) {
      const dl = 2 * l + 1;
      const row = (n: number, p: number) => (so3CoefficientCount(l) + (n + l) * dl + p + l) * pairs;
      for (let n = -l; n <= 0; n++) {
        for (let p = -l; p <= l; p++) {
          if (n === 0 && p > 0) break;
          const sign = (n - p) % 2 === 0 ? 1 : -1;
          for (let k = 0; k < pairs; k++) {
            const to = row(n, p) + k;
            const from = row(-n, -p) + k;
            symmetric.re[to] = sign * symmetric.re[from];
            symmetric.im[to] = n === 0 && p === 0 ? 0 : -sign * symmetric.im[from];
          }
        }
      }
    }
    assertNear(
      halfKernelSpectrumWeightGradient(table, symmetric, L, grid.length, pairs, 0.7),
      kernelSpectrumWeightGradient(table, symmetric, count, grid.length, pairs, 0.7),
      'weight gradient');
  });
}

test('SO3Convolution inference reuses its kernel spectrum only while the weights are unchanged',
  () => {
    const random = new Random(5);
    const layer = new SO3Convolution(3, 5, 3, 3, so3NearIdentityGrid({ nAlpha: 3, nGamma: 3 }),
      random);
    const input = fromArray(uniforms(random, 2 * 3 * 6 ** 3), [2, 3, 6, 6, 6]);
    const first = noGrad(() => layer.forward(input)).data;
    assert.deepEqual(noGrad(() => layer.forward(input)).data, first, 'cached spectrum');

    // An in-place update, as an optimizer makes, must be seen by the next inference.
    layer.weight.data[7] += 0.5;
    const updated = noGrad(() => layer.forward(input)).data;
    const recomputed = layer.forward(input).data;
    assertNear(updated, recomputed, 'after an in-place weight update');
    let changed = 0;
    for (let i = 0; i < first.length; i++) {
      changed = Math.max(changed, Math.abs(first[i] - updated[i]));
    }
    assert.ok(changed > 1e-3, 'the update changes the output');
  });
