import type { FloatArray } from '../engine/kernels/index.js';
import type { Spectrum } from './indexing.js';

/**
 * Argument checks shared by the transforms. A mismatch here is a programming error in the caller
 * (a layer passing the wrong shape), so it throws RangeError naming the function and the values.
 */
export function checkBandwidths(name: string, S: number, b: number, L: number): void {
  if (!Number.isInteger(S) || S < 0) {
    throw new RangeError(`${name}: signal count ${S} is not a count`);
  }
  if (!Number.isInteger(b) || b < 1) {
    throw new RangeError(`${name}: grid bandwidth ${b} must be >= 1`);
  }
  if (!Number.isInteger(L) || L < 0 || L > b) {
    throw new RangeError(`${name}: degree bound L=${L} must be an integer in [0, ${b}]`);
  }
}

export function checkLength(name: string, what: string, array: FloatArray, expected: number): void {
  if (array.length !== expected) {
    throw new RangeError(`${name}: ${what} has ${array.length} values, expected ${expected}`);
  }
}

export function checkSpectrum<T extends FloatArray>(
  name: string, spectrum: Spectrum<T>, expected: number,
): void {
  checkLength(name, 'spectrum.re', spectrum.re, expected);
  checkLength(name, 'spectrum.im', spectrum.im, expected);
  if (spectrum.re.constructor !== spectrum.im.constructor) {
    throw new RangeError(`${name}: spectrum.re and spectrum.im have different element types`);
  }
}
