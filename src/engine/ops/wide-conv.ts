import { gemm } from '../kernels/index.js';
import { workArray32 } from '../work-arrays.js';
import { patchBackend } from './extensions.js';

/**
 * Stride-1 correlations on the "wide" output grid, without a full im2col.
 *
 * For an input plane of width W, the output pixel (oy, ox) of a valid correlation with a
 * kh x kw kernel reads x[oy + ky, ox + kx] = x_flat[oy W + ox + ky W + kx]. Computed on the wide
 * grid p = oy W + ox with ox running over all W columns (the last W - Wo of each row are garbage
 * and are dropped at the end), the shift (ky, kx) of the input is the contiguous slice that
 * starts at ky W + kx, so a kernel row ky is one gemm reading its operand at an offset. Three
 * ways to handle the kx shifts, each the fastest somewhere:
 *
 * - `correlate` unfolds only the kx shifts (and ky shifts inside a block of `block` rows),
 *     U[(c, b, kx), p] = x[c]_flat[p + b W + kx],
 *     Y_wide = sum_j Wr_j U[:, j block W ..],
 *   C block kw rows instead of im2col's C kh kw; used for inputs with few channels.
 * - `correlateGather` multiplies first and shifts the products (a col2im over kx), with no
 *   unfolding at all; used for the other valid correlations.
 * - `correlateAdjoint` computes the adjoint (the input gradient, or a transposed convolution)
 *   by scattering products into a kx-unfolded image and folding it, instead of padding the
 *   output-side image by k - 1 on every side.
 *
 * `correlateWeightGrad` is dWr_j += G_wide U_j^T, with G expanded to the wide grid with zeros
 * in the garbage columns. The ops in conv.ts express all six products of stride-1 conv2d and
 * convTranspose2d through these with a `shiftPlanes` (padding or cropping) around them. The
 * shifts, compactions and expansions run as 1-row or 1 x 1 im2col / col2im in compiled code
 * when the backend offers `patches` (native), else in the loops here.
 */
export const wideConvSettings = {
  /**
   * Most rows of the unfolded matrix U: kernel rows are unfolded together (block > 1, fewer
   * and deeper products) while C block kw stays at or under this.
   */
  maxRows: 128,
  /**
   * Valid correlations with at least this many input channels use `correlateGather`
   * (products O kw x I); fewer use `correlate` (products O x I block kw).
   */
  gatherMinChannels: 4,
};

/** Work-array slots used here (engine/work-arrays.ts); they live inside one call only. */
const SLOT_UNFOLD = 'conv.unfold';
const SLOT_WIDE = 'conv.wide';

/**
 * Shape of one correlation: input [channels, height, width] (already padded), kernel
 * kernelHeight x kernelWidth, `outChannels` outputs of (height - kh + 1) x (width - kw + 1).
 */
export interface WideGeometry {
  channels: number;
  height: number;
  width: number;
  kernelHeight: number;
  kernelWidth: number;
  outChannels: number;
}

/** Kernel rows unfolded together: the largest divisor of kh with C block kw <= maxRows. */
export function rowBlock(g: WideGeometry): number {
  let best = 1;
  for (let b = 2; b <= g.kernelHeight; b++) {
    if (g.kernelHeight % b === 0 && g.channels * b * g.kernelWidth <= wideConvSettings.maxRows) {
      best = b;
    }
  }
  return best;
}

/**
 * dst[c, y, x] = src[c, y - top, x - left] where that lies inside src [channels, srcHeight,
 * srcWidth], else 0, for dst [channels, dstHeight, dstWidth]: zero padding (top, left > 0) or
 * cropping (< 0) of every plane.
 */
export function shiftPlanes(src: Float32Array, srcOffset: number, channels: number,
  srcHeight: number, srcWidth: number, top: number, left: number, dst: Float32Array,
  dstOffset: number, dstHeight: number, dstWidth: number): void {
  const x0 = Math.max(0, left);
  const x1 = Math.max(x0, Math.min(dstWidth, left + srcWidth));
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < dstHeight; y++) {
      const row = dstOffset + (c * dstHeight + y) * dstWidth;
      const sy = y - top;
      if (sy < 0 || sy >= srcHeight) {
        dst.fill(0, row, row + dstWidth);
        continue;
      }
      const from = srcOffset + (c * srcHeight + sy) * srcWidth - left;
      for (let x = 0; x < x0; x++) dst[row + x] = 0;
      for (let x = x0; x < x1; x++) dst[row + x] = src[from + x];
      for (let x = x1; x < dstWidth; x++) dst[row + x] = 0;
    }
  }
}

