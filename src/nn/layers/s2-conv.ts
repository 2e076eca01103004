import { giveGrad } from '../../engine/ops/check.js';
import { result, Tensor } from '../../engine/tensor.js';
import { so3CoefficientCount } from '../../harmonic/indexing.js';
import { s2Forward, s2ForwardAdjoint } from '../../harmonic/s2-transform.js';
import { so3Inverse, so3InverseAdjoint } from '../../harmonic/so3-transform.js';
import { Random } from '../../util/random.js';
import { PlanarComplex, S2KernelGrid, s2HalfKernelTable } from './kernel-grids.js';
import { kernelSpectrum, kernelSpectrumWeightGradient } from './kernel-spectrum.js';
import { SpectralLayer, checkInputShape } from './so3-conv.js';
import {
  addBiasToSpectrum, biasGradientFromSpectrum, complexGemm, deinterleaveOrders, halfRowsOfDegree,
  interleaveOrders, scatterHalfRows, transposeComplex,
} from './spectral-products.js';

/**
 * S2 -> SO(3) correlation (s2cnn `S2Convolution`, transforms.md 4.2).
 *
 * Input [N, C_in, 2b_in, 2b_in] (grids [beta, alpha]), output [N, C_out, 2b_out, 2b_out, 2b_out]
 * (grids [beta, alpha, gamma]). With L = min(b_in, b_out):
 *   x^l_m = S2 forward transform of the input for l < L;
 *   y^l_n[c, c'] = 2 b_out sum_i scaling psi[c, c', i] e^{-i n alpha_i} d^l_{n0}(beta_i),
 *     scaling = 1 / sqrt(|grid| C_in b_out^4 / b_in^2) (applied at use time);
 *   z^l_mn[b, c'] = sum_c x^l_m[b, c] conj(y^l_n[c, c']);
 *   out = SO(3) inverse transform of z onto the b_out grid + bias.
 * On the group: out_c'(R) = 2 b_out scaling sum_c sum_i psi[c, c', i] f_c^{(l<L)}(R x_i) + bias_c',
 * with x_i the unit vector of kernel point i.
 * Parameters: `weight` [C_in, C_out, |grid|] ~ U(-1, 1), `bias` [C_out] = 0.
 */
export class S2Convolution extends SpectralLayer {
  private table: PlanarComplex | null = null;

  constructor(
    inChannels: number, outChannels: number, bandwidthIn: number, bandwidthOut: number,
    readonly grid: S2KernelGrid, random: Random,
  ) {
    super('S2Convolution', inChannels, outChannels, bandwidthIn, bandwidthOut, grid.length,
      1 / Math.sqrt((grid.length * inChannels * bandwidthOut ** 4) / bandwidthIn ** 2), random);
  }

  /** The rows n >= 0 of the S2 kernel table (s2HalfKernelTable), built on first use. */
  private kernelTable(): PlanarComplex {
    this.table ??= s2HalfKernelTable(this.grid, this.degrees);
    return this.table;
  }

  /** The factor in front of sum_i psi_i T_i in the kernel spectrum: 2 b_out scaling. */
  private get spectrumFactor(): number {
    return 2 * this.bandwidthOut * this.scaling;
  }

  /**
   * The kernel spectrum y^l_n[c, c'] for n >= 0 and the current weights, laid out per degree
   * (at l (l+1) / 2 C_in C_out) as a C_in x ((l+1) C_out) matrix with rows c and columns
   * (n, c'), the columns n > 0 doubled (half spectra, see spectral-products.ts).
   */
  private spectrumOfKernel(): PlanarComplex {
    const { inChannels: ci, outChannels: co, degrees: L } = this;
    const pairs = ci * co;
    const rows = (L * (L + 1)) / 2;
    const raw = this.workspace.complex('kernelRaw', rows * pairs);
    kernelSpectrum(this.kernelTable(), this.weight.data, rows, this.grid.length, pairs,
      this.spectrumFactor, raw);

    // raw is [l][n][c][c'] for n >= 0; move c in front of n.
    const y = { re: new Float32Array(rows * pairs), im: new Float32Array(rows * pairs) };
    for (let l = 0; l < L; l++) {
      const offset = ((l * (l + 1)) / 2) * pairs;
      interleaveOrders(raw, offset, y, offset, l + 1, ci, co, 2);
    }
    return y;
  }

