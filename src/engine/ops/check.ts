import type { Shape, Tensor } from '../tensor.js';

/**
 * Checks at the op boundary. Messages follow one template: the op, what must hold, what was
 * found. Shape errors here are programming errors (RangeError), not user errors.
 */
export function check(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new RangeError(message());
}

/** Throws unless `tensor` has rank `rank`. */
export function checkRank(op: string, name: string, tensor: Tensor, rank: number): void {
  check(tensor.rank === rank,
    () => `${op}: ${name} must have rank ${rank}, got shape [${tensor.shape}]`);
}

/** Whether two shapes are equal. */
export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((extent, i) => extent === b[i]);
}

/** Row-major strides of a shape. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

/** Turns a possibly negative axis into 0..rank-1. */
export function normaliseAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  check(Number.isInteger(a) && a >= 0 && a < rank,
    () => `${op}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/**
 * Adds a freshly allocated gradient `fresh` into `tensor`'s gradient. When the tensor has none
 * yet, `fresh` becomes its gradient without a copy, so `fresh` must not be used or shared
 * afterwards (unlike Tensor.accumulateGrad, which copies).
 */
export function giveGrad(tensor: Tensor, fresh: Float32Array): void {
  if (!tensor.requiresGrad) return;
  if (tensor.grad === null) tensor.grad = fresh;
  else tensor.accumulateGrad(fresh);
}
