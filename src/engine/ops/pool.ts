import { result, type Tensor } from '../tensor.js';
import { check, checkRank, giveGrad } from './check.js';
import { poolingBackend, resamplingBackend } from './extensions.js';

/**
 * Pooling and resampling on [N, C, H, W] tensors.
 */

/**
 * Max pooling over kernel x kernel windows taken every `stride` pixels without padding: output
 * [N, C, floor((H - kernel) / stride) + 1, likewise W]. The gradient goes to the first maximum of
 * each window (row-major order). A NaN counts as larger than every number, so it passes on.
 */
export function maxPool2d(x: Tensor, kernel: number, stride = kernel): Tensor {
  checkRank('maxPool2d', 'input', x, 4);
  const [batch, channels, height, width] = x.shape;
  check(Number.isInteger(kernel) && kernel >= 1 && Number.isInteger(stride) && stride >= 1,
    () => `maxPool2d: kernel and stride must be positive integers, got ${kernel} and ${stride}`);
  const outHeight = Math.floor((height - kernel) / stride) + 1;
  const outWidth = Math.floor((width - kernel) / stride) + 1;
  check(outHeight >= 1 && outWidth >= 1,
    () => `maxPool2d: window ${kernel} does not fit input [${x.shape}]`);

  const xv = x.data;
  const planes = batch * channels;
  const outPlane = outHeight * outWidth;
  const out = new Float32Array(planes * outPlane);
  const argmax = new Int32Array(planes * outPlane);

  // A backend with pooling kernels (wasm) keeps them: SIMD on all threads, about 4x faster
  // than these loops on the CNN segmenter's pools, copies included; same tie rule.
  const fast = poolingBackend();
  if (fast !== null) {
    fast.maxPool2dForward(planes, height, width, kernel, stride, xv, out, argmax);
  } else if (stride === 1 && kernel > 4) {
    slidingMaxPool(xv, planes, height, width, kernel, out, argmax);
  } else {
    separableMaxPool(xv, planes, height, width, kernel, stride, out, argmax);
  }

  return result(out, [batch, channels, outHeight, outWidth], [x], (g) => {
    const gx = new Float32Array(x.size);
    // On the backend's threads (whole planes each): faster despite copying g and argmax in.
    const backend = poolingBackend();
    if (backend !== null) {
      backend.maxPool2dBackward(planes, height * width, outPlane, g, argmax, gx);
    } else {
      for (let o = 0; o < g.length; o++) gx[argmax[o]] += g[o];
    }
    giveGrad(x, gx);
  });
}

/**
 * Order-preserving integer keys of float32 values: key(a) > key(b) exactly when a > b, with
 * -0 and +0 equal, and every NaN (of either sign bit) above +Infinity, so that a NaN in a window
 * wins and reaches the loss, as in PyTorch, instead of vanishing. Comparing keys and selecting
 * with masks keeps the pooling loops free of branches, which on random data mispredict about
 * every other time.
 */
function sortableKeys(xv: Float32Array, keys: Int32Array): void {
  const bits = new Int32Array(xv.buffer, xv.byteOffset, xv.length);
  for (let i = 0; i < keys.length; i++) {
    const magnitude = bits[i] & 0x7fffffff;
    // All ones for a NaN (magnitude above that of Infinity), whose sign is then ignored.
    const nan = (0x7f800000 - magnitude) >> 31;
    const sign = (bits[i] >> 31) & ~nan;
    keys[i] = (magnitude ^ sign) - sign;
  }
}

/**
 * Max pooling by separable passes (any stride): maxima over each row's window columns first,
 * then over the window rows, which costs 2 kernel comparisons per output instead of kernel^2.
 * Strict comparisons keep the first maximum along each axis, i.e. the first of the window in
 * row-major order. x [planes, height, width]; out and argmax (index into x)
 * [planes, outHeight, outWidth].
 */
function separableMaxPool(xv: Float32Array, planes: number, height: number, width: number,
  kernel: number, stride: number, out: Float32Array, argmax: Int32Array): void {
  const outHeight = Math.floor((height - kernel) / stride) + 1;
  const outWidth = Math.floor((width - kernel) / stride) + 1;
  const inPlane = height * width;
  const outPlane = outHeight * outWidth;
  const keys = new Int32Array(inPlane);
  const rowKey = new Int32Array(height * outWidth);
  const rowArg = new Int32Array(height * outWidth);
  for (let p = 0; p < planes; p++) {
    const base = p * inPlane;
    sortableKeys(xv.subarray(base, base + inPlane), keys);
    for (let y = 0; y < height; y++) {
      for (let ox = 0; ox < outWidth; ox++) {
        const start = y * width + ox * stride;
        let best = keys[start];
        let where = start;
        for (let j = 1; j < kernel; j++) {
          // mask = -1 where the candidate is strictly larger: take it, else keep.
          const key = keys[start + j];
          const mask = -(+(key > best));
          best ^= (best ^ key) & mask;
          where ^= (where ^ (start + j)) & mask;
        }
        rowKey[y * outWidth + ox] = best;
        rowArg[y * outWidth + ox] = where;
      }
    }
    for (let oy = 0; oy < outHeight; oy++) {
      for (let ox = 0; ox < outWidth; ox++) {
        let at = oy * stride * outWidth + ox;
        let best = rowKey[at];
        let where = rowArg[at];
        for (let i = 1; i < kernel; i++) {
          at += outWidth;
          const key = rowKey[at];
          const mask = -(+(key > best));
          best ^= (best ^ key) & mask;
          where ^= (where ^ rowArg[at]) & mask;
        }
        const o = p * outPlane + oy * outWidth + ox;
        argmax[o] = base + where;
        out[o] = xv[base + where];
      }
    }
  }
}

