import assert from 'node:assert/strict';
import { test } from 'node:test';

import { activeBackend, type KernelBackend, useBackend } from '../../src/engine/kernels/index.js';
import { loadNativeBackend } from '../../src/engine/kernels/native.js';
import { referenceBackend } from '../../src/engine/kernels/reference.js';
import { createWasmBackend } from '../../src/engine/kernels/wasm.js';
import {
  add, conv2d, convolutionSettings, convTranspose2d, maxPool2d,
} from '../../src/engine/ops/index.js';
import { rowBlock, wideConvSettings } from '../../src/engine/ops/wide-conv.js';
import { backward, Tensor } from '../../src/engine/tensor.js';
import { Random } from '../../src/util/random.js';

/*
 * Stride-1 convolutions through the wide-grid correlations (ops/wide-conv.ts) and the im2col
 * groups, on every backend, against direct float64 loops: outputs and the gradients of input,
 * weight and bias, on odd shapes, non-square kernels, paddings 0..2 and batches 1 and 3.
 */

function randomArray(random: Random, length: number): Float32Array {
  const x = new Float32Array(length);
  for (let i = 0; i < length; i++) x[i] = random.uniformIn(-1, 1);
  return x;
}

/**
 * Calls visit(outIndex, inIndex, weightIndex) for every product term of conv2d (stride,
 * padding) of x [n, cin, h, w] with weight [cout, cin, kh, kw] (taps reading padding skipped).
 */
function forEachTerm(shape: number[], kernel: number[], stride: number, padding: number,
  visit: (out: number, input: number, weight: number) => void): number[] {
  const [n, cin, h, w] = shape;
  const [cout, , kh, kw] = kernel;
  const ho = Math.floor((h + 2 * padding - kh) / stride) + 1;
  const wo = Math.floor((w + 2 * padding - kw) / stride) + 1;
  for (let s = 0; s < n; s++) {
    for (let co = 0; co < cout; co++) {
      for (let oy = 0; oy < ho; oy++) {
        for (let ox = 0; ox < wo; ox++) {
          const out = ((s * cout + co) * ho + oy) * wo + ox;
          for (let ci = 0; ci < cin; ci++) {
            for (let i = 0; i < kh; i++) {
              const iy = oy * stride + i - padding;
              if (iy < 0 || iy >= h) continue;
              for (let j = 0; j < kw; j++) {
                const ix = ox * stride + j - padding;
                if (ix < 0 || ix >= w) continue;
                visit(out, ((s * cin + ci) * h + iy) * w + ix, ((co * cin + ci) * kh + i) * kw + j);
              }
            }
          }
        }
      }
    }
  }
  return [n, cout, ho, wo];
}

/** Output, input gradient, weight gradient and bias gradient. */
type Results = [Float64Array | Float32Array, Float64Array | Float32Array,
  Float64Array | Float32Array, Float64Array | Float32Array];

/**
 * Direct loops for conv2d (transpose false) or convTranspose2d (true) of `small` and `large`
 * images: conv2d maps large [n, cin, H, W] to small; the transpose maps small back to large.
 */
function naive(transpose: boolean, large: number[], kernel: number[], stride: number,
  padding: number, x: Float32Array, w: Float32Array, b: Float32Array,
  gy: Float32Array): Results {
  const [cout] = kernel;
  const smallShape = forEachTerm(large, kernel, stride, padding, () => undefined);
  const largeSize = large.reduce((p, q) => p * q, 1);
  const smallSize = smallShape.reduce((p, q) => p * q, 1);
  const y = new Float64Array(transpose ? largeSize : smallSize);
  const gx = new Float64Array(transpose ? smallSize : largeSize);
  const gw = new Float64Array(w.length);
  const gb = new Float64Array(b.length);
  // conv2d: small[o] += large[i] w; the transpose: large[i] += small[o] w.
  forEachTerm(large, kernel, stride, padding, (o, i, k) => {
    if (transpose) {
      y[i] += x[o] * w[k];
      gx[o] += gy[i] * w[k];
      gw[k] += x[o] * gy[i];
    } else {
      y[o] += x[i] * w[k];
      gx[i] += gy[o] * w[k];
      gw[k] += x[i] * gy[o];
    }
  });
  const channels = transpose ? large[1] : cout;
  const plane = transpose ? large[2] * large[3] : smallShape[2] * smallShape[3];
  for (let p = 0; p < y.length; p++) {
    const c = Math.floor(p / plane) % channels;
    y[p] += b[c];
    gb[c] += gy[p];
  }
  return [y, gx, gw, gb];
}

