import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { activeBackend, useBackend, type KernelBackend } from '../../src/engine/kernels/index.js';
import { loadNativeBackend } from '../../src/engine/kernels/native.js';
import { createWasmBackend, type WasmBackend } from '../../src/engine/kernels/wasm.js';
import { backward, Tensor } from '../../src/engine/tensor.js';
import { so3CoefficientCount, so3CoefficientIndex } from '../../src/harmonic/indexing.js';
import { s2ForwardAdjoint } from '../../src/harmonic/s2-transform.js';
import {
  so3ForwardAdjoint, so3Inverse, so3InverseAdjoint,
} from '../../src/harmonic/so3-transform.js';
import {
  PlanarComplex, s2HalfKernelTable, s2KernelTable, s2NearIdentityGrid, So3KernelGrid,
  so3HalfRowCount, so3IdentityGrid, so3KernelTable, so3NearIdentityGrid, so3RingTable,
} from '../../src/nn/layers/kernel-grids.js';
import {
  addRingGradientSums, addRingGradientSumsPair, kernelSpectrum, kernelSpectrumWeightGradient,
  ringKernelMatrices, ringPhaseSums, ringWeightGradient,
} from '../../src/nn/layers/kernel-spectrum.js';
import { S2Convolution } from '../../src/nn/layers/s2-conv.js';
import { SO3Convolution } from '../../src/nn/layers/so3-conv.js';
import { SO3ToS2 } from '../../src/nn/layers/so3-to-s2.js';
import {
  addBiasToSpectrum, biasGradientFromSpectrum, deinterleaveOrders, gatherHalfRows,
  interleaveOrders, scatterHalfRows,
} from '../../src/nn/layers/spectral-products.js';
import type { Module } from '../../src/nn/module.js';
import { Random } from '../../src/util/random.js';
import { assertClose, normals } from './helpers.js';
import {
  halfKernelSpectrum, so3HalfKernelTable, unfoldKernelMatrix,
} from './spectral-reference.js';

/*
 * The half-spectrum helpers of the spectral layers (orders n >= 0 only, n > 0 doubled) against
 * the full-spectrum helpers and plain index loops, on odd channel counts and several degrees;
 * the transform property they rely on (synthesis-type transforms take the real part, so a half
 * spectrum gives the same grid as the full Hermitian one); and the layers on the compiled
 * backends against the reference backend.
 */

function randomComplex(random: Random, size: number): PlanarComplex {
  return { re: normals(random, size), im: normals(random, size) };
}

function zeroComplex(size: number): PlanarComplex {
  return { re: new Float32Array(size), im: new Float32Array(size) };
}

/** Random SO(3) spectrum of real signals: F^l_{-m,-n} = (-1)^{m-n} conj(F^l_mn). */
function hermitianSo3(random: Random, L: number, S: number): PlanarComplex {
  const spectrum = randomComplex(random, so3CoefficientCount(L) * S);
  for (let l = 0; l < L; l++) {
    for (let m = -l; m <= l; m++) {
      for (let n = -l; n <= l; n++) {
        const to = so3CoefficientIndex(l, m, n);
        const from = so3CoefficientIndex(l, -m, -n);
        if (to > from) continue;
        const sign = (m - n) % 2 === 0 ? 1 : -1;
        for (let s = 0; s < S; s++) {
          if (to === from) {
            spectrum.im[to * S + s] = 0;
          } else {
            spectrum.re[from * S + s] = sign * spectrum.re[to * S + s];
            spectrum.im[from * S + s] = -sign * spectrum.im[to * S + s];
          }
        }
      }
    }
  }
  return spectrum;
}

/** The half spectrum of `spectrum`: orders n < 0 zero, n > 0 doubled. */
function halfOf(spectrum: PlanarComplex, L: number, S: number): PlanarComplex {
  const half = zeroComplex(spectrum.re.length);
  for (let l = 0; l < L; l++) {
    for (let m = -l; m <= l; m++) {
      for (let n = 0; n <= l; n++) {
        const at = so3CoefficientIndex(l, m, n) * S;
        for (let s = 0; s < S; s++) {
          half.re[at + s] = (n === 0 ? 1 : 2) * spectrum.re[at + s];
          half.im[at + s] = (n === 0 ? 1 : 2) * spectrum.im[at + s];
        }
      }
    }
  }
  return half;
}