/**
 * Stride-1 max pooling by van Herk / Gil-Werman sliding maxima, separably along rows and then
 * columns: cut a line into blocks of `kernel`; with prefix maxima P (from each block's start)
 * and suffix maxima S (to each block's end), the window [i, i + kernel) is max(S[i],
 * P[i + kernel - 1]), three comparisons per output whatever the kernel. Ties go to the earlier
 * position (S with >=, P with >, S before P), so argmax is the window's first maximum in
 * row-major order, as in `separableMaxPool`. Comparisons on sortable keys with mask selects
 * (no branches); the column pass runs along whole rows. Layouts as there.
 */
function slidingMaxPool(xv: Float32Array, planes: number, height: number, width: number,
  kernel: number, out: Float32Array, argmax: Int32Array): void {
  const outHeight = height - kernel + 1;
  const outWidth = width - kernel + 1;
  const inPlane = height * width;
  const outPlane = outHeight * outWidth;
  const keys = new Int32Array(inPlane);
  const rowKey = new Int32Array(height * outWidth);
  const rowArg = new Int32Array(height * outWidth);
  const prefix = new Int32Array(Math.max(width, height * outWidth));
  const prefixArg = new Int32Array(prefix.length);
  const suffix = new Int32Array(prefix.length);
  const suffixArg = new Int32Array(prefix.length);

  for (let p = 0; p < planes; p++) {
    const base = p * inPlane;
    sortableKeys(xv.subarray(base, base + inPlane), keys);

    // Rows: rowKey[y, ox] = max of keys[y, ox .. ox + kernel), rowArg its position.
    for (let y = 0; y < height; y++) {
      const line = y * width;
      for (let s = 0; s < width; s += kernel) {
        const e = Math.min(width, s + kernel);
        let best = keys[line + s];
        let where = line + s;
        prefix[s] = best;
        prefixArg[s] = where;
        for (let i = s + 1; i < e; i++) {
          const key = keys[line + i];
          const mask = -(+(key > best));
          best ^= (best ^ key) & mask;
          where ^= (where ^ (line + i)) & mask;
          prefix[i] = best;
          prefixArg[i] = where;
        }
        best = keys[line + e - 1];
        where = line + e - 1;
        suffix[e - 1] = best;
        suffixArg[e - 1] = where;
        for (let i = e - 2; i >= s; i--) {
          const key = keys[line + i];
          const mask = -(+(key >= best));
          best ^= (best ^ key) & mask;
          where ^= (where ^ (line + i)) & mask;
          suffix[i] = best;
          suffixArg[i] = where;
        }
      }
      const row = y * outWidth;
      for (let ox = 0; ox < outWidth; ox++) {
        const a = suffix[ox];
        const b = prefix[ox + kernel - 1];
        const mask = -(+(a >= b));
        rowKey[row + ox] = b ^ ((a ^ b) & mask);
        const later = prefixArg[ox + kernel - 1];
        rowArg[row + ox] = later ^ ((later ^ suffixArg[ox]) & mask);
      }
    }

    // Columns, a whole row of rowKey at a time: the same blocks over y.
    for (let s = 0; s < height; s += kernel) {
      const e = Math.min(height, s + kernel);
      const first = s * outWidth;
      for (let q = first; q < first + outWidth; q++) {
        prefix[q] = rowKey[q];
        prefixArg[q] = rowArg[q];
      }
      for (let q = first + outWidth; q < e * outWidth; q++) {
        const key = rowKey[q];
        const best = prefix[q - outWidth];
        const where = prefixArg[q - outWidth];
        const mask = -(+(key > best));
        prefix[q] = best ^ ((best ^ key) & mask);
        prefixArg[q] = where ^ ((where ^ rowArg[q]) & mask);
      }
      const last = (e - 1) * outWidth;
      for (let q = last; q < last + outWidth; q++) {
        suffix[q] = rowKey[q];
        suffixArg[q] = rowArg[q];
      }
      for (let q = last - 1; q >= first; q--) {
        const key = rowKey[q];
        const best = suffix[q + outWidth];
        const where = suffixArg[q + outWidth];
        const mask = -(+(key >= best));
        suffix[q] = best ^ ((best ^ key) & mask);
        suffixArg[q] = where ^ ((where ^ rowArg[q]) & mask);
      }
    }
    const span = (kernel - 1) * outWidth;
    for (let q = 0; q < outPlane; q++) {
      const mask = -(+(suffix[q] >= prefix[q + span]));
      const later = prefixArg[q + span];
      const where = base + (later ^ ((later ^ suffixArg[q]) & mask));
      argmax[p * outPlane + q] = where;
      out[p * outPlane + q] = xv[where];
    }
  }
}

