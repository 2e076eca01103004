import { gemm } from '../kernels/index.js';
import { result, type Tensor } from '../tensor.js';
import { workArray32 } from '../work-arrays.js';
import { check, checkRank, giveGrad } from './check.js';
import { convolutionBackend, patchBackend } from './extensions.js';
import { col2im, im2col, type PatchGeometry } from './im2col.js';
import {
  addArrangedKernel, arrangeGatherKernel, arrangeKernel, correlate, correlateAdjoint,
  correlateGather, correlateWeightGrad, rowBlock, shiftPlanes,
  wideConvSettings, type WideGeometry,
} from './wide-conv.js';

/**
 * Two-dimensional convolution and its transpose on [N, C, H, W] tensors, by im2col and matrix
 * products (so they speed up with the kernel backend).
 *
 * A backend with convolution kernels (ops/extensions.ts; the wasm backend) takes the whole batch
 * in one call. Otherwise samples are processed here in groups whose columns matrix stays under
 * `columnBudget` floats: a group's columns sit side by side, [C kh kw, g Ho Wo], which makes the
 * products wider without holding the whole batch's columns in memory. Backward passes rebuild
 * the columns instead of keeping them.
 *
 * Stride-1 convolutions (both kinds, any padding) on backends without convolution kernels skip
 * im2col altogether: each is one valid correlation C (wide-conv.ts) whose forward, adjoint and
 * kernel gradient give the six products (conv2d: y = C x, dx = C^T dy; convTranspose2d:
 * y = C^T x, dx = C dy). The columns and wide buffers are work arrays (../work-arrays.ts)
 * reused from call to call (allocating them afresh costs page faults every step).
 */
export const convolutionSettings = {
  /** Largest columns matrix built at once, in floats (16 MiB); at least one sample is taken. */
  columnBudget: 1 << 22,
  /** Stride-1 convolutions through wide-grid correlations (off: im2col groups, for tests). */
  wideStride1: true,
};

/** Work-array slots of this file (engine/work-arrays.ts); they live inside one call only. */
const SLOT_SHIFT = 'conv.shift';
const SLOT_PADDED = 'conv.padded';
const SLOT_COLUMNS = 'conv.columns';
const SLOT_GROUP = 'conv.group';

function groupSize(perSample: number, batch: number): number {
  const budget = convolutionSettings.columnBudget;
  return Math.max(1, Math.min(batch, Math.floor(budget / Math.max(1, perSample))));
}

/** Copies samples n0..n0+g-1 of a [N, C, P] array into a [C, g P] matrix. */
function gather(src: Float32Array, n0: number, g: number, channels: number, plane: number,
  dst: Float32Array): void {
  const ld = g * plane;
  for (let t = 0; t < g; t++) {
    for (let c = 0; c < channels; c++) {
      const from = ((n0 + t) * channels + c) * plane;
      dst.set(src.subarray(from, from + plane), c * ld + t * plane);
    }
  }
}

/** Inverse of `gather`: copies a [C, g P] matrix back to samples n0..n0+g-1 of [N, C, P]. */
function scatter(src: Float32Array, n0: number, g: number, channels: number, plane: number,
  dst: Float32Array): void {
  const ld = g * plane;
  for (let t = 0; t < g; t++) {
    for (let c = 0; c < channels; c++) {
      const from = c * ld + t * plane;
      dst.set(src.subarray(from, from + plane), ((n0 + t) * channels + c) * plane);
    }
  }
}

function geometryArray(g: PatchGeometry): Int32Array {
  return Int32Array.of(g.channels, g.height, g.width, g.kernelHeight, g.kernelWidth, g.stride,
    g.padding, g.outHeight, g.outWidth);
}

/**
 * im2col of images n0..n0+count-1 (each `imageSize` floats) side by side into cols (row length
 * ld), in compiled code when the backend offers it.
 */
