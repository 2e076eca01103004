import { result, type Tensor } from '../tensor.js';
import { check, checkRank, giveGrad } from './check.js';

/**
 * Pooling and resampling on [N, C, H, W] tensors.
 */

/**
 * Max pooling over kernel x kernel windows taken every `stride` pixels without padding: output
 * [N, C, floor((H - kernel) / stride) + 1, likewise W]. The gradient goes to the first maximum of
 * each window (row-major order).
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
  const inPlane = height * width;
  const outPlane = outHeight * outWidth;
  const out = new Float32Array(planes * outPlane);
  const argmax = new Int32Array(planes * outPlane);

  // Separable: maxima over each row's window columns first, then over the window rows, which
  // costs 2 kernel comparisons per output instead of kernel^2. Strict comparisons keep the
  // first maximum along each axis, i.e. the first of the window in row-major order.
  const rowMax = new Float32Array(height * outWidth);
  const rowArg = new Int32Array(height * outWidth);
  for (let p = 0; p < planes; p++) {
    const base = p * inPlane;
    for (let y = 0; y < height; y++) {
      for (let ox = 0; ox < outWidth; ox++) {
        const start = base + y * width + ox * stride;
        let best = xv[start];
        let where = start;
        for (let j = 1; j < kernel; j++) {
          if (xv[start + j] > best) {
            best = xv[start + j];
            where = start + j;
          }
        }
        rowMax[y * outWidth + ox] = best;
        rowArg[y * outWidth + ox] = where;
      }
    }
    for (let oy = 0; oy < outHeight; oy++) {
      for (let ox = 0; ox < outWidth; ox++) {
        let at = oy * stride * outWidth + ox;
        let best = rowMax[at];
        let where = rowArg[at];
        for (let i = 1; i < kernel; i++) {
          at += outWidth;
          if (rowMax[at] > best) {
            best = rowMax[at];
            where = rowArg[at];
          }
        }
        const o = p * outPlane + oy * outWidth + ox;
        out[o] = best;
        argmax[o] = where;
      }
    }
  }

  return result(out, [batch, channels, outHeight, outWidth], [x], (g) => {
    const gx = new Float32Array(x.size);
    for (let o = 0; o < g.length; o++) gx[argmax[o]] += g[o];
    giveGrad(x, gx);
  });
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

  const out = new Float32Array(planes * outPlane);
  for (let p = 0; p < planes; p++) {
    for (let oy = 0; oy < outHeight; oy++) {
      const src = p * inPlane + rows[oy] * width;
      const dst = p * outPlane + oy * outWidth;
      for (let ox = 0; ox < outWidth; ox++) out[dst + ox] = x.data[src + cols[ox]];
    }
  }

  return result(out, [batch, channels, outHeight, outWidth], [x], (g) => {
    const gx = new Float32Array(x.size);
    for (let p = 0; p < planes; p++) {
      for (let oy = 0; oy < outHeight; oy++) {
        const dst = p * inPlane + rows[oy] * width;
        const src = p * outPlane + oy * outWidth;
        for (let ox = 0; ox < outWidth; ox++) gx[dst + cols[ox]] += g[src + ox];
      }
    }
    giveGrad(x, gx);
  });
}