/** The op on the active backend, with its three gradients for output gradient gy. */
function actual(transpose: boolean, large: number[], kernel: number[], stride: number,
  padding: number, x: Float32Array, w: Float32Array, b: Float32Array,
  gy: Float32Array): Results {
  const [cout, cin, kh, kw] = kernel;
  const small = forEachTerm(large, kernel, stride, padding, () => undefined);
  const xt = new Tensor(Float32Array.from(x), transpose ? small : large, true);
  const wt = new Tensor(Float32Array.from(w), transpose ? [cout, cin, kh, kw] : kernel, true);
  const bt = new Tensor(Float32Array.from(b), [b.length], true);
  let y: Tensor;
  if (transpose) {
    const outputPadding = large[2] - ((small[2] - 1) * stride - 2 * padding + kh);
    y = convTranspose2d(xt, wt, bt, stride, outputPadding, padding);
  } else {
    y = conv2d(xt, wt, bt, stride, padding);
  }
  assert.deepEqual(y.shape, transpose ? large : small);
  backward(y, gy);
  return [y.data, xt.grad as Float32Array, wt.grad as Float32Array, bt.grad as Float32Array];
}

function assertNear(got: ArrayLike<number>, want: ArrayLike<number>, label: string): void {
  assert.equal(got.length, want.length, label);
  let scale = 1;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  for (let i = 0; i < want.length; i++) {
    if (Math.abs(got[i] - want[i]) > 1e-4 * scale) {
      assert.fail(`${label}: [${i}] ${got[i]} vs ${want[i]}`);
    }
  }
}

/** [transpose, large image [n, c, H, W], kernel [cout, cin, kh, kw], stride, padding]. */
const CASES: Array<[boolean, number[], number[], number, number]> = [
  [false, [3, 5, 13, 11], [7, 5, 3, 5], 1, 0],
  [false, [1, 3, 17, 9], [4, 3, 9, 7], 1, 0],
  [false, [3, 2, 10, 13], [5, 2, 4, 3], 1, 2],
  [false, [1, 6, 7, 9], [3, 6, 1, 1], 1, 0],
  [false, [3, 4, 9, 8], [5, 4, 3, 1], 1, 1],
  [false, [1, 1, 12, 11], [6, 1, 5, 5], 1, 0],
  [false, [3, 3, 12, 10], [4, 3, 5, 3], 1, 2],
  [false, [3, 3, 11, 9], [2, 3, 3, 3], 2, 1],
  [true, [3, 5, 13, 11], [7, 5, 3, 5], 1, 0],
  [true, [1, 4, 16, 12], [6, 4, 9, 7], 1, 0],
  [true, [3, 3, 9, 10], [5, 3, 3, 3], 1, 2],
  [true, [1, 2, 8, 7], [3, 2, 1, 4], 1, 0],
  [true, [3, 2, 13, 12], [3, 2, 6, 4], 1, 1],
  [true, [3, 3, 12, 12], [4, 3, 3, 3], 2, 1],
];

async function backends(): Promise<Array<[string, KernelBackend]>> {
  const list: Array<[string, KernelBackend]> = [['reference', referenceBackend]];
  const native = loadNativeBackend();
  if (native !== null) list.push(['native', native]);
  list.push(['wasm', await createWasmBackend({ threads: 2 })]);
  return list;
}

test('stride-1 convolutions match direct loops on every backend and path', async () => {
  const previous = activeBackend();
  const saved = { ...wideConvSettings };
  const list = await backends();
  try {
    const random = new Random(41);
    for (const [transpose, large, kernel, stride, padding] of CASES) {
      const small = forEachTerm(large, kernel, stride, padding, () => undefined);
      const xShape = transpose ? small : large;
      const yShape = transpose ? large : small;
      const x = randomArray(random, xShape.reduce((p, q) => p * q, 1));
      const w = randomArray(random, kernel.reduce((p, q) => p * q, 1));
      const b = randomArray(random, transpose ? large[1] : kernel[0]);
      const gy = randomArray(random, yShape.reduce((p, q) => p * q, 1));
      const want = naive(transpose, large, kernel, stride, padding, x, w, b, gy);
      // maxRows 1 unfolds one kernel row at a time, 4096 all rows together; valid
      // correlations gather for every input (1) or unfold (1000); wide false: im2col groups.
      const paths = [[true, 1, 1000], [true, 4096, 1000], [true, 128, 1], [false, 128, 4]] as const;
      for (const [name, backend] of list) {
        for (const [wide, maxRows, gatherMinChannels] of paths) {
          useBackend(backend);
          convolutionSettings.wideStride1 = wide;
          Object.assign(wideConvSettings, { maxRows, gatherMinChannels });
          const got = actual(transpose, large, kernel, stride, padding, x, w, b, gy);
          const label = `${name} ${transpose ? 'convT' : 'conv'} [${large}] k[${kernel}] `
            + `s${stride} p${padding} wide ${wide} rows ${maxRows} gather ${gatherMinChannels}`;
          ['output', 'input grad', 'weight grad', 'bias grad'].forEach((what, i) => {
            assertNear(got[i], want[i], `${label} ${what}`);
          });
        }
      }
    }
  } finally {
    convolutionSettings.wideStride1 = true;
    Object.assign(wideConvSettings, saved);
    useBackend(previous);
  }
});