/**
 * Rearranges a kernel w [O, I, kh, kw] for `correlate`: Wr[j][o][(i, b, kx)] = w[o, i, ky, kx]
 * with ky = j block + b (block 1 for `correlateAdjoint`).
 */
export function arrangeKernel(w: Float32Array, g: WideGeometry, block: number): Float32Array {
  const { channels: ci, outChannels: co, kernelHeight: kh, kernelWidth: kw } = g;
  const rows = ci * block * kw;
  const out = new Float32Array(kh * co * ci * kw);
  for (let j = 0; j < kh / block; j++) {
    for (let o = 0; o < co; o++) {
      for (let i = 0; i < ci; i++) {
        for (let b = 0; b < block; b++) {
          const to = (j * co + o) * rows + (i * block + b) * kw;
          const from = ((o * ci + i) * kh + j * block + b) * kw;
          for (let kx = 0; kx < kw; kx++) out[to + kx] = w[from + kx];
        }
      }
    }
  }
  return out;
}

/** Length of each row of U: (height - block + 1) width (see the module comment). */
function unfoldLength(g: WideGeometry, block: number): number {
  return (g.height - block + 1) * g.width;
}

/** Writes U (rows (c, b, kx), each `length` long) of the image at src[srcOffset]. */
function unfoldWide(g: WideGeometry, block: number, src: Float32Array, srcOffset: number,
  u: Float32Array, length: number): void {
  const { channels, height, width, kernelWidth: kw } = g;
  const plane = height * width;
  for (let c = 0; c < channels; c++) {
    for (let b = 0; b < block; b++) {
      for (let kx = 0; kx < kw; kx++) {
        const row = ((c * block + b) * kw + kx) * length;
        const shift = b * width + kx;
        // The last kx values of the last row would come from past the plane: garbage columns.
        const count = Math.min(length, plane - shift);
        const start = srcOffset + c * plane + shift;
        u.set(src.subarray(start, start + count), row);
        if (count < length) u.fill(0, row + count, row + length);
      }
    }
  }
}

/**
 * U of one image and the sizes of `correlate`'s products with it: U is the image itself when the
 * kernel is one column wide and rows are not blocked (then U[c, p] = x[c]_flat[p]), else unfolded
 * into scratch.
 */
interface Unfolded {
  /** U, at uOffset, rows `length` apart. */
  u: Float32Array;
  uOffset: number;
  /** Rows of U, C block kw, and their length (unfoldLength). */
  rows: number;
  length: number;
  /** Output height Ho, width Wo, and Ho W, the columns of the products on the wide grid. */
  outHeight: number;
  outWidth: number;
  wideColumns: number;
}

/** U of the image at src[srcOffset] (see Unfolded). */
function unfolded(g: WideGeometry, block: number, src: Float32Array,
  srcOffset: number): Unfolded {
  const outHeight = g.height - g.kernelHeight + 1;
  const outWidth = g.width - g.kernelWidth + 1;
  const rows = g.channels * block * g.kernelWidth;
  const length = unfoldLength(g, block);
  const sizes = { rows, length, outHeight, outWidth, wideColumns: outHeight * g.width };
  if (g.kernelWidth === 1 && block === 1) return { u: src, uOffset: srcOffset, ...sizes };
  const u = workArray32(SLOT_UNFOLD, rows * length);
  unfoldWide(g, block, src, srcOffset, u, length);
  return { u, uOffset: 0, ...sizes };
}

/**
 * Valid stride-1 correlation of one image src [C, H, W] (at srcOffset) with a kernel arranged
 * by `arrangeKernel` (same `block`): dst[o, oy, ox] = sum_{i, ky, kx} Wr src[i, oy + ky,
 * ox + kx] + bias[o], dst [O, H - kh + 1, W - kw + 1] at dstOffset (overwritten).
 */
