import { gemm } from '../engine/kernels/index.js';
import type { FloatArray } from '../engine/kernels/index.js';
import type { EulerZYZ, Matrix3 } from '../sphere/rotation.js';
import { checkSpectrum } from './checks.js';
import { allocateLike, s2CoefficientCount, s2CoefficientIndex, so3CoefficientCount,
  so3CoefficientIndex, zeroSpectrum } from './indexing.js';
import type { Spectrum } from './indexing.js';
import { wignerDMatrices } from './wigner.js';

/**
 * Exact rotation of band-limited signals in the spectral domain.
 *
 * With F(g) = sum_l (2l+1) sum_mn F^l_mn D^l_mn(g), the homomorphism D(Q^-1 g) = D(Q^-1) D(g) and
 * unitarity D(Q^-1) = D(Q)^H give
 *
 *   F(Q^-1 g) = sum_l (2l+1) sum_kn [sum_m conj(D^l_km(Q)) F^l_mn] D^l_kn(g),
 *
 * so the rotated spectrum is conj(D^l(Q)) F^l (a product over the first order index) for each
 * degree. An S2 signal is the n = 0 column of the same expansion (x = R e_z, f(x) =
 * sum (2l+1) f^l_m D^l_{m0}(R)), so f^l <- conj(D^l(Q)) f^l as well (transforms.md 5, check 5).
 */

/** Rotated spectra of f(Q^-1 x): spectrum [lm][S], degrees l < L, same precision as the input. */
export function rotateS2Spectrum<T extends FloatArray>(
  spectrum: Spectrum<T>, S: number, L: number, rotation: Matrix3,
): Spectrum<T> {
  checkSpectrum('rotateS2Spectrum', spectrum, s2CoefficientCount(L) * S);
  return rotateBlocks(spectrum, L, rotation, s2CoefficientCount(L) * S,
    (l) => [s2CoefficientIndex(l, -l) * S, S]);
}

/** Rotated spectra of F(Q^-1 g): spectrum [lmn][S], degrees l < L, same precision as the input. */
export function rotateSo3Spectrum<T extends FloatArray>(
  spectrum: Spectrum<T>, S: number, L: number, rotation: Matrix3,
): Spectrum<T> {
  checkSpectrum('rotateSo3Spectrum', spectrum, so3CoefficientCount(L) * S);
  return rotateBlocks(spectrum, L, rotation, so3CoefficientCount(L) * S,
    (l) => [so3CoefficientIndex(l, -l, -l) * S, (2 * l + 1) * S]);
}

/**
 * out^l = conj(D^l(Q)) in^l for every degree, where block l of a spectrum starts at
 * block(l)[0] and is a row-major (2l+1) x block(l)[1] matrix (rows: first order index).
 */
function rotateBlocks<T extends FloatArray>(
  spectrum: Spectrum<T>, L: number, rotation: Matrix3, length: number,
  block: (l: number) => [number, number],
): Spectrum<T> {
  const like = spectrum.re;
  const out = zeroSpectrum(like, length, 1);
  const d64 = wignerDMatrices(L, eulerAnglesOf(rotation));
  const dRe = allocateLike(like, d64.re.length);
  const dIm = allocateLike(like, d64.im.length);
  dRe.set(d64.re);
  dIm.set(d64.im);

  for (let l = 0; l < L; l++) {
    const size = 2 * l + 1;
    const dOffset = so3CoefficientIndex(l, -l, -l);
    const [offset, columns] = block(l);

    // (Dre - i Dim)(Fre + i Fim) = (Dre Fre + Dim Fim) + i (Dre Fim - Dim Fre).
    gemm(false, false, size, columns, size, 1, dRe, dOffset, size, spectrum.re, offset, columns,
      0, out.re, offset, columns);
    gemm(false, false, size, columns, size, 1, dIm, dOffset, size, spectrum.im, offset, columns,
      1, out.re, offset, columns);
    gemm(false, false, size, columns, size, 1, dRe, dOffset, size, spectrum.im, offset, columns,
      0, out.im, offset, columns);
    gemm(false, false, size, columns, size, -1, dIm, dOffset, size, spectrum.re, offset, columns,
      1, out.im, offset, columns);
  }
  return out;
}

/**
 * ZYZ Euler angles of a rotation matrix R = Rz(alpha) Ry(beta) Rz(gamma), accurate near the
 * poles. beta = atan2(|R e_z projected on xy|, R_33) keeps full precision at small beta (acos of
 * R_33 does not), and of alpha + gamma and alpha - gamma, the one that is well conditioned is
 * taken from the upper-left 2 x 2 block:
 *
 *   R_11 + R_22 = (1 + cos b) cos(a + g),  R_21 - R_12 = (1 + cos b) sin(a + g),
 *   R_11 - R_22 = (cos b - 1) cos(a - g),  R_21 + R_12 = (cos b - 1) sin(a - g).
 *
 * The remaining combination comes from atan2 of the third row and column; its error is about
 * eps / sin(beta), but D^l_mn(R) depends on it only through terms of size sin(beta)^|m -+ n|.
 */
function eulerAnglesOf(r: Matrix3): EulerZYZ {
  const sinBeta = Math.hypot(r[2], r[5]);
  const beta = Math.atan2(sinBeta, r[8]);
  if (sinBeta === 0) {
    // R = Rz(alpha + gamma) or Rz(alpha - gamma) Ry(pi): put everything into alpha.
    return r[8] > 0 ? { alpha: Math.atan2(r[3], r[0]), beta, gamma: 0 }
      : { alpha: Math.atan2(-r[1], -r[0]), beta, gamma: 0 };
  }
  let alpha = Math.atan2(r[5], r[2]);
  let gamma = Math.atan2(r[7], -r[6]);
  const wrap = (angle: number): number => angle - 2 * Math.PI * Math.round(angle / (2 * Math.PI));
  if (r[8] >= 0) {
    const sum = Math.atan2(r[3] - r[1], r[0] + r[4]);
    const correction = wrap(sum - (alpha + gamma)) / 2;
    alpha += correction;
    gamma += correction;
  } else {
    const difference = Math.atan2(-(r[3] + r[1]), -(r[0] - r[4]));
    const correction = wrap(difference - (alpha - gamma)) / 2;
    alpha += correction;
    gamma -= correction;
  }
  return { alpha, beta, gamma };
}