function unfoldGroup(geometry: PatchGeometry, src: Float32Array, n0: number, count: number,
  imageSize: number, cols: Float32Array, ld: number): void {
  const plane = geometry.outHeight * geometry.outWidth;
  const fast = patchBackend();
  if (fast !== null) {
    fast.patches(0, geometryArray(geometry), count, src, n0 * imageSize, imageSize, cols, 0, ld);
    return;
  }
  for (let t = 0; t < count; t++) im2col(geometry, src, (n0 + t) * imageSize, cols, t * plane, ld);
}

/** Adjoint of unfoldGroup: adds the columns onto images n0..n0+count-1 of dst. */
function foldGroup(geometry: PatchGeometry, cols: Float32Array, ld: number, dst: Float32Array,
  n0: number, count: number, imageSize: number): void {
  const plane = geometry.outHeight * geometry.outWidth;
  const fast = patchBackend();
  if (fast !== null) {
    fast.patches(1, geometryArray(geometry), count, dst, n0 * imageSize, imageSize, cols, 0, ld);
    return;
  }
  for (let t = 0; t < count; t++) col2im(geometry, cols, t * plane, ld, dst, (n0 + t) * imageSize);
}

function addBias(out: Float32Array, bias: Float32Array, batch: number, plane: number): void {
  const channels = bias.length;
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      const b = bias[c];
      const base = (n * channels + c) * plane;
      for (let p = 0; p < plane; p++) out[base + p] += b;
    }
  }
}

function biasGrad(g: Float32Array, channels: number, batch: number, plane: number): Float32Array {
  const gb = new Float32Array(channels);
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      const base = (n * channels + c) * plane;
      // Four partial sums: one running sum would wait on every addition's latency.
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let p = 0;
      for (; p + 3 < plane; p += 4) {
        s0 += g[base + p];
        s1 += g[base + p + 1];
        s2 += g[base + p + 2];
        s3 += g[base + p + 3];
      }
      for (; p < plane; p++) s0 += g[base + p];
      gb[c] += (s0 + s1) + (s2 + s3);
    }
  }
  return gb;
}

/**
 * Buffers of a grouped convolution: `group` samples at a time are unfolded side by side into one
 * `cols` matrix [rows, group plane], so each gemm is wide; `wide` holds the [channels, group
 * plane] operand or result of the per-sample [N, channels, plane] tensor (null when one sample
 * fits per group).
 */
interface GroupPlan {
  rows: number;
  plane: number;
  imagePlane: number;
  group: number;
  cols: Float32Array;
  wide: Float32Array | null;
}

function groupPlan(geometry: PatchGeometry, batch: number, channels: number): GroupPlan {
  const rows = geometry.channels * geometry.kernelHeight * geometry.kernelWidth;
  const plane = geometry.outHeight * geometry.outWidth;
  const imagePlane = geometry.channels * geometry.height * geometry.width;
  const group = groupSize(rows * plane, batch);
  const cols = workArray32(SLOT_COLUMNS, rows * group * plane);
  const wide = group > 1 ? workArray32(SLOT_GROUP, channels * group * plane) : null;
  return { rows, plane, imagePlane, group, cols, wide };
}

/**
 * Samples n0..n0+count-1 of a [N, channels, plane] tensor as a [channels, count plane] gemm
 * operand: the tensor itself for one sample, else gathered into `wide`. Returns [array, offset].
 */
function groupOperand(src: Float32Array, n0: number, count: number, channels: number,
  plane: number, wide: Float32Array | null): [Float32Array, number] {
  if (count === 1 || wide === null) return [src, n0 * channels * plane];
  gather(src, n0, count, channels, plane, wide);
  return [wide, 0];
}

/**
 * dst[samples n0..n0+count-1] = W cols for a weight W [channels, rows]: straight into the
 * [N, channels, plane] tensor for one sample, else through `wide` and a scatter.
 */
function gemmIntoGroup(w: Float32Array, rows: number, cols: Float32Array, n0: number,
  count: number, channels: number, plane: number, wide: Float32Array | null,
  dst: Float32Array): void {
  const ld = count * plane;
  if (count === 1 || wide === null) {
    gemm(false, false, channels, ld, rows, 1, w, 0, rows, cols, 0, ld, 0,
      dst, n0 * channels * plane, ld);
    return;
  }
  gemm(false, false, channels, ld, rows, 1, w, 0, rows, cols, 0, ld, 0, wide, 0, ld);
  scatter(wide, n0, count, channels, plane, dst);
}

