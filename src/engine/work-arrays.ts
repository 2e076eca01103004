import type { FloatArray } from './kernels/backend.js';

/**
 * Reusable work arrays for computations that run synchronously and keep nothing between calls
 * (transforms, convolution columns, spectral-layer products): one array per named slot and
 * precision, grown to the largest length asked for and kept, so that big intermediates are not
 * allocated, and their pages faulted in, on every call. Contents are arbitrary: callers
 * overwrite what they read. Two arrays in use at the same time need different slot names; by
 * convention a slot name starts with its module ('conv.', 'layer.', 's2-', 'so3-').
 */

const arrays32 = new Map<string, Float32Array>();
const arrays64 = new Map<string, Float64Array>();

/** The float32 work array of `slot`, at least `length` long. */
export function workArray32(slot: string, length: number): Float32Array {
  let array = arrays32.get(slot);
  if (array === undefined || array.length < length) {
    array = new Float32Array(length);
    arrays32.set(slot, array);
  }
  return array;
}

/** The work array of `slot` in the precision of `like`, at least `length` long. */
export function workArrayLike<T extends FloatArray>(like: T, slot: string, length: number): T {
  if (like instanceof Float32Array) return workArray32(slot, length) as T;
  let array = arrays64.get(slot);
  if (array === undefined || array.length < length) {
    array = new Float64Array(length);
    arrays64.set(slot, array);
  }
  return array as T;
}

/** Frees every work array; they are allocated again on the next use. */
export function clearWorkArrays(): void {
  arrays32.clear();
  arrays64.clear();
}
