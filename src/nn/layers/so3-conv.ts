/*
 * The SpectralLayer base class of the three spectral layers with the shape and size checks they
 * share, and the SO(3) -> SO(3) correlation SO3Convolution.
 */

import { activeBackend } from '../../engine/kernels/index.js';
import { giveGrad } from '../../engine/ops/check.js';
import { isGradEnabled, parameter, result, Tensor } from '../../engine/tensor.js';
import { so3CoefficientCount } from '../../harmonic/indexing.js';
import {
  so3Forward, so3ForwardAdjoint, so3Inverse, so3InverseAdjoint,
} from '../../harmonic/so3-transform.js';
import { Random } from '../../util/random.js';
import { Module } from '../module.js';
import {
  PlanarComplex, So3KernelGrid, So3RingTable, so3HalfRowCount, so3RingTable,
} from './kernel-grids.js';
import {
  addRingGradientSums, addRingGradientSumsPair, ringKernelMatrices, ringPhaseSums,
  ringWeightGradient,
} from './kernel-spectrum.js';
import {
  addBiasToSpectrum, biasGradientFromSpectrum, complexGemm, halfRowsOfDegree, layerWorkspace,
  rowsOfSpectrum, scatterHalfRows, swapMiddleAxesComplex, transposeComplex,
} from './spectral-products.js';