/**
 * The grouped convolution kernels on any backend's gemm (see the module comment). Geometry as
 * in im2col.ts; x [N, C, H, W]. conv2d: weight [Cout, C kh kw], out [N, Cout, Ho Wo]; gradients
 * overwrite gx and gw. Transposed: the geometry describes the output image; x [N, Cin, Ho Wo].
 */
function conv2dGroups(geometry: PatchGeometry, batch: number, outChannels: number,
  x: Float32Array, w: Float32Array, out: Float32Array): void {
  const { rows, plane, imagePlane, group, cols, wide } = groupPlan(geometry, batch, outChannels);

  // cols = im2col(x) for the group; out = W cols.
  for (let n0 = 0; n0 < batch; n0 += group) {
    const count = Math.min(group, batch - n0);
    unfoldGroup(geometry, x, n0, count, imagePlane, cols, count * plane);
    gemmIntoGroup(w, rows, cols, n0, count, outChannels, plane, wide, out);
  }
}

function conv2dGroupsBackward(geometry: PatchGeometry, batch: number, outChannels: number,
  x: Float32Array, w: Float32Array, gy: Float32Array, gx: Float32Array | null,
  gw: Float32Array | null): void {
  const { rows, plane, imagePlane, group, cols, wide } = groupPlan(geometry, batch, outChannels);

  for (let n0 = 0; n0 < batch; n0 += group) {
    const count = Math.min(group, batch - n0);
    const ld = count * plane;
    const [dy, dyOffset] = groupOperand(gy, n0, count, outChannels, plane, wide);
    // dW += dY cols^T, then dcols = W^T dY (reusing the columns buffer) and dx = col2im(dcols).
    if (gw !== null) {
      unfoldGroup(geometry, x, n0, count, imagePlane, cols, ld);
      gemm(false, true, outChannels, rows, ld, 1, dy, dyOffset, ld, cols, 0, ld, 1, gw, 0, rows);
    }
    if (gx !== null) {
      gemm(true, false, rows, ld, outChannels, 1, w, 0, rows, dy, dyOffset, ld, 0, cols, 0, ld);
      foldGroup(geometry, cols, ld, gx, n0, count, imagePlane);
    }
  }
}

function convTranspose2dGroups(geometry: PatchGeometry, batch: number, inChannels: number,
  x: Float32Array, w: Float32Array, out: Float32Array): void {
  const { rows, plane, imagePlane, group, cols, wide } = groupPlan(geometry, batch, inChannels);

  // cols = W^T x for the group, then scatter-add the columns onto each output image.
  for (let n0 = 0; n0 < batch; n0 += group) {
    const count = Math.min(group, batch - n0);
    const ld = count * plane;
    const [xs, xOffset] = groupOperand(x, n0, count, inChannels, plane, wide);
    gemm(true, false, rows, ld, inChannels, 1, w, 0, rows, xs, xOffset, ld, 0, cols, 0, ld);
    foldGroup(geometry, cols, ld, out, n0, count, imagePlane);
  }
}

function convTranspose2dGroupsBackward(geometry: PatchGeometry, batch: number,
  inChannels: number, x: Float32Array, w: Float32Array, gy: Float32Array,
  gx: Float32Array | null, gw: Float32Array | null): void {
  const { rows, plane, imagePlane, group, cols, wide } = groupPlan(geometry, batch, inChannels);

  // cols = im2col(dY); dx = W cols; dW += x cols^T.
  for (let n0 = 0; n0 < batch; n0 += group) {
    const count = Math.min(group, batch - n0);
    const ld = count * plane;
    unfoldGroup(geometry, gy, n0, count, imagePlane, cols, ld);
    if (gx !== null) gemmIntoGroup(w, rows, cols, n0, count, inChannels, plane, wide, gx);
    if (gw !== null) {
      const [xs, from] = groupOperand(x, n0, count, inChannels, plane, wide);
      gemm(false, true, inChannels, rows, ld, 1, xs, from, ld, cols, 0, ld, 1, gw, 0, rows);
    }
  }
}