describe('half-spectrum helpers against the full ones', () => {
  for (const [L, ci, co] of [[1, 1, 1], [3, 3, 5], [5, 2, 7], [6, 5, 3]]) {
    it(`interleaveOrders equals the n >= 0 columns of unfoldKernelMatrix, L ${L}, ${ci} -> ${co}`,
      () => {
        const random = new Random(L * 31 + ci * 7 + co);
        const grid = so3NearIdentityGrid({ maxBeta: 0.4, nAlpha: 3, nBeta: 2, nGamma: 5 });
        const pairs = ci * co;
        const count = so3CoefficientCount(L);
        const weights = normals(random, pairs * grid.length);

        // Old path: rows n >= 0 from the full table, unfolded to the full matrices.
        const raw = zeroComplex(count * pairs);
        halfKernelSpectrum(so3KernelTable(grid, L), weights, L, grid.length, pairs, 0.7, raw);
        const full = zeroComplex(count * pairs);
        for (let l = 0; l < L; l++) {
          unfoldKernelMatrix(raw, full, so3CoefficientCount(l) * pairs, l, ci, co);
        }

        // New path: the compact half table, interleaved with the columns n > 0 doubled.
        const rows = so3HalfRowCount(L);
        const compact = zeroComplex(rows * pairs);
        kernelSpectrum(so3HalfKernelTable(grid, L), weights, rows, grid.length, pairs, 0.7,
          compact);
        const half = zeroComplex(rows * pairs);
        const expected = zeroComplex(rows * pairs);
        for (let l = 0; l < L; l++) {
          const dl = 2 * l + 1;
          const offset = so3HalfRowCount(l) * pairs;
          interleaveOrders(compact, offset, half, offset, l + 1, dl * ci, co, 2);
          // expected[(p, c)][(n, c')] = s_n full[(p, c)][(n + l, c')] for n >= 0.
          for (let r = 0; r < dl * ci; r++) {
            for (let n = 0; n <= l; n++) {
              for (let k = 0; k < co; k++) {
                const from = so3CoefficientCount(l) * pairs + r * dl * co + (n + l) * co + k;
                const to = offset + (r * (l + 1) + n) * co + k;
                expected.re[to] = (n === 0 ? 1 : 2) * full.re[from];
                expected.im[to] = (n === 0 ? 1 : 2) * full.im[from];
              }
            }
          }
        }
        assertClose(half.re, expected.re, 1e-5, 're');
        assertClose(half.im, expected.im, 1e-5, 'im');

        // deinterleaveOrders is the transpose: with weight 1 it undoes interleaveOrders, and
        // <interleave(a), b> = <a, deinterleave(b)> for any weight.
        const back = zeroComplex(rows * pairs);
        const plain = zeroComplex(rows * pairs);
        for (let l = 0; l < L; l++) {
          const offset = so3HalfRowCount(l) * pairs;
          interleaveOrders(compact, offset, plain, offset, l + 1, (2 * l + 1) * ci, co, 1);
          deinterleaveOrders(plain, offset, back, offset, l + 1, (2 * l + 1) * ci, co, 1);
        }
        assert.deepEqual(back.re, compact.re);
        assert.deepEqual(back.im, compact.im);
        const probe = randomComplex(random, rows * pairs);
        const adjoint = zeroComplex(rows * pairs);
        for (let l = 0; l < L; l++) {
          const offset = so3HalfRowCount(l) * pairs;
          deinterleaveOrders(probe, offset, adjoint, offset, l + 1, (2 * l + 1) * ci, co, 2);
        }
        let lhs = 0;
        let rhs = 0;
        for (let i = 0; i < rows * pairs; i++) {
          lhs += half.re[i] * probe.re[i] + half.im[i] * probe.im[i];
          rhs += compact.re[i] * adjoint.re[i] + compact.im[i] * adjoint.im[i];
        }
        assert.ok(Math.abs(lhs - rhs) <= 1e-4 * Math.abs(lhs), `adjoint ${lhs} vs ${rhs}`);
      });
  }

  it('the half kernel tables are the rows n >= 0 of the full ones', () => {
    // Equal values; zeros may differ in sign (the full tables start their loops at -l = -0).
    const same = (a: number, b: number): void => assert.ok(a === b, `${a} vs ${b}`);
    const L = 5;
    const so3Grid = so3NearIdentityGrid({ maxBeta: 0.5, nAlpha: 3, nBeta: 2, nGamma: 3 });
    const so3Full = so3KernelTable(so3Grid, L);
    const so3Half = so3HalfKernelTable(so3Grid, L);
    const s2Grid = s2NearIdentityGrid({ maxBeta: 0.5, nAlpha: 5, nBeta: 3 });
    const s2Full = s2KernelTable(s2Grid, L);
    const s2Half = s2HalfKernelTable(s2Grid, L);
    assert.equal(so3Half.re.length, so3HalfRowCount(L) * so3Grid.length);
    assert.equal(s2Half.re.length, 15 * s2Grid.length);
    for (let l = 0; l < L; l++) {
      const dl = 2 * l + 1;
      for (let n = 0; n <= l; n++) {
        for (let p = -l; p <= l; p++) {
          const half = (so3HalfRowCount(l) + n * dl + p + l) * so3Grid.length;
          const full = so3CoefficientIndex(l, n, p) * so3Grid.length;
          for (let i = 0; i < so3Grid.length; i++) {
            same(so3Half.re[half + i], so3Full.re[full + i]);
            same(so3Half.im[half + i], so3Full.im[full + i]);
          }
        }
        const half = ((l * (l + 1)) / 2 + n) * s2Grid.length;
        const full = (l * l + n + l) * s2Grid.length;
        for (let i = 0; i < s2Grid.length; i++) {
          same(s2Half.re[half + i], s2Full.re[full + i]);
          same(s2Half.im[half + i], s2Full.im[full + i]);
        }
      }
    }
  });

  for (const [l, S, d] of [[0, 1, 1], [2, 3, 5], [3, 2, 4]]) {
    it(`scatterHalfRows and gatherHalfRows move the orders n >= 0, l ${l}, S ${S}, d ${d}`, () => {
      const random = new Random(100 + l * 10 + S);
      const dl = 2 * l + 1;
      const h = l + 1;
      const rows = randomComplex(random, dl * S * h * d);
      const spectrum = randomComplex(random, 3 + dl * dl * S * d);
      const before = { re: Float32Array.from(spectrum.re), im: Float32Array.from(spectrum.im) };
      scatterHalfRows(rows, 0, spectrum, 3, l, S, d);
      const gathered = zeroComplex(rows.re.length);
      gatherHalfRows(spectrum, 3, gathered, 0, l, S, d);
      assert.deepEqual(gathered.re, rows.re);
      assert.deepEqual(gathered.im, rows.im);
      for (let m = 0; m < dl; m++) {
        for (let n = 0; n < dl; n++) {
          for (let b = 0; b < S; b++) {
            for (let k = 0; k < d; k++) {
              const at = 3 + ((m * dl + n) * S + b) * d + k;
              const from = ((m * S + b) * h + n - l) * d + k;
              const want = n >= l ? rows.re[from] : before.re[at];
              assert.equal(spectrum.re[at], want, `m ${m} n ${n} b ${b} k ${k}`);
            }
          }
        }
      }
    });
  }
});

