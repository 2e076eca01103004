import type { FloatArray } from '../engine/kernels/index.js';

/**
 * Flat indexing of spherical-harmonic (S2) and Wigner (SO(3)) coefficients, as in s2cnn
 * (transforms.md 2.5). Degrees run over l < L ("bandwidth" L), orders over -l..l.
 *
 *   S2:    index(l, m)    = l^2 + (m + l),                              count L^2
 *   SO(3): index(l, m, n) = l(4l^2 - 1)/3 + (m + l)(2l + 1) + (n + l),  count L(4L^2 - 1)/3
 *
 * Each degree of an SO(3) spectrum is a contiguous (2l+1) x (2l+1) block, row m, column n.
 */

/**
 * A batch of S complex spectra in planar form. Coefficient-major with the signals innermost:
 * the value of signal s at flat coefficient c is re[c * S + s] + i im[c * S + s].
 */
export interface Spectrum<T extends FloatArray> {
  re: T;
  im: T;
}

/** Number of S2 coefficients of degree l < L: L^2. */
export function s2CoefficientCount(L: number): number {
  return L * L;
}

/** Flat index of the S2 coefficient of degree l and order m (|m| <= l). */
export function s2CoefficientIndex(l: number, m: number): number {
  return l * l + m + l;
}

/** Number of SO(3) coefficients of degree l < L: sum of (2l+1)^2 = L(4L^2 - 1)/3. */
export function so3CoefficientCount(L: number): number {
  return (L * (4 * L * L - 1)) / 3;
}

/** Flat index of the SO(3) coefficient of degree l and orders m, n (|m|, |n| <= l). */
export function so3CoefficientIndex(l: number, m: number, n: number): number {
  return (l * (4 * l * l - 1)) / 3 + (m + l) * (2 * l + 1) + (n + l);
}

/** A zero spectrum of `count` coefficients for S signals, of the same precision as `like`. */
export function zeroSpectrum<T extends FloatArray>(like: T, count: number, S: number): Spectrum<T> {
  return { re: allocateLike(like, count * S), im: allocateLike(like, count * S) };
}

/** A zero-filled array of the same element type (Float32Array or Float64Array) as `like`. */
export function allocateLike<T extends FloatArray>(like: T, length: number): T {
  return (like instanceof Float32Array ? new Float32Array(length) : new Float64Array(length)) as T;
}