export function correlate(g: WideGeometry, block: number, kernel: Float32Array,
  bias: Float32Array | null, src: Float32Array, srcOffset: number, dst: Float32Array,
  dstOffset: number): void {
  const { width, outChannels, kernelHeight: kh, kernelWidth: kw } = g;
  const { u, uOffset, rows, length, outHeight, outWidth, wideColumns } =
    unfolded(g, block, src, srcOffset);

  // A one-column kernel has no garbage columns (Wo = W): the products go straight to dst.
  // Either way the products accumulate onto the bias.
  const direct = kw === 1;
  const wide = direct ? dst : workArray32(SLOT_WIDE, outChannels * wideColumns);
  const wideOffset = direct ? dstOffset : 0;
  fillChannels(wide, wideOffset, bias, outChannels, wideColumns);
  for (let j = 0; j < kh / block; j++) {
    gemm(false, false, outChannels, wideColumns, rows, 1, kernel, j * outChannels * rows, rows,
      u, uOffset + j * block * width, length, 1, wide, wideOffset, wideColumns);
  }
  if (!direct) compactWide(wide, 0, outChannels, outHeight, width, outWidth, dst, dstOffset);
}

/**
 * Accumulates the gradient of `correlate`'s kernel for one image: dWr_j += G_wide U_j^T with
 * src [C, H, W] at srcOffset and the output gradient grad [O, H - kh + 1, W - kw + 1] at
 * gradOffset; dWr laid out as `arrangeKernel`'s result.
 */
export function correlateWeightGrad(g: WideGeometry, block: number, src: Float32Array,
  srcOffset: number, grad: Float32Array, gradOffset: number, dWr: Float32Array): void {
  const { width, outChannels, kernelHeight: kh, kernelWidth: kw } = g;
  const { u, uOffset, rows, length, outHeight, outWidth, wideColumns } =
    unfolded(g, block, src, srcOffset);

  // G on the wide grid, zero in the garbage columns so they add nothing (G itself when the
  // kernel is one column wide: no garbage columns).
  let wide = grad;
  let wideOffset = gradOffset;
  if (kw > 1) {
    wide = workArray32(SLOT_WIDE, outChannels * wideColumns);
    wideOffset = 0;
    expandWide(grad, gradOffset, outChannels, outHeight, outWidth, width, wide);
  }

  for (let j = 0; j < kh / block; j++) {
    gemm(false, true, outChannels, rows, wideColumns, 1, wide, wideOffset, wideColumns,
      u, uOffset + j * block * width, length, 1, dWr, j * outChannels * rows, rows);
  }
}

/**
 * Adds a kernel gradient in `arrangeKernel` layout onto gw [O, I, kh, kw].
 */
export function addArrangedKernel(dWr: Float32Array, g: WideGeometry, block: number,
  gw: Float32Array): void {
  const { channels: ci, outChannels: co, kernelHeight: kh, kernelWidth: kw } = g;
  const rows = ci * block * kw;
  for (let j = 0; j < kh / block; j++) {
    for (let o = 0; o < co; o++) {
      for (let i = 0; i < ci; i++) {
        for (let b = 0; b < block; b++) {
          const from = (j * co + o) * rows + (i * block + b) * kw;
          const to = ((o * ci + i) * kh + j * block + b) * kw;
          for (let kx = 0; kx < kw; kx++) gw[to + kx] += dWr[from + kx];
        }
      }
    }
  }
}

/**
 * The adjoint of the valid correlation with w [O, I, kh, kw] (the full correlation with the
 * flipped kernel, i.e. conv2d's input gradient and convTranspose2d's output), by scattering
 * products instead of padding: with G the output-side image grad [O, Ho, Wo] on the wide grid
 * of width W (zeros in the garbage columns),
 *
 *   D[(i, kx), q + ky W] += sum_o w[o, i, ky, kx] G_wide[o, q],   q < Ho W,
 *   x[i]_flat[p] = bias[i] + sum_{kx <= p} D[(i, kx), p - kx],
 *
 * where reads that wrap to the previous row land on garbage columns and add zero. `kernel`
 * from `arrangeKernel(w, g, 1)`; dst [I, H, W] at dstOffset is overwritten.
 */