describe('the kernel spectrum through the factored (ring) table', () => {
  // Rings of 1 to 4 distinct betas, and a grid whose rings are not contiguous.
  const mixed: So3KernelGrid = [[0.3, 0.1, 0.2], [0.5, 1.1, -0.4], [0.3, 2.0, 0.9],
    [0.7, -0.6, 1.3], [0.5, 0.4, 2.2], [0.3, -1.5, -1.0]];
  const cases: Array<[string, So3KernelGrid, number, number, number]> = [
    ['identity grid', so3IdentityGrid(), 3, 2, 3],
    ['two rings', so3NearIdentityGrid({ maxBeta: 0.4, nAlpha: 3, nBeta: 2, nGamma: 3 }), 4, 3, 5],
    ['three interleaved rings', mixed, 5, 5, 3],
    ['three rings, even L', so3NearIdentityGrid({ maxBeta: 0.5, nAlpha: 3, nBeta: 3 }), 4, 2, 3],
    ['four rings', so3NearIdentityGrid({ maxBeta: 0.6, nAlpha: 2, nBeta: 4, nGamma: 3 }), 6, 1, 7],
  ];
  for (const [name, grid, L, ci, co] of cases) {
    it(`${name}: matrices and weight gradient equal the half-table products, L ${L}`, () => {
      const random = new Random(L * 13 + ci);
      const pairs = ci * co;
      const rows = so3HalfRowCount(L);
      const weights = normals(random, pairs * grid.length);
      const halfTable = so3HalfKernelTable(grid, L);
      const table = so3RingTable(grid, L);

      // Forward: kernelSpectrum with the half table, interleaved with n > 0 doubled.
      const raw = zeroComplex(rows * pairs);
      kernelSpectrum(halfTable, weights, rows, grid.length, pairs, 0.6, raw);
      const expected = zeroComplex(rows * pairs);
      for (let l = 0; l < L; l++) {
        const offset = so3HalfRowCount(l) * pairs;
        interleaveOrders(raw, offset, expected, offset, l + 1, (2 * l + 1) * ci, co, 2);
      }
      const sums = zeroComplex(table.rings * L * (2 * L - 1) * pairs);
      ringPhaseSums(table, weights, pairs, 0.6, sums);
      const actual = randomComplex(random, rows * pairs);
      ringKernelMatrices(table, sums, ci, co, actual);
      assertClose(actual.re, expected.re, 2e-5, 'matrices re');
      assertClose(actual.im, expected.im, 2e-5, 'matrices im');

      // Backward: a gradient g in the matrix layout; the old path deinterleaves it (rows n > 0
      // doubled) and multiplies by the half table.
      const g = randomComplex(random, rows * pairs);
      const gRaw = zeroComplex(rows * pairs);
      const gSums = zeroComplex(sums.re.length);
      for (let l = 0; l < L; l++) {
        const offset = so3HalfRowCount(l) * pairs;
        deinterleaveOrders(g, offset, gRaw, offset, l + 1, (2 * l + 1) * ci, co, 2);
        addRingGradientSums(table, g, offset, l, ci, co, gSums);
      }
      const want = kernelSpectrumWeightGradient(halfTable, gRaw, rows, grid.length, pairs, 0.6);
      const got = ringWeightGradient(table, gSums, pairs, 0.6);
      assertClose(got, want, 2e-5, 'weight gradient');

      // Two degrees at a time, as SO3Convolution does (the last one alone for odd L).
      const paired = zeroComplex(sums.re.length);
      for (let l = 0; l < L; l += 2) {
        const offset = so3HalfRowCount(l) * pairs;
        if (l + 1 < L) addRingGradientSumsPair(table, g, offset, l, ci, co, paired);
        else addRingGradientSums(table, g, offset, l, ci, co, paired);
      }
      assertClose(paired.re, gSums.re, 1e-5, 'paired sums re');
      assertClose(paired.im, gSums.im, 1e-5, 'paired sums im');
    });
  }
});