  forward(input: Tensor): Tensor {
    const { inChannels: ci, outChannels: co, degrees: L } = this;
    const { bandwidthIn: bIn, bandwidthOut: bOut } = this;
    const n = checkInputShape('S2Convolution', input.shape, ci, [2 * bIn, 2 * bIn]);
    const count = so3CoefficientCount(L);

    // Input spectrum [l][m][b][c]: per degree a matrix with rows (m, b) and columns c.
    const x = s2Forward(input.data, n * ci, bIn, L);

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
      const kernel = ((l * h) / 2) * ci * co;
      if (n === 1) {
        complexGemm(false, false, false, true, dl, h * co, ci, 1, x, l * l * ci, ci,
          y, kernel, h * co, 0, z, (before + l) * co, dl * co);
      } else {
        complexGemm(false, false, false, true, dl * n, h * co, ci, 1, x, l * l * n * ci, ci,
          y, kernel, h * co, 0, rows, 0, h * co);
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
    const pairs = ci * co;

    // Gradient of z: the adjoint of the real-part synthesis, [m][n][b][c'].
    const gz = so3InverseAdjoint(grad, n * co, L, bOut);
    giveGrad(this.bias, biasGradientFromSpectrum(gz, co, n));

    const halfRows = (L * (L + 1)) / 2;
    const gx = input.requiresGrad ? this.workspace.complex('gx', L * L * n * ci) : null;
    const gy = this.weight.requiresGrad ? this.workspace.complex('gy', halfRows * pairs) : null;
    const gRows = this.workspace.complex('gzRows', (2 * L - 1) * n * L * co);
    const gyRows = this.workspace.complex('gyRows', ci * L * co);
    const yT = this.workspace.complex('yT', L * co * ci);

    for (let l = 0; l < L; l++) {
      const dl = 2 * l + 1;
      const h = l + 1;
      const kernel = ((l * h) / 2) * pairs;

      // The orders n >= 0 of grad z^l as rows (m, b), columns (n, c').
      const [g, gOffset, gStride] = halfRowsOfDegree(gz, gRows, l, n, co);

      if (gx !== null) {
        // Half spectrum of grad x^l = grad z^l (y^l)^T: rows (m, b), columns c, the S2 spectrum
        // layout; the doubled columns n > 0 of y stand for the orders n < 0 (s2ForwardAdjoint
        // takes the real part, harmonic-api.md).
        transposeComplex(y, kernel, yT, 0, ci, h * co);
        complexGemm(false, false, false, false, dl * n, ci, h * co, 1, g, gOffset, gStride,
          yT, 0, ci, 0, gx, l * l * n * ci, ci);
      }

      if (gy !== null) {
        // grad y^l = (x^l)^T conj(grad z^l) for n >= 0: rows c, columns (n, c'); back to
        // [n][c][c'] with the rows n > 0 doubled for their mirrors n < 0.
        complexGemm(true, false, false, true, ci, h * co, dl * n, 1,
          x, l * l * n * ci, ci, g, gOffset, gStride, 0, gyRows, 0, h * co);
        deinterleaveOrders(gyRows, 0, gy, kernel, h, ci, co, 2);
      }
    }

    if (gx !== null) giveGrad(input, s2ForwardAdjoint(gx, n * ci, bIn, L));
    if (gy !== null) {
      giveGrad(this.weight, kernelSpectrumWeightGradient(this.kernelTable(), gy, halfRows,
        this.grid.length, pairs, this.spectrumFactor));
    }
  }
}
