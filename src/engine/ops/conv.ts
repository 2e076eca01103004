import { gemm } from '../kernels/index.js';
import { result, type Tensor } from '../tensor.js';
import { check, checkRank, giveGrad } from './check.js';
import { convolutionBackend, patchBackend } from './extensions.js';
import { col2im, im2col, type PatchGeometry } from './im2col.js';

/**
 * Two-dimensional convolution and its transpose on [N, C, H, W] tensors, by im2col and matrix
 * products (so they speed up with the kernel backend).
 *
 * A backend with convolution kernels (ops/extensions.ts; the wasm backend) takes the whole batch
 * in one call. Otherwise samples are processed here in groups whose columns matrix stays under
 * `columnBudget` floats: a group's columns sit side by side, [C kh kw, g Ho Wo], which makes the
 * products wider without holding the whole batch's columns in memory. Backward passes rebuild
 * the columns instead of keeping them.
 */
export const convolutionSettings = {
  /** Largest columns matrix built at once, in floats (16 MiB); at least one sample is taken. */
  columnBudget: 1 << 22,
};

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
      let s = 0;
      for (let p = 0; p < plane; p++) s += g[base + p];
      gb[c] += s;
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
  const cols = new Float32Array(rows * group * plane);
  const wide = group > 1 ? new Float32Array(channels * group * plane) : null;
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
 * Cross-correlation as in PyTorch's Conv2d: input [N, Cin, H, W], weight [Cout, Cin, kh, kw],
 * bias [Cout] or null. Output [N, Cout, Ho, Wo] with Ho = floor((H + 2 padding - kh) / stride)
 * + 1 (likewise Wo); padding 0 is the paper's "valid" convolution.
 */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null, stride = 1,
  padding = 0): Tensor {
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
  if (fast !== null) fast.conv2dForward(geometry, batch, outChannels, x.data, weight.data, out);
  else conv2dGroups(geometry, batch, outChannels, x.data, weight.data, out);
  if (bias !== null) addBias(out, bias.data, batch, plane);

  const parents = bias === null ? [x, weight] : [x, weight, bias];
  return result(out, [batch, outChannels, outHeight, outWidth], parents, (g) => {
    const gw = weight.requiresGrad ? new Float32Array(weight.size) : null;
    const gx = x.requiresGrad ? new Float32Array(x.size) : null;
    if (gw !== null || gx !== null) {
      const backend = convolutionBackend();
      if (backend !== null) {
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
  });
}

/**
 * Transposed convolution as in PyTorch's ConvTranspose2d (the adjoint of conv2d with the same
 * weight, plus a bias): input [N, Cin, H, W], weight [Cin, Cout, kh, kw], bias [Cout] or null.
 * Output [N, Cout, Ho, Wo] with Ho = (H - 1) stride - 2 padding + kh + outputPadding;
 * outputPadding (< stride) adds rows and columns at the bottom and right that only the bias
 * reaches, so a decoder can match an encoder map's size exactly.
 */
export function convTranspose2d(x: Tensor, weight: Tensor, bias: Tensor | null, stride = 1,
  outputPadding = 0, padding = 0): Tensor {
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
  if (fast !== null) {
    fast.convTranspose2dForward(geometry, batch, inChannels, x.data, weight.data, out);
  } else {
    convTranspose2dGroups(geometry, batch, inChannels, x.data, weight.data, out);
  }
  if (bias !== null) addBias(out, bias.data, batch, outHeight * outWidth);

  const parents = bias === null ? [x, weight] : [x, weight, bias];
  return result(out, [batch, outChannels, outHeight, outWidth], parents, (g) => {
    const gw = weight.requiresGrad ? new Float32Array(weight.size) : null;
    const gx = x.requiresGrad ? new Float32Array(x.size) : null;
    if (gw !== null || gx !== null) {
      const backend = convolutionBackend();
      const args = [geometry, batch, inChannels, x.data, weight.data, g, gx, gw] as const;
      if (backend !== null) backend.convTranspose2dBackward(...args);
      else convTranspose2dGroupsBackward(...args);
    }
    if (gx !== null) giveGrad(x, gx);
    if (gw !== null) giveGrad(weight, gw);
    if (bias !== null && bias.requiresGrad) {
      giveGrad(bias, biasGrad(g, outChannels, batch, outHeight * outWidth));
    }
  });
}