describe('what the half spectra rely on in the transforms', () => {
  it('so3Inverse and so3ForwardAdjoint give the same grid for a half spectrum', () => {
    const random = new Random(7);
    for (const [L, b, S] of [[3, 3, 1], [4, 5, 3]]) {
      const spectrum = hermitianSo3(random, L, S);
      const half = halfOf(spectrum, L, S);
      const full = so3Inverse(spectrum, S, L, b);
      assertClose(so3Inverse(half, S, L, b), full, 1e-5, 'so3Inverse');
      assertClose(so3ForwardAdjoint(half, S, b, L), so3ForwardAdjoint(spectrum, S, b, L), 1e-5,
        'so3ForwardAdjoint');
    }
  });

  it('s2ForwardAdjoint gives the same grid for the half of an S2 gradient', () => {
    // gx = H + mirror(H) with mirror(H)_m = (-1)^m conj(H_{-m}) has Re A^H gx = Re A^H (2H).
    const random = new Random(8);
    const L = 4;
    const b = 5;
    const S = 2;
    const h = randomComplex(random, L * L * S);
    const sum = zeroComplex(L * L * S);
    for (let l = 0; l < L; l++) {
      for (let m = -l; m <= l; m++) {
        const sign = m % 2 === 0 ? 1 : -1;
        for (let s = 0; s < S; s++) {
          const at = (l * l + m + l) * S + s;
          const mirror = (l * l - m + l) * S + s;
          sum.re[at] = h.re[at] + sign * h.re[mirror];
          sum.im[at] = h.im[at] - sign * h.im[mirror];
        }
      }
    }
    const twice = { re: h.re.map((v) => 2 * v), im: h.im.map((v) => 2 * v) };
    assertClose(s2ForwardAdjoint(twice, S, b, L), s2ForwardAdjoint(sum, S, b, L), 1e-5,
      's2ForwardAdjoint');
  });

  it('the bias is the degree-0 coefficient, and its gradient the degree-0 adjoint', () => {
    const random = new Random(9);
    const L = 3;
    const b = 4;
    const n = 3;
    const bias = normals(random, 5);
    const spectrum = zeroComplex(so3CoefficientCount(L) * n * 5);
    addBiasToSpectrum(spectrum, bias, n);
    const grid = so3Inverse(spectrum, n * 5, L, b);
    const points = (2 * b) ** 3;
    for (let s = 0; s < n * 5; s++) {
      for (let g = 0; g < points; g += 37) {
        assert.ok(Math.abs(grid[s * points + g] - bias[s % 5]) <= 1e-5 * Math.abs(bias[s % 5]));
      }
    }
    const grad = normals(random, n * 5 * points);
    const gradient = biasGradientFromSpectrum(so3InverseAdjoint(grad, n * 5, L, b), 5, n);
    const expected = new Float64Array(5);
    for (let i = 0; i < grad.length; i++) expected[Math.floor(i / points) % 5] += grad[i];
    assertClose(gradient, expected, 1e-5, 'bias gradient');
  });
});