/**
 * Image n of src [N, C, H, W] zero-padded by `padding` on every side: the array itself when
 * padding is 0, else a scratch copy. Returns [array, offset].
 */
function paddedSample(src: Float32Array, n: number, channels: number, height: number,
  width: number, padding: number): [Float32Array, number] {
  if (padding === 0) return [src, n * channels * height * width];
  const paddedHeight = height + 2 * padding;
  const paddedWidth = width + 2 * padding;
  const dst = workArray32(SLOT_SHIFT, channels * paddedHeight * paddedWidth);
  shiftPlanes(src, n * channels * height * width, channels, height, width, padding, padding,
    dst, 0, paddedHeight, paddedWidth);
  return [dst, 0];
}

/** Size of one output image of a correlation. */
function outputSize(g: WideGeometry): number {
  return g.outChannels * (g.height - g.kernelHeight + 1) * (g.width - g.kernelWidth + 1);
}

/**
 * dst_n = bias + valid correlation of src_n with w [O, I, kh, kw] for every sample, where src_n
 * is image n of an [N, I, srcHeight, srcWidth] tensor padded by `padding` to g's input size.
 */
function correlateBatch(g: WideGeometry, batch: number, src: Float32Array, srcHeight: number,
  srcWidth: number, padding: number, w: Float32Array, bias: Float32Array | null,
  dst: Float32Array): void {
  const outPlane = outputSize(g);
  const gather = g.channels >= wideConvSettings.gatherMinChannels && g.kernelWidth > 1;
  const block = rowBlock(g);
  const kernel = gather ? arrangeGatherKernel(w, g) : arrangeKernel(w, g, block);
  for (let n = 0; n < batch; n++) {
    const [image, offset] = paddedSample(src, n, g.channels, srcHeight, srcWidth, padding);
    if (gather) correlateGather(g, kernel, bias, image, offset, dst, n * outPlane);
    else correlate(g, block, kernel, bias, image, offset, dst, n * outPlane);
  }
}

/**
 * dst_n = bias + the adjoint of that correlation applied to grad_n [O, Ho, Wo], cropped by
 * `padding` to [I, g.height - 2 padding, g.width - 2 padding], for every sample.
 */
function correlateAdjointBatch(g: WideGeometry, batch: number, grad: Float32Array,
  padding: number, w: Float32Array, bias: Float32Array | null, dst: Float32Array): void {
  const height = g.height - 2 * padding;
  const width = g.width - 2 * padding;
  const dstPlane = g.channels * height * width;
  const outPlane = outputSize(g);
  const kernel = arrangeKernel(w, g, 1);
  for (let n = 0; n < batch; n++) {
    if (padding === 0) {
      correlateAdjoint(g, kernel, bias, grad, n * outPlane, dst, n * dstPlane);
      continue;
    }
    const padded = workArray32(SLOT_PADDED, g.channels * g.height * g.width);
    correlateAdjoint(g, kernel, bias, grad, n * outPlane, padded, 0);
    shiftPlanes(padded, 0, g.channels, g.height, g.width, -padding, -padding, dst,
      n * dstPlane, height, width);
  }
}

/**
 * gw [O, I, kh, kw] += sum_n the kernel gradient of correlating src_n (padded as in
 * `correlateBatch`) given the output gradient grad_n [O, Ho, Wo].
 */
function correlateBatchWeightGrad(g: WideGeometry, batch: number, src: Float32Array,
  srcHeight: number, srcWidth: number, padding: number, grad: Float32Array,
  gw: Float32Array): void {
  const block = rowBlock(g);
  const dWr = new Float32Array(gw.length);
  const outPlane = outputSize(g);
  for (let n = 0; n < batch; n++) {
    const [image, offset] = paddedSample(src, n, g.channels, srcHeight, srcWidth, padding);
    correlateWeightGrad(g, block, image, offset, grad, n * outPlane, dWr);
  }
  addArrangedKernel(dWr, g, block, gw);
}

