import type { Shape } from '../tensor.js';
import { check, stridesOf } from './check.js';

/**
 * NumPy broadcasting: shapes are aligned at their last axis, and an axis of extent 1 (or a
 * missing leading axis) stretches to the other operand's extent.
 */
export function broadcastShape(a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const ea = a[a.length - rank + i] ?? 1;
    const eb = b[b.length - rank + i] ?? 1;
    check(ea === eb || ea === 1 || eb === 1,
      () => `broadcast: shapes [${a}] and [${b}] are not compatible`);
    out[i] = ea === 1 ? eb : ea;
  }
  return out;
}

/**
 * For every element of `outShape` (row-major), the flat index of the element of `inShape` that
 * broadcasts onto it. `inShape` must broadcast to `outShape`.
 */
export function broadcastIndex(inShape: Shape, outShape: Shape): Int32Array {
  const rank = outShape.length;
  const offset = rank - inShape.length;
  const inStrides = stridesOf(inShape);
  const strides = outShape.map((extent, i) => {
    const inExtent = i < offset ? 1 : inShape[i - offset];
    check(inExtent === extent || inExtent === 1,
      () => `broadcast: shape [${inShape}] does not broadcast to [${outShape}]`);
    return inExtent === 1 ? 0 : inStrides[i - offset];
  });

  let size = 1;
  for (const extent of outShape) size *= extent;
  const index = new Int32Array(size);
  if (size === 0) return index;
  if (rank === 0) return index;

  // Odometer over all axes but the last; the last axis is a strided run.
  const inner = outShape[rank - 1];
  const innerStride = strides[rank - 1];
  const counter = new Array<number>(rank).fill(0);
  let base = 0;
  for (let o = 0; o < size; o += inner) {
    for (let j = 0; j < inner; j++) index[o + j] = base + j * innerStride;
    for (let d = rank - 2; d >= 0; d--) {
      counter[d]++;
      base += strides[d];
      if (counter[d] < outShape[d]) break;
      base -= strides[d] * outShape[d];
      counter[d] = 0;
    }
  }
  return index;
}

/** Sums `values` of shape `fromShape` over the axes along which `toShape` was broadcast. */
export function sumToShape(values: Float32Array, fromShape: Shape, toShape: Shape): Float32Array {
  const index = broadcastIndex(toShape, fromShape);
  let size = 1;
  for (const extent of toShape) size *= extent;
  const out = new Float32Array(size);
  for (let i = 0; i < index.length; i++) out[index[i]] += values[i];
  return out;
}

/** Repeats `values` of shape `fromShape` to fill `toShape`. */
export function broadcastTo(values: Float32Array, fromShape: Shape, toShape: Shape): Float32Array {
  const index = broadcastIndex(fromShape, toShape);
  const out = new Float32Array(index.length);
  for (let i = 0; i < index.length; i++) out[i] = values[index[i]];
  return out;
}