/** Output and all gradients of `layer` for a fixed input and output gradient. */
function run(layer: Module, shape: number[], random: Random): Float32Array[] {
  const size = shape.reduce((a, b) => a * b, 1);
  const input = new Tensor(normals(random, size), shape, true);
  const out = layer.forward(input);
  backward(out, normals(random, out.size));
  const parameters = [...layer.namedParameters()].map(([, p]) => p);
  const result = [out.data, input.grad!, ...parameters.map((p) => p.grad!)];
  for (const p of parameters) p.grad = null;
  return result;
}

describe('spectral layers on the compiled backends against the reference backend', () => {
  const backends: Array<[string, () => KernelBackend | null]> = [];
  let wasm: WasmBackend | null = null;
  const reference = activeBackend();
  before(async () => {
    wasm = await createWasmBackend({ threads: 2 });
  });
  after(async () => {
    useBackend(reference);
    await wasm?.close();
  });
  backends.push(['native', () => loadNativeBackend()], ['wasm', () => wasm]);

  for (const [name, load] of backends) {
    it(`${name}: S2Convolution, SO3Convolution and SO3ToS2 at batch 1 and 3`, (t) => {
      const backend = load();
      if (backend === null) {
        t.skip(`${name} backend unavailable`);
        return;
      }
      const random = new Random(11);
      const s2Grid = s2NearIdentityGrid({ nAlpha: 3, nBeta: 2 });
      const so3Grid = so3NearIdentityGrid({ nAlpha: 3, nBeta: 2, nGamma: 3 });
      const layers: Array<[Module, number[]]> = [
        [new S2Convolution(3, 5, 5, 4, s2Grid, random), [3, 10, 10]],
        [new SO3Convolution(3, 5, 4, 3, so3Grid, random), [3, 8, 8, 8]],
        [new SO3Convolution(5, 3, 3, 4, so3Grid, random), [5, 6, 6, 6]],
        [new SO3ToS2(3, 5, 4, 5, so3Grid, random), [3, 8, 8, 8]],
      ];
      for (const [layer, extents] of layers) {
        for (const batch of [1, 3]) {
          for (const p of layer.parameters()) {
            if (p.data.length <= 5) p.data.set(normals(random, p.data.length));
          }
          const seed = random.int(1 << 30);
          useBackend(reference);
          const expected = run(layer, [batch, ...extents], new Random(seed));
          useBackend(backend);
          const actual = run(layer, [batch, ...extents], new Random(seed));
          useBackend(reference);
          actual.forEach((values, i) => {
            assertClose(values, expected[i], 1e-4,
              `${layer.constructor.name} batch ${batch} array ${i}`);
          });
        }
      }
    });
  }
});