/**
 * The correlation behind a stride-1 conv2d of an [N, C, H, W] input, or behind the transposed
 * convolution whose output image that is: input pad_p(x) [C, H + 2p, W + 2p], kernel
 * [outChannels, C, kh, kw] (geometry as in im2col.ts).
 */
function wideGeometry(geometry: PatchGeometry, outChannels: number): WideGeometry {
  const { channels, height, width, kernelHeight, kernelWidth, padding: p } = geometry;
  return { channels, height: height + 2 * p, width: width + 2 * p, kernelHeight, kernelWidth,
    outChannels };
}

/**
 * Stride-1 conv2d as one correlation C of pad_p(x) with w: y = C(x); dx = the adjoint of C
 * applied to dy, cropped; dw = C's kernel gradient.
 */
function conv2dWide(geometry: PatchGeometry, batch: number, outChannels: number,
  x: Float32Array, w: Float32Array, bias: Float32Array | null, out: Float32Array): void {
  const g = wideGeometry(geometry, outChannels);
  correlateBatch(g, batch, x, geometry.height, geometry.width, geometry.padding, w, bias, out);
}

function conv2dWideBackward(geometry: PatchGeometry, batch: number, outChannels: number,
  x: Float32Array, w: Float32Array, gy: Float32Array, gx: Float32Array | null,
  gw: Float32Array | null): void {
  const g = wideGeometry(geometry, outChannels);
  const { height, width, padding } = geometry;
  if (gw !== null) correlateBatchWeightGrad(g, batch, x, height, width, padding, gy, gw);
  if (gx !== null) correlateAdjointBatch(g, batch, gy, padding, w, null, gx);
}

/**
 * Stride-1 convTranspose2d (geometry of its output image, as for the groups) as the adjoint of
 * the correlation C of its padded output with w [inChannels, outChannels, kh, kw]: y = C^T(x)
 * cropped; dx = C(dy); dw = C's kernel gradient with x as the output gradient.
 */
function convTranspose2dWide(geometry: PatchGeometry, batch: number, inChannels: number,
  x: Float32Array, w: Float32Array, bias: Float32Array | null, out: Float32Array): void {
  const g = wideGeometry(geometry, inChannels);
  correlateAdjointBatch(g, batch, x, geometry.padding, w, bias, out);
}

function convTranspose2dWideBackward(geometry: PatchGeometry, batch: number,
  inChannels: number, x: Float32Array, w: Float32Array, gy: Float32Array,
  gx: Float32Array | null, gw: Float32Array | null): void {
  const g = wideGeometry(geometry, inChannels);
  const { height, width, padding } = geometry;
  if (gx !== null) correlateBatch(g, batch, gy, height, width, padding, w, null, gx);
  if (gw !== null) correlateBatchWeightGrad(g, batch, gy, height, width, padding, x, gw);
}

/** The tensors an op's result depends on (bias and addend when present). */
function parentsOf(x: Tensor, weight: Tensor, bias: Tensor | null,
  addend: Tensor | null): Tensor[] {
  const parents = [x, weight];
  if (bias !== null) parents.push(bias);
  if (addend !== null) parents.push(addend);
  return parents;
}

/** out += addend (same shape), for ops that fuse a following addition. */
function addAddend(op: string, out: Float32Array, shape: number[],
  addend: Tensor | null): void {
  if (addend === null) return;
  check(addend.rank === 4 && addend.shape.every((extent, i) => extent === shape[i]),
    () => `${op}: addend must have the output shape [${shape}], got [${addend.shape}]`);
  const values = addend.data;
  for (let i = 0; i < out.length; i++) out[i] += values[i];
}