/** Whether two arrays hold the same values (NaN never equals, so it forces a recompute). */
function sameValues(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Uniform(-1, 1) initial kernel weights [C_in, C_out, |grid|] (s2cnn's initialisation). */
function initialKernel(size: number, random: Random): Float32Array {
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = random.uniformIn(-1, 1);
  return values;
}

/** Throws unless `shape` is [N, channels, ...extents]. */
export function checkInputShape(
  layer: string, shape: readonly number[], channels: number, extents: readonly number[],
): number {
  const ok = shape.length === 2 + extents.length && shape[1] === channels &&
    extents.every((extent, i) => shape[2 + i] === extent);
  if (!ok) {
    throw new RangeError(`${layer}: input shape [${shape}] is not [N, ${[channels, ...extents]}]`);
  }
  return shape[0];
}

function checkPositiveInteger(layer: string, name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${layer}: ${name} must be a positive integer, got ${value}`);
  }
}

/** Checks the channel counts and bandwidths of a spectral layer. */
function checkLayerSizes(
  layer: string, inChannels: number, outChannels: number, bIn: number, bOut: number,
  gridSize: number,
): void {
  checkPositiveInteger(layer, 'inChannels', inChannels);
  checkPositiveInteger(layer, 'outChannels', outChannels);
  checkPositiveInteger(layer, 'bandwidthIn', bIn);
  checkPositiveInteger(layer, 'bandwidthOut', bOut);
  if (gridSize < 1) throw new RangeError(`${layer}: the kernel grid is empty`);
}

/**
 * What the three spectral layers (S2Convolution, SO3Convolution, SO3ToS2) share: a kernel
 * `weight` [C_in, C_out, |grid|] ~ U(-1, 1), applied at use time times `scaling` so that Adam sees
 * O(1) parameters; a per-channel `bias` [C_out] = 0 (a constant function, hence equivariant); and
 * the degrees l < min(b_in, b_out) carried through the layer.
 */
export abstract class SpectralLayer extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  /** Degrees l < degrees carried through the layer: min(b_in, b_out). */
  readonly degrees: number;
  protected readonly workspace = layerWorkspace;

  constructor(
    layer: string, readonly inChannels: number, readonly outChannels: number,
    readonly bandwidthIn: number, readonly bandwidthOut: number, gridSize: number,
    readonly scaling: number, random: Random,
  ) {
    super();
    checkLayerSizes(layer, inChannels, outChannels, bandwidthIn, bandwidthOut, gridSize);
    const size = inChannels * outChannels * gridSize;
    this.weight = this.registerParameter('weight',
      parameter(initialKernel(size, random), [inChannels, outChannels, gridSize]));
    this.bias = this.registerParameter('bias',
      parameter(new Float32Array(outChannels), [outChannels]));
    this.degrees = Math.min(bandwidthIn, bandwidthOut);
  }
}

/**
 * SO(3) -> SO(3) group correlation (s2cnn `SO3Convolution`, transforms.md 4.3).
 *
 * Input [N, C_in, 2b_in, 2b_in, 2b_in], output [N, C_out, 2b_out, 2b_out, 2b_out], grids
 * [beta, alpha, gamma]. With L = min(b_in, b_out):
 *   x^l_mp = SO(3) forward transform of the input for l < L;
 *   y^l_np[c, c'] = sum_i scaling psi[c, c', i] conj(D^l_np(g_i)),
 *     scaling = 1 / sqrt(|grid| C_in b_out^3 / b_in^3) (applied at use time);
 *   z^l_mn[b, c'] = sum_c sum_p x^l_mp[b, c] conj(y^l_np[c, c']);
 *   out = SO(3) inverse transform of z onto the b_out grid (zero padding when b_out > b_in) + bias.
 * In the group: out_c'(R) = scaling sum_c sum_i psi[c, c', i] F_c^{(l<L)}(R g_i) + bias_c'.
 * Parameters: `weight` [C_in, C_out, |grid|] ~ U(-1, 1), `bias` [C_out] = 0.
 */
export class SO3Convolution extends SpectralLayer {
  private table: So3RingTable | null = null;
  private kernelCache: { weights: Float32Array; spectrum: PlanarComplex } | null = null;

  constructor(
    inChannels: number, outChannels: number, bandwidthIn: number, bandwidthOut: number,
    readonly grid: So3KernelGrid, random: Random,
  ) {
    super('SO3Convolution', inChannels, outChannels, bandwidthIn, bandwidthOut, grid.length,
      1 / Math.sqrt(grid.length * inChannels * (bandwidthOut / bandwidthIn) ** 3), random);
  }

  /** conj(D^l_np(g_i)) for l < degrees in factored form (so3RingTable), built on first use. */
  private kernelTable(): So3RingTable {
    this.table ??= so3RingTable(this.grid, this.degrees);
    return this.table;
  }

  /**
   * The kernel spectrum y^l_np[c, c'] for n >= 0 and the current weights, laid out per degree
   * (at so3HalfRowCount(l) C_in C_out) as a ((2l+1) C_in) x ((l+1) C_out) matrix with rows
   * (p, c) and columns (n, c'), the columns n > 0 doubled (half spectra, see spectral-products.ts).
   */
  private spectrumOfKernel(): PlanarComplex {
    // Inference reuses the last spectrum while the weights are those it was computed from
    // (compared value by value: optimizers update weights in place). Training recomputes it,
    // so that no extra spectrum outlives a step.
    const cached = this.kernelCache;
    const caching = !isGradEnabled();
    if (caching && cached !== null && sameValues(cached.weights, this.weight.data)) {
      return cached.spectrum;
    }
    this.kernelCache = null;

    const { inChannels: ci, outChannels: co, degrees: L } = this;
    const pairs = ci * co;
    const table = this.kernelTable();
    const sums = this.workspace.complex('kernelSums', table.rings * L * (2 * L - 1) * pairs);
    ringPhaseSums(table, this.weight.data, pairs, this.scaling, sums);
    const rows = so3HalfRowCount(L);
    const y = { re: new Float32Array(rows * pairs), im: new Float32Array(rows * pairs) };
    ringKernelMatrices(table, sums, ci, co, y);
    if (caching) this.kernelCache = { weights: Float32Array.from(this.weight.data), spectrum: y };
    return y;
  }

  forward(input: Tensor): Tensor {
    const { inChannels: ci, outChannels: co, degrees: L } = this;
    const { bandwidthIn: bIn, bandwidthOut: bOut } = this;
    const n = checkInputShape('SO3Convolution', input.shape, ci, [2 * bIn, 2 * bIn, 2 * bIn]);
    const count = so3CoefficientCount(L);

    // Input spectrum [l][m][p][b][c] -> per degree a matrix with rows (m, b), columns (p, c):
    // for one signal per channel it already is one.
    const spectrum = so3Forward(input.data, n * ci, bIn, L);
    const x = n === 1 ? spectrum : rowsOfSpectrum(spectrum, L, n, ci);

    // Half spectrum z^l = x^l conj(y^l): rows (m, b), columns (n >= 0, c'), into the spectrum
    // layout [m][n][b][c'] (in place for n = 1) whose orders n < 0 stay zero.
    const y = this.spectrumOfKernel();
    const z = this.workspace.complex('z', count * n * co);
    z.re.fill(0);
    z.im.fill(0);
    const rows = this.workspace.complex('zRows', (2 * L - 1) * n * L * co);
    for (let l = 0; l < L; l++) {
      const dl = 2 * l + 1;
      const h = l + 1;
      const before = so3CoefficientCount(l);
      const kernel = so3HalfRowCount(l) * ci * co;
      if (n === 1) {
        complexGemm(false, false, false, true, dl, h * co, dl * ci, 1, x, before * ci, dl * ci,
          y, kernel, h * co, 0, z, (before + l) * co, dl * co);
      } else {
        complexGemm(false, false, false, true, dl * n, h * co, dl * ci, 1,
          x, before * n * ci, dl * ci, y, kernel, h * co, 0, rows, 0, h * co);
        scatterHalfRows(rows, 0, z, before * n * co, l, n, co);
      }
    }
    addBiasToSpectrum(z, this.bias.data, n);

    const out = so3Inverse(z, n * co, L, bOut);
    return result(out, [n, co, 2 * bOut, 2 * bOut, 2 * bOut], [input, this.weight, this.bias],
      (grad) => this.backwardPass(grad, input, x, y, n));
  }

  private backwardPass(
    grad: Float32Array, input: Tensor, x: PlanarComplex, y: PlanarComplex, n: number,
  ): void {
    const { inChannels: ci, outChannels: co, degrees: L } = this;
    const { bandwidthIn: bIn, bandwidthOut: bOut } = this;
    const count = so3CoefficientCount(L);
    const pairs = ci * co;

    // Gradient of z: the adjoint of the real-part synthesis, [m][n][b][c'].
    const gz = so3InverseAdjoint(grad, n * co, L, bOut);
    giveGrad(this.bias, biasGradientFromSpectrum(gz, co, n));

    const wantInput = input.requiresGrad;
    const wantWeight = this.weight.requiresGrad;
    const gx = wantInput ? this.workspace.complex('gx', count * n * ci) : null;
    const table = this.kernelTable();
    const gSums = wantWeight
      ? this.workspace.complex('kernelSums', table.rings * L * (2 * L - 1) * pairs) : null;
    gSums?.re.fill(0);
    gSums?.im.fill(0);
    // Two consecutive degrees of grad y (addRingGradientSumsPair): degree l at 0 for even l,
    // after degree l - 1 for odd l.
    const pairRows = L * (2 * L - 1) + (L - 1) * (2 * L - 3);
    const gyRows = this.workspace.complex('gyRows', wantWeight ? pairRows * pairs : 0);
    const maxRows = (2 * L - 1) * n;
    const gRows = this.workspace.complex('gzRows', maxRows * L * co);
    const gxRows = this.workspace.complex('gxRows', n === 1 ? 0 : maxRows * (2 * L - 1) * ci);
    // The compiled backends read a transposed operand in place; the plain-TypeScript one
    // would walk it with a stride, so it gets a transposed copy.
    const copy = activeBackend().name === 'reference';
    const yT = this.workspace.complex('yT', copy ? (2 * L - 1) * ci * L * co : 0);

    for (let l = 0; l < L; l++) {
      const dl = 2 * l + 1;
      const h = l + 1;
      const before = so3CoefficientCount(l);
      const kernel = so3HalfRowCount(l) * pairs;

      // The orders n >= 0 of grad z^l as rows (m, b), columns (n, c').
      const [g, gOffset, gStride] = halfRowsOfDegree(gz, gRows, l, n, co);

      if (gx !== null) {
        // Half spectrum of grad x^l = grad z^l (y^l)^T: the doubled columns n > 0 of y stand
        // for the orders n < 0 (harmonic-api: so3ForwardAdjoint takes the real part).
        if (copy) transposeComplex(y, kernel, yT, 0, dl * ci, h * co);
        const [b, bOffset, ldb] = copy ? [yT, 0, dl * ci] : [y, kernel, h * co];
        if (n === 1) {
          complexGemm(false, false, !copy, false, dl, dl * ci, h * co, 1, g, gOffset, gStride,
            b, bOffset, ldb, 0, gx, before * ci, dl * ci);
        } else {
          complexGemm(false, false, !copy, false, dl * n, dl * ci, h * co, 1, g, gOffset, gStride,
            b, bOffset, ldb, 0, gxRows, 0, dl * ci);
          swapMiddleAxesComplex(gxRows, 0, gx, before * n * ci, dl, n, dl, ci);
        }
      }

      if (gSums !== null) {
        // grad y^l = (x^l)^T conj(grad z^l) for n >= 0: rows (p, c), columns (n, c'), summed
        // into the phase-sum gradients (the columns n > 0 count twice, for their mirrors n < 0).
        const at = l % 2 === 0 ? 0 : l * (2 * l - 1) * pairs;
        complexGemm(true, false, false, true, dl * ci, h * co, dl * n, 1,
          x, before * n * ci, dl * ci, g, gOffset, gStride, 0, gyRows, at, h * co);
        if (l % 2 === 1) addRingGradientSumsPair(table, gyRows, 0, l - 1, ci, co, gSums);
        else if (l === L - 1) addRingGradientSums(table, gyRows, 0, l, ci, co, gSums);
      }
    }

    if (gx !== null) giveGrad(input, so3ForwardAdjoint(gx, n * ci, bIn, L));
    if (gSums !== null) {
      giveGrad(this.weight, ringWeightGradient(table, gSums, pairs, this.scaling));
    }
  }
}