/** Mean over the spatial axes: [N, C, H, W] -> [N, C]. */
export function globalAvgPool2d(x: Tensor): Tensor {
  checkRank('globalAvgPool2d', 'input', x, 4);
  const [batch, channels, height, width] = x.shape;
  const plane = height * width;
  const inv = 1 / plane;
  const planes = batch * channels;
  const out = new Float32Array(planes);
  for (let p = 0; p < planes; p++) {
    let s = 0;
    for (let i = p * plane; i < (p + 1) * plane; i++) s += x.data[i];
    out[p] = s * inv;
  }
  return result(out, [batch, channels], [x], (g) => {
    const gx = new Float32Array(x.size);
    for (let p = 0; p < planes; p++) gx.fill(g[p] * inv, p * plane, (p + 1) * plane);
    giveGrad(x, gx);
  });
}

/**
 * Source index of nearest-neighbour resampling from `inSize` to `outSize` samples:
 * floor(d inSize / outSize), PyTorch's mode 'nearest' when a size is given.
 */
function nearestIndex(inSize: number, outSize: number): Int32Array {
  return Int32Array.from({ length: outSize },
    (_, d) => Math.min(inSize - 1, Math.floor((d * inSize) / outSize)));
}

/**
 * Nearest-neighbour resampling of [N, C, H, W] to [N, C, outHeight, outWidth] (PyTorch's
 * F.interpolate(mode='nearest', size=...)). The gradient sums over the copies of each pixel.
 */
export function upsampleNearest2d(x: Tensor, outHeight: number, outWidth: number): Tensor {
  checkRank('upsampleNearest2d', 'input', x, 4);
  const [batch, channels, height, width] = x.shape;
  check(Number.isInteger(outHeight) && outHeight >= 1 && Number.isInteger(outWidth)
    && outWidth >= 1,
  () => `upsampleNearest2d: size must be positive integers, got ${outHeight}x${outWidth}`);
  const rows = nearestIndex(height, outHeight);
  const cols = nearestIndex(width, outWidth);
  const planes = batch * channels;
  const inPlane = height * width;
  const outPlane = outHeight * outWidth;

  const xv = x.data;
  const out = new Float32Array(planes * outPlane);
  for (let p = 0; p < planes; p++) {
    for (let oy = 0; oy < outHeight; oy++) {
      const dst = p * outPlane + oy * outWidth;
      // Output rows that read the same input row as the previous one are copies of it.
      if (oy > 0 && rows[oy] === rows[oy - 1]) {
        out.copyWithin(dst, dst - outWidth, dst);
        continue;
      }
      const src = p * inPlane + rows[oy] * width;
      for (let ox = 0; ox < outWidth; ox++) out[dst + ox] = xv[src + cols[ox]];
    }
  }

  return result(out, [batch, channels, outHeight, outWidth], [x], (g) => {
    const gx = new Float32Array(x.size);
    // A resampling backend (wasm) runs the same sums on its threads, about 2.4x faster.
    const fast = resamplingBackend();
    if (fast !== null) {
      fast.upsampleNearest2dBackward(planes, height, width, outHeight, outWidth, rows, cols, g,
        gx);
      giveGrad(x, gx);
      return;
    }
    // Sum the output rows of each input row first, then spread the columns.
    const row = new Float32Array(outWidth);
    for (let p = 0; p < planes; p++) {
      let oy = 0;
      while (oy < outHeight) {
        const sy = rows[oy];
        const first = p * outPlane + oy * outWidth;
        for (let ox = 0; ox < outWidth; ox++) row[ox] = g[first + ox];
        for (oy++; oy < outHeight && rows[oy] === sy; oy++) {
          const from = p * outPlane + oy * outWidth;
          for (let ox = 0; ox < outWidth; ox++) row[ox] += g[from + ox];
        }
        const dst = p * inPlane + sy * width;
        for (let ox = 0; ox < outWidth; ox++) gx[dst + cols[ox]] += row[ox];
      }
    }
    giveGrad(x, gx);
  });
}