export function correlateAdjoint(g: WideGeometry, kernel: Float32Array,
  bias: Float32Array | null, grad: Float32Array, gradOffset: number, dst: Float32Array,
  dstOffset: number): void {
  const { channels, height, width, outChannels, kernelHeight: kh, kernelWidth: kw } = g;
  const outHeight = height - kh + 1;
  const outWidth = width - kw + 1;
  const columns = outHeight * width;
  const plane = height * width;
  const rows = channels * kw;
  const wide = workArray32(SLOT_WIDE, outChannels * columns);
  expandWide(grad, gradOffset, outChannels, outHeight, outWidth, width, wide);

  // The first product overwrites columns [0, Ho W) of D; the rest of each row starts at zero.
  const d = workArray32(SLOT_UNFOLD, rows * plane);
  for (let r = 0; r < rows; r++) d.fill(0, r * plane + columns, (r + 1) * plane);
  for (let ky = 0; ky < kh; ky++) {
    gemm(true, false, rows, columns, outChannels, 1, kernel, ky * outChannels * rows, rows,
      wide, 0, columns, ky === 0 ? 0 : 1, d, ky * width, plane);
  }

  fillChannels(dst, dstOffset, bias, channels, plane);
  foldColumns(d, channels, plane, kw, dst, dstOffset);
}

/**
 * x[i]_flat[p] += sum_{kx <= p} D[(i, kx), p - kx] for D [channels kw, plane] and x [channels,
 * plane] at dstOffset: col2im of a one-row image of length `plane` with a 1 x kw kernel, in
 * compiled code when the backend has it. Entries D[(i, kx), q] with q >= plane - kw + 1, which
 * that col2im leaves out, are zero here (garbage columns of the last row).
 */
function foldColumns(d: Float32Array, channels: number, plane: number, kw: number,
  dst: Float32Array, dstOffset: number): void {
  const fast = patchBackend();
  if (fast !== null) {
    const geometry = Int32Array.of(channels, 1, plane, 1, kw, 1, 0, 1, plane - kw + 1);
    fast.patches(1, geometry, 1, dst, dstOffset, channels * plane, d, 0, plane);
    return;
  }
  for (let i = 0; i < channels; i++) {
    const to = dstOffset + i * plane;
    for (let kx = 0; kx < kw; kx++) {
      const from = (i * kw + kx) * plane - kx;
      for (let p = kx; p < plane; p++) dst[to + p] += d[from + p];
    }
  }
}

/** dst[offset + c plane + p] = bias[c] (0 without bias) for c < channels, p < plane. */
function fillChannels(dst: Float32Array, offset: number, bias: Float32Array | null,
  channels: number, plane: number): void {
  if (bias === null) {
    dst.fill(0, offset, offset + channels * plane);
    return;
  }
  for (let c = 0; c < channels; c++) {
    dst.fill(bias[c], offset + c * plane, offset + (c + 1) * plane);
  }
}

/**
 * dst [C, Ho, Wo] at dstOffset = the first Wo columns of every row of wide [C, Ho, W] at
 * wideOffset (drops the garbage columns): im2col with a 1 x 1 kernel, compiled when the
 * backend has it.
 */
function compactWide(wide: Float32Array, wideOffset: number, channels: number, height: number,
  width: number, outWidth: number, dst: Float32Array, dstOffset: number): void {
  const fast = patchBackend();
  if (fast !== null) {
    const geometry = Int32Array.of(channels, height, width, 1, 1, 1, 0, height, outWidth);
    fast.patches(0, geometry, 1, wide, wideOffset, channels * height * width, dst, dstOffset,
      height * outWidth);
    return;
  }
  for (let r = 0; r < channels * height; r++) {
    const from = wideOffset + r * width;
    const to = dstOffset + r * outWidth;
    for (let x = 0; x < outWidth; x++) dst[to + x] = wide[from + x];
  }
}

/**
 * wide [C, Ho, W] = grad [C, Ho, Wo] (at gradOffset) with zeros in the last W - Wo columns of
 * every row: the adjoint of `compactWide`.
 */