test('rowBlock unfolds whole kernel rows only while the rows stay under maxRows', () => {
  const saved = wideConvSettings.maxRows;
  try {
    const g = { channels: 15, height: 94, width: 94, kernelHeight: 9, kernelWidth: 9,
      outChannels: 22 };
    wideConvSettings.maxRows = 128;
    assert.equal(rowBlock(g), 1);
    wideConvSettings.maxRows = 405;
    assert.equal(rowBlock(g), 3);
    wideConvSettings.maxRows = 1215;
    assert.equal(rowBlock(g), 9);
    wideConvSettings.maxRows = 128;
    assert.equal(rowBlock({ ...g, channels: 1, kernelHeight: 5, kernelWidth: 5 }), 5);
  } finally {
    wideConvSettings.maxRows = saved;
  }
});

/** Direct max pooling: value and first (row-major) maximum of every window. */
function naivePool(x: Float32Array, shape: number[], kernel: number,
  stride: number): { out: number[]; arg: number[] } {
  const [n, c, h, w] = shape;
  const ho = Math.floor((h - kernel) / stride) + 1;
  const wo = Math.floor((w - kernel) / stride) + 1;
  const out: number[] = [];
  const arg: number[] = [];
  for (let p = 0; p < n * c; p++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        let best = -Infinity;
        let where = -1;
        for (let i = 0; i < kernel; i++) {
          for (let j = 0; j < kernel; j++) {
            const at = (p * h + oy * stride + i) * w + ox * stride + j;
            if (x[at] > best) {
              best = x[at];
              where = at;
            }
          }
        }
        out.push(best);
        arg.push(where);
      }
    }
  }
  return { out, arg };
}

test('maxPool2d (sliding maxima for stride 1) matches a direct scan, ties included', () => {
  const random = new Random(43);
  const cases: Array<[number[], number, number]> = [
    [[1, 2, 13, 11], 5, 1], [[3, 2, 17, 19], 9, 1], [[3, 1, 14, 9], 7, 1], [[1, 3, 10, 10], 3, 1],
    [[3, 2, 11, 12], 3, 2], [[1, 1, 9, 9], 9, 1], [[3, 2, 7, 16], 6, 1],
  ];
  for (const [shape, kernel, stride] of cases) {
    for (const levels of [4, 1000]) {
      // Few levels make many ties, which must go to the window's first maximum; -0 ties +0.
      const size = shape.reduce((p, q) => p * q, 1);
      const values = Float32Array.from({ length: size }, () => {
        const v = random.int(levels) - Math.floor(levels / 2);
        return v === 0 && random.int(2) === 0 ? -0 : v;
      });
      const want = naivePool(values, shape, kernel, stride);
      const x = new Tensor(values, shape, true);
      const y = maxPool2d(x, kernel, stride);
      // Strict deep equality tells -0 from +0.
      assert.deepEqual([...y.data], want.out, `maxPool2d [${shape}] k${kernel}`);
      const gy = randomArray(random, y.size);
      backward(y, gy);
      const gx = new Float64Array(size);
      want.arg.forEach((at, o) => { gx[at] += gy[o]; });
      assertNear(x.grad as Float32Array, gx, `maxPool2d gradient [${shape}] k${kernel}`);
    }
  }
});

test('an addend fused into conv2d and convTranspose2d equals a separate add', () => {
  const cases: Array<[boolean, number[], number[], number]> = [
    [false, [3, 2, 9, 8], [4, 2, 3, 3], 1], [false, [1, 3, 9, 9], [2, 3, 3, 3], 2],
    [true, [3, 4, 5, 6], [4, 2, 3, 3], 1], [true, [1, 2, 4, 4], [2, 3, 3, 3], 2],
  ];
  for (const [transpose, shape, kernel, stride] of cases) {
    const run = (fused: boolean): Float32Array[] => {
      const local = new Random(7);
      const x = new Tensor(randomArray(local, shape.reduce((p, q) => p * q, 1)), shape, true);
      const w = new Tensor(randomArray(local, kernel.reduce((p, q) => p * q, 1)), kernel, true);
      const b = new Tensor(randomArray(local, kernel[transpose ? 1 : 0]),
        [kernel[transpose ? 1 : 0]], true);
      const plain = transpose ? convTranspose2d(x, w, b, stride) : conv2d(x, w, b, stride);
      const addend = new Tensor(randomArray(local, plain.size), plain.shape, true);
      let y: Tensor;
      if (!fused) y = add(plain, addend);
      else if (transpose) y = convTranspose2d(x, w, b, stride, 0, 0, addend);
      else y = conv2d(x, w, b, stride, 0, addend);
      backward(y, randomArray(local, y.size));
      return [y.data, x.grad, w.grad, b.grad, addend.grad].map((v) => v as Float32Array);
    };
    const [want, got] = [run(false), run(true)];
    want.forEach((values, i) => assertNear(got[i], values, `addend ${transpose} s${stride} ${i}`));
  }
  const x = new Tensor(new Float32Array(16), [1, 1, 4, 4]);
  const w = new Tensor(new Float32Array(9), [1, 1, 3, 3]);
  assert.throws(() => conv2d(x, w, null, 1, 0, x), /addend must have the output shape/);
});
