import { result, shapeSize, type Shape, type Tensor } from '../tensor.js';
import { check, giveGrad, normaliseAxis, stridesOf } from './check.js';

/**
 * Operations that move values without arithmetic: reshape, permute, concatenation, slicing.
 */

/**
 * The same values (row-major order) under a new shape. One extent may be -1 and is then
 * inferred. The result shares no memory with `x`.
 */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const target = [...shape];
  const unknown = target.indexOf(-1);
  if (unknown >= 0) {
    const known = target.reduce((p, e, i) => (i === unknown ? p : p * e), 1);
    check(known > 0 && x.size % known === 0,
      () => `reshape: cannot infer -1 in [${shape}] for ${x.size} values`);
    target[unknown] = x.size / known;
  }
  check(shapeSize(target) === x.size,
    () => `reshape: shape [${shape}] needs ${shapeSize(target)} values, input [${
      x.shape}] has ${x.size}`);
  return result(Float32Array.from(x.data), target, [x], (g) => x.accumulateGrad(g));
}

/** Flattens every axis after the first: [N, ...] -> [N, prod(...)]. */
export function flatten(x: Tensor): Tensor {
  return reshape(x, [x.shape[0], x.size / Math.max(1, x.shape[0])]);
}

/** Gathers `values` of `shape` into the axis order `order` (out axis i = in axis order[i]). */
function permuteValues(values: Float32Array, shape: Shape, order: readonly number[]): Float32Array {
  const rank = shape.length;
  const inStrides = stridesOf(shape);
  const outShape = order.map((axis) => shape[axis]);
  const strides = order.map((axis) => inStrides[axis]);
  const out = new Float32Array(values.length);
  if (values.length === 0) return out;
  if (rank === 0) {
    out[0] = values[0];
    return out;
  }

  const inner = outShape[rank - 1];
  const innerStride = strides[rank - 1];
  const counter = new Array<number>(rank).fill(0);
  let base = 0;
  for (let o = 0; o < out.length; o += inner) {
    for (let j = 0; j < inner; j++) out[o + j] = values[base + j * innerStride];
    for (let d = rank - 2; d >= 0; d--) {
      counter[d]++;
      base += strides[d];
      if (counter[d] < outShape[d]) break;
      base -= strides[d] * outShape[d];
      counter[d] = 0;
    }
  }
  return out;
}

/** Reorders axes: result axis i is input axis order[i] (like torch.permute). */
export function permute(x: Tensor, order: readonly number[]): Tensor {
  const rank = x.rank;
  check(order.length === rank && [...order].sort((p, q) => p - q).every((a, i) => a === i),
    () => `permute: order [${order}] is not a permutation of the ${rank} axes of [${x.shape}]`);
  const shape = order.map((axis) => x.shape[axis]);
  const inverse = new Array<number>(rank);
  order.forEach((axis, i) => { inverse[axis] = i; });
  return result(permuteValues(x.data, x.shape, order), shape, [x],
    (g) => giveGrad(x, permuteValues(g, shape, inverse)));
}

/** Swaps the two axes of a matrix [m, n] -> [n, m]. */
export function transpose(x: Tensor): Tensor {
  check(x.rank === 2, () => `transpose: input must be a matrix, got shape [${x.shape}]`);
  return permute(x, [1, 0]);
}

/** Joins tensors along `axis`; all other extents must agree. */
export function concat(tensors: readonly Tensor[], axis: number): Tensor {
  check(tensors.length > 0, () => 'concat: needs at least one tensor');
  const first = tensors[0];
  const ax = normaliseAxis('concat', axis, first.rank);
  for (const t of tensors) {
    check(t.rank === first.rank && t.shape.every((e, i) => i === ax || e === first.shape[i]),
      () => `concat: shapes [${first.shape}] and [${t.shape}] differ off axis ${ax}`);
  }
  const outer = first.shape.slice(0, ax).reduce((p, e) => p * e, 1);
  const inner = first.shape.slice(ax + 1).reduce((p, e) => p * e, 1);
  const widths = tensors.map((t) => t.shape[ax] * inner);
  const total = widths.reduce((p, w) => p + w, 0);
  const shape = [...first.shape];
  shape[ax] = total / Math.max(1, inner);

  const out = new Float32Array(outer * total);
  let column = 0;
  tensors.forEach((t, k) => {
    const w = widths[k];
    for (let o = 0; o < outer; o++) out.set(t.data.subarray(o * w, o * w + w), o * total + column);
    column += w;
  });

  return result(out, shape, tensors, (g) => {
    let col = 0;
    tensors.forEach((t, k) => {
      const w = widths[k];
      if (t.requiresGrad) {
        const gt = new Float32Array(t.size);
        for (let o = 0; o < outer; o++) {
          gt.set(g.subarray(o * total + col, o * total + col + w), o * w);
        }
        giveGrad(t, gt);
      }
      col += w;
    });
  });
}

/** The indices start..start+length-1 of `axis` (like torch.narrow). */
export function slice(x: Tensor, axis: number, start: number, length: number): Tensor {
  const ax = normaliseAxis('slice', axis, x.rank);
  const extent = x.shape[ax];
  check(Number.isInteger(start) && Number.isInteger(length) && start >= 0 && length >= 0
    && start + length <= extent,
  () => `slice: range ${start}..${start + length} does not fit axis ${ax} of [${x.shape}]`);
  const outer = x.shape.slice(0, ax).reduce((p, e) => p * e, 1);
  const inner = x.shape.slice(ax + 1).reduce((p, e) => p * e, 1);
  const shape = [...x.shape];
  shape[ax] = length;
  const w = length * inner;
  const rowIn = extent * inner;

  const out = new Float32Array(outer * w);
  for (let o = 0; o < outer; o++) {
    const from = o * rowIn + start * inner;
    out.set(x.data.subarray(from, from + w), o * w);
  }
  return result(out, shape, [x], (g) => {
    const gx = new Float32Array(x.size);
    for (let o = 0; o < outer; o++) gx.set(g.subarray(o * w, o * w + w), o * rowIn + start * inner);
    giveGrad(x, gx);
  });
}