function expandWide(grad: Float32Array, gradOffset: number, channels: number, height: number,
  outWidth: number, width: number, wide: Float32Array): void {
  wide.fill(0, 0, channels * height * width);
  const fast = patchBackend();
  if (fast !== null) {
    const geometry = Int32Array.of(channels, height, width, 1, 1, 1, 0, height, outWidth);
    fast.patches(1, geometry, 1, wide, 0, channels * height * width, grad, gradOffset,
      height * outWidth);
    return;
  }
  for (let r = 0; r < channels * height; r++) {
    const from = gradOffset + r * outWidth;
    const to = r * width;
    for (let x = 0; x < outWidth; x++) wide[to + x] = grad[from + x];
  }
}

/**
 * Rearranges a kernel w [O, I, kh, kw] for `correlateGather`: Wg[ky][(j, o)][i] =
 * w[o, i, ky, kw - 1 - j], rows in kernel-column-major, reversed order.
 */
export function arrangeGatherKernel(w: Float32Array, g: WideGeometry): Float32Array {
  const { channels: ci, outChannels: co, kernelHeight: kh, kernelWidth: kw } = g;
  const out = new Float32Array(kh * kw * co * ci);
  for (let o = 0; o < co; o++) {
    for (let i = 0; i < ci; i++) {
      for (let ky = 0; ky < kh; ky++) {
        for (let kx = 0; kx < kw; kx++) {
          const j = kw - 1 - kx;
          out[((ky * kw + j) * co + o) * ci + i] = w[((o * ci + i) * kh + ky) * kw + kx];
        }
      }
    }
  }
  return out;
}

/**
 * The valid correlation of `correlate` (kernel w [O, I, kh, kw]) with the product first and
 * the column shifts after, so the input is not unfolded:
 *
 *   V[(j, o), q] = sum_ky sum_i w[o, i, ky, kw-1-j] x[i]_flat[q + ky W],   q < L = Ho W,
 *   y_wide[o, p] = bias[o] + sum_j V[(j, o), p + kw - 1 - j].
 *
 * The products are O kw rows deep over I terms, a shape OpenBLAS runs faster than O rows over
 * I kw terms. The shifts are col2im of the O one-row images Y[o, z] = y_wide[o, z - kw + 1] of
 * length L + kw - 1 with a 1 x kw kernel (image o adds V rows (j, o) at z = q + j): laid out L
 * apart, the kw - 1 leading entries of image o are the last (garbage) columns of image o - 1,
 * so y_wide stays one contiguous [O, Ho, W] array behind kw - 1 slack entries. Then the garbage
 * columns are dropped into dst [O, Ho, Wo] at dstOffset (overwritten).
 */
export function correlateGather(g: WideGeometry, kernel: Float32Array,
  bias: Float32Array | null, src: Float32Array, srcOffset: number, dst: Float32Array,
  dstOffset: number): void {
  const { channels, height, width, outChannels, kernelHeight: kh, kernelWidth: kw } = g;
  const outHeight = height - kh + 1;
  const columns = outHeight * width;
  const rows = outChannels * kw;
  const v = workArray32(SLOT_UNFOLD, rows * columns);
  for (let ky = 0; ky < kh; ky++) {
    gemm(false, false, rows, columns, channels, 1, kernel, ky * rows * channels, channels,
      src, srcOffset + ky * width, height * width, ky === 0 ? 0 : 1, v, 0, columns);
  }

  const slack = kw - 1;
  const wide = workArray32(SLOT_WIDE, slack + outChannels * columns);
  wide.fill(0, 0, slack);
  fillChannels(wide, slack, bias, outChannels, columns);
  const fast = patchBackend();
  if (fast !== null) {
    const geometry = Int32Array.of(1, 1, columns + slack, 1, kw, 1, 0, 1, columns);
    fast.patches(1, geometry, outChannels, wide, 0, columns, v, 0, outChannels * columns);
  } else {
    for (let j = 0; j < kw; j++) {
      for (let o = 0; o < outChannels; o++) {
        const from = (j * outChannels + o) * columns;
        const to = o * columns + j;
        for (let q = 0; q < columns; q++) wide[to + q] += v[from + q];
      }
    }
  }
  compactWide(wide, slack, outChannels, outHeight, width, width - kw + 1, dst, dstOffset);
}