/**
 * Cross-correlation as in PyTorch's Conv2d: input [N, Cin, H, W], weight [Cout, Cin, kh, kw],
 * bias [Cout] or null. Output [N, Cout, Ho, Wo] with Ho = floor((H + 2 padding - kh) / stride)
 * + 1 (likewise Wo); padding 0 is the paper's "valid" convolution. A non-null `addend`
 * (output shape) is added to the result: add(conv2d(x, ...), addend) without the extra
 * array, the extra pass and the gradient copy of a separate add.
 */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null, stride = 1,
  padding = 0, addend: Tensor | null = null): Tensor {
  checkRank('conv2d', 'input', x, 4);
  checkRank('conv2d', 'weight', weight, 4);
  const [batch, inChannels, height, width] = x.shape;
  const [outChannels, weightIn, kernelHeight, kernelWidth] = weight.shape;
  check(weightIn === inChannels,
    () => `conv2d: weight [${weight.shape}] expects ${weightIn} channels, input [${x.shape}]`);
  check(bias === null || (bias.rank === 1 && bias.shape[0] === outChannels),
    () => `conv2d: bias must have shape [${outChannels}], got [${bias?.shape}]`);
  check(Number.isInteger(stride) && stride >= 1 && Number.isInteger(padding) && padding >= 0,
    () => `conv2d: stride must be >= 1 and padding >= 0, got ${stride} and ${padding}`);
  const outHeight = Math.floor((height + 2 * padding - kernelHeight) / stride) + 1;
  const outWidth = Math.floor((width + 2 * padding - kernelWidth) / stride) + 1;
  check(outHeight >= 1 && outWidth >= 1,
    () => `conv2d: kernel ${kernelHeight}x${kernelWidth} does not fit input [${x.shape}]`);

  const geometry: PatchGeometry = {
    channels: inChannels, height, width, kernelHeight, kernelWidth, stride, padding,
    outHeight, outWidth,
  };
  const plane = outHeight * outWidth;
  const out = new Float32Array(batch * outChannels * plane);
  const fast = convolutionBackend();
  // Backends with their own convolution kernels (wasm) keep them: measured faster there.
  // Missing: a wasm version of the wide-grid path (its shifts and compactions run in
  // TypeScript there), which leaves wasm CNN training steps at about 0.7x PyTorch's.
  const wide = fast === null && stride === 1 && convolutionSettings.wideStride1;
  if (wide) {
    conv2dWide(geometry, batch, outChannels, x.data, weight.data, bias?.data ?? null, out);
  } else if (fast !== null) {
    // The backend adds the bias while the output is still in its memory.
    fast.conv2dForward(geometry, batch, outChannels, x.data, weight.data, out,
      bias?.data ?? null);
  } else conv2dGroups(geometry, batch, outChannels, x.data, weight.data, out);
  if (bias !== null && !wide && fast === null) addBias(out, bias.data, batch, plane);
  const shape = [batch, outChannels, outHeight, outWidth];
  addAddend('conv2d', out, shape, addend);

  return result(out, shape, parentsOf(x, weight, bias, addend), (g) => {
    const gw = weight.requiresGrad ? new Float32Array(weight.size) : null;
    const gx = x.requiresGrad ? new Float32Array(x.size) : null;
    if (gw !== null || gx !== null) {
      const backend = convolutionBackend();
      if (wide) {
        conv2dWideBackward(geometry, batch, outChannels, x.data, weight.data, g, gx, gw);
      } else if (backend !== null) {
        backend.conv2dBackward(geometry, batch, outChannels, x.data, weight.data, g, gx, gw);
      } else {
        conv2dGroupsBackward(geometry, batch, outChannels, x.data, weight.data, g, gx, gw);
      }
    }
    if (gx !== null) giveGrad(x, gx);
    if (gw !== null) giveGrad(weight, gw);
    if (bias !== null && bias.requiresGrad) {
      giveGrad(bias, biasGrad(g, outChannels, batch, plane));
    }
    // Last, as nothing reads g after it: the addend's gradient is g itself, handed over.
    if (addend !== null) giveGrad(addend, g);
  });
}

