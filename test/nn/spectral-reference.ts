/*
 * Reference oracles of the spectral-layer tests (no tests of its own): plain forms of the SO(3)
 * kernel spectrum on the full and the half kernel table, which the layers no longer use, to
 * compare their half-spectrum and factored (ring-table) paths with.
 */

import { gemm } from '../../src/engine/kernels/index.js';
import { so3CoefficientCount, so3CoefficientIndex } from '../../src/harmonic/indexing.js';
import {
  PlanarComplex, So3KernelGrid, so3HalfRowCount, wignerAtGridBetas,
} from '../../src/nn/layers/kernel-grids.js';

/**
 * The rows n >= 0 of `so3KernelTable`: T[(l, n, p)][i] = conj(D^l_np(g_i)) for 0 <= n <= l, row
 * so3HalfRowCount(l) + n (2l+1) + p + l. The kernel spectrum of real weights has
 * y^l_{-n,-p} = (-1)^{n-p} conj(y^l_np), so these rows determine it.
 */
export function so3HalfKernelTable(grid: So3KernelGrid, degrees: number): PlanarComplex {
  const size = grid.length;
  const { table, rings, ringOf } = wignerAtGridBetas(degrees, grid.map((point) => point[0]));
  const re = new Float32Array(so3HalfRowCount(degrees) * size);
  const im = new Float32Array(re.length);
  let row = 0;
  for (let l = 0; l < degrees; l++) {
    for (let n = 0; n <= l; n++) {
      for (let p = -l; p <= l; p++, row += size) {
        const coefficient = so3CoefficientIndex(l, n, p);
        for (let i = 0; i < size; i++) {
          const d = table[coefficient * rings + ringOf[i]];
          const phase = -n * grid[i][1] - p * grid[i][2];
          re[row + i] = d * Math.cos(phase);
          im[row + i] = d * Math.sin(phase);
        }
      }
    }
  }
  return { re, im };
}

/*
 * The SO(3) kernel spectrum of real weights has y^l_{-n,-p} = (-1)^{n-p} conj(y^l_np), like every
 * spectrum of a real signal, and so has its gradient. So only the rows n >= 0 of each degree are
 * computed (about half the work of kernelSpectrum), and the weight gradient sums the rows n > 0
 * twice and the rows n = 0 (closed under the mirror) once. SO3Convolution goes through the
 * factored table (ringPhaseSums and below in src/nn/layers/kernel-spectrum.ts); these plain forms
 * on the full table are the reference that the tests compare the factored path with.
 */

/**
 * kernelSpectrum for the rows n >= 0 of each degree l < L of an SO(3) spectrum: out rows
 * [l][n][p] with n >= 0 written, the others left as they are.
 */
export function halfKernelSpectrum(
  table: PlanarComplex, weights: Float32Array, L: number, gridSize: number, pairs: number,
  alpha: number, out: PlanarComplex,
): void {
  for (let l = 0; l < L; l++) {
    const dl = 2 * l + 1;
    const first = so3CoefficientCount(l) + l * dl;
    const rows = (l + 1) * dl;
    gemm(false, true, rows, pairs, gridSize, alpha, table.re, first * gridSize, gridSize,
      weights, 0, gridSize, 0, out.re, first * pairs, pairs);
    gemm(false, true, rows, pairs, gridSize, alpha, table.im, first * gridSize, gridSize,
      weights, 0, gridSize, 0, out.im, first * pairs, pairs);
  }
}

/**
 * kernelSpectrumWeightGradient for a gradient with the real-signal symmetry, from its rows
 * n >= 0 only: alpha Re(T^H g)^T as [pairs][|grid|].
 */
export function halfKernelSpectrumWeightGradient(
  table: PlanarComplex, grad: PlanarComplex, L: number, gridSize: number, pairs: number,
  alpha: number,
): Float32Array {
  const out = new Float32Array(pairs * gridSize);
  let beta = 0;
  for (let l = 0; l < L; l++) {
    const dl = 2 * l + 1;
    const zero = so3CoefficientCount(l) + l * dl;
    // Rows n = 0 once, rows n > 0 twice (for their mirrors n < 0).
    for (const [first, rows, weight] of [[zero, dl, 1], [zero + dl, l * dl, 2]]) {
      if (rows === 0) continue;
      gemm(true, false, pairs, gridSize, rows, weight * alpha, grad.re, first * pairs, pairs,
        table.re, first * gridSize, gridSize, beta, out, 0, gridSize);
      gemm(true, false, pairs, gridSize, rows, weight * alpha, grad.im, first * pairs, pairs,
        table.im, first * gridSize, gridSize, 1, out, 0, gridSize);
      beta = 1;
    }
  }
  return out;
}

/**
 * For one degree l at `offset` (= so3CoefficientCount(l) C_in C_out): y rows (p, c), columns
 * (n, c') from raw [n][p][c][c'] whose rows n >= 0 only are read, n < 0 by
 * y_{-n,-p} = (-1)^{n-p} conj(y_np).
 */
export function unfoldKernelMatrix(
  raw: PlanarComplex, y: PlanarComplex, offset: number, l: number, ci: number, co: number,
): void {
  const dl = 2 * l + 1;
  const ld = dl * co;
  const rawRe = raw.re;
  const rawIm = raw.im;
  const yRe = y.re;
  const yIm = y.im;
  for (let n = -l; n <= l; n++) {
    const flip = n < 0;
    for (let p = -l; p <= l; p++) {
      const sign = flip && (n - p) % 2 !== 0 ? -1 : 1;
      const imSign = flip ? -sign : sign;
      const sourceRow = flip ? (-n + l) * dl + (-p + l) : (n + l) * dl + (p + l);
      let from = offset + sourceRow * ci * co;
      let to = offset + (p + l) * ci * ld + (n + l) * co;
      for (let c = 0; c < ci; c++, to += ld - co) {
        for (let k = 0; k < co; k++, from++, to++) {
          yRe[to] = sign * rawRe[from];
          yIm[to] = imSign * rawIm[from];
        }
      }
    }
  }
}