/**
 * Transposed convolution as in PyTorch's ConvTranspose2d (the adjoint of conv2d with the same
 * weight, plus a bias): input [N, Cin, H, W], weight [Cin, Cout, kh, kw], bias [Cout] or null.
 * Output [N, Cout, Ho, Wo] with Ho = (H - 1) stride - 2 padding + kh + outputPadding;
 * outputPadding (< stride) adds rows and columns at the bottom and right that only the bias
 * reaches, so a decoder can match an encoder map's size exactly. `addend` as in conv2d.
 */
export function convTranspose2d(x: Tensor, weight: Tensor, bias: Tensor | null, stride = 1,
  outputPadding = 0, padding = 0, addend: Tensor | null = null): Tensor {
  checkRank('convTranspose2d', 'input', x, 4);
  checkRank('convTranspose2d', 'weight', weight, 4);
  const [batch, inChannels, height, width] = x.shape;
  const [weightIn, outChannels, kernelHeight, kernelWidth] = weight.shape;
  check(weightIn === inChannels, () => `convTranspose2d: weight [${weight.shape}] expects ${
    weightIn} channels, input [${x.shape}]`);
  check(bias === null || (bias.rank === 1 && bias.shape[0] === outChannels),
    () => `convTranspose2d: bias must have shape [${outChannels}], got [${bias?.shape}]`);
  check(Number.isInteger(stride) && stride >= 1 && Number.isInteger(outputPadding)
    && outputPadding >= 0 && outputPadding < stride && Number.isInteger(padding) && padding >= 0,
  () => `convTranspose2d: need stride >= 1, 0 <= outputPadding < stride, padding >= 0; got ${
    stride}, ${outputPadding}, ${padding}`);
  const outHeight = (height - 1) * stride - 2 * padding + kernelHeight + outputPadding;
  const outWidth = (width - 1) * stride - 2 * padding + kernelWidth + outputPadding;
  check(outHeight >= 1 && outWidth >= 1,
    () => `convTranspose2d: output would be ${outHeight}x${outWidth} for input [${x.shape}]`);

  // The forward pass scatters columns onto the output image: col2im with the output as image.
  const geometry: PatchGeometry = {
    channels: outChannels, height: outHeight, width: outWidth, kernelHeight, kernelWidth,
    stride, padding, outHeight: height, outWidth: width,
  };
  const out = new Float32Array(batch * outChannels * outHeight * outWidth);
  const fast = convolutionBackend();
  // Backends with their own convolution kernels (wasm) keep them: measured faster there.
  const wide = fast === null && stride === 1 && convolutionSettings.wideStride1;
  if (wide) {
    convTranspose2dWide(geometry, batch, inChannels, x.data, weight.data, bias?.data ?? null,
      out);
  } else if (fast !== null) {
    // The backend adds the bias while the output is still in its memory.
    fast.convTranspose2dForward(geometry, batch, inChannels, x.data, weight.data, out,
      bias?.data ?? null);
  } else {
    convTranspose2dGroups(geometry, batch, inChannels, x.data, weight.data, out);
  }
  if (bias !== null && !wide && fast === null) {
    addBias(out, bias.data, batch, outHeight * outWidth);
  }
  const shape = [batch, outChannels, outHeight, outWidth];
  addAddend('convTranspose2d', out, shape, addend);

  return result(out, shape, parentsOf(x, weight, bias, addend), (g) => {
    const gw = weight.requiresGrad ? new Float32Array(weight.size) : null;
    const gx = x.requiresGrad ? new Float32Array(x.size) : null;
    if (gw !== null || gx !== null) {
      const backend = convolutionBackend();
      const args = [geometry, batch, inChannels, x.data, weight.data, g, gx, gw] as const;
      if (wide) convTranspose2dWideBackward(...args);
      else if (backend !== null) backend.convTranspose2dBackward(...args);
      else convTranspose2dGroupsBackward(...args);
    }
    if (gx !== null) giveGrad(x, gx);
    if (gw !== null) giveGrad(weight, gw);
    if (bias !== null && bias.requiresGrad) {
      giveGrad(bias, biasGrad(g, outChannels, batch, outHeight * outWidth));
    }
    if (addend !== null) giveGrad(addend, g);
  });
}
