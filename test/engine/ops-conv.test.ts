import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  conv2d, convolutionSettings, convTranspose2d,
} from '../../src/engine/ops/index.js';
import { fromArray, noGrad, type Tensor } from '../../src/engine/tensor.js';
import { Random } from '../../src/util/random.js';
import { assertClose, checkGradients, randomTensor } from './gradcheck.js';

/** Direct cross-correlation in float64 (PyTorch Conv2d semantics with zero padding). */
function naiveConv(x: Tensor, w: Tensor, b: Tensor | null, stride: number, padding: number):
  { values: number[]; shape: number[] } {
  const [n, cin, h, wd] = x.shape;
  const [cout, , kh, kw] = w.shape;
  const ho = Math.floor((h + 2 * padding - kh) / stride) + 1;
  const wo = Math.floor((wd + 2 * padding - kw) / stride) + 1;
  const values: number[] = [];
  for (let s = 0; s < n; s++) {
    for (let co = 0; co < cout; co++) {
      for (let oy = 0; oy < ho; oy++) {
        for (let ox = 0; ox < wo; ox++) {
          let acc = b === null ? 0 : b.data[co];
          for (let ci = 0; ci < cin; ci++) {
            for (let i = 0; i < kh; i++) {
              for (let j = 0; j < kw; j++) {
                const iy = oy * stride + i - padding;
                const ix = ox * stride + j - padding;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                acc += x.data[((s * cin + ci) * h + iy) * wd + ix]
                  * w.data[((co * cin + ci) * kh + i) * kw + j];
              }
            }
          }
          values.push(acc);
        }
      }
    }
  }
  return { values, shape: [n, cout, ho, wo] };
}

/** Direct transposed convolution in float64: every input pixel scatters its kernel. */
function naiveConvTranspose(x: Tensor, w: Tensor, b: Tensor | null, stride: number,
  outputPadding: number): { values: number[]; shape: number[] } {
  const [n, cin, h, wd] = x.shape;
  const [, cout, kh, kw] = w.shape;
  const ho = (h - 1) * stride + kh + outputPadding;
  const wo = (wd - 1) * stride + kw + outputPadding;
  const values = new Array<number>(n * cout * ho * wo).fill(0);
  for (let s = 0; s < n; s++) {
    for (let co = 0; co < cout; co++) {
      for (let p = 0; p < ho * wo; p++) values[(s * cout + co) * ho * wo + p] = b?.data[co] ?? 0;
      for (let ci = 0; ci < cin; ci++) {
        for (let iy = 0; iy < h; iy++) {
          for (let ix = 0; ix < wd; ix++) {
            const v = x.data[((s * cin + ci) * h + iy) * wd + ix];
            for (let i = 0; i < kh; i++) {
              for (let j = 0; j < kw; j++) {
                values[((s * cout + co) * ho + iy * stride + i) * wo + ix * stride + j]
                  += v * w.data[((ci * cout + co) * kh + i) * kw + j];
              }
            }
          }
        }
      }
    }
  }
  return { values, shape: [n, cout, ho, wo] };
}

/** Runs `body` with the columns budget forcing groups of `samples` samples of `perSample`. */
function withGroups(perSample: number, samples: number, body: () => void): void {
  const saved = convolutionSettings.columnBudget;
  convolutionSettings.columnBudget = perSample * samples;
  try {
    body();
  } finally {
    convolutionSettings.columnBudget = saved;
  }
}

test('conv2d of a known 1-channel image', () => {
  const x = fromArray([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
  const w = fromArray([1, 0, 0, -1], [1, 1, 2, 2]);
  const y = conv2d(x, w, fromArray([10], [1]));
  assert.deepEqual(y.shape, [1, 1, 2, 2]);
  assert.deepEqual([...y.data], [6, 6, 6, 6]);
  const big = fromArray(new Array(16).fill(0), [1, 1, 4, 4]);
  assert.throws(() => conv2d(x, big, null), /does not fit/);
});

test('conv2d matches direct loops for strides, padding and sample groups', () => {
  const random = new Random(21);
  for (const [stride, padding, kernel] of [[1, 0, 3], [2, 0, 3], [3, 1, 2], [2, 2, 5]]) {
    const x = randomTensor(random, [5, 3, 9, 8]);
    const w = randomTensor(random, [4, 3, kernel, kernel]);
    const b = randomTensor(random, [4]);
    const expected = naiveConv(x, w, b, stride, padding);
    const perSample = 3 * kernel * kernel * expected.shape[2] * expected.shape[3];
    for (const samples of [1, 2, 5]) {
      withGroups(perSample, samples, () => {
        const y = conv2d(x, w, b, stride, padding);
        assert.deepEqual(y.shape, expected.shape);
        assertClose(y.data, expected.values, 1e-5, 1e-5,
          `conv2d s${stride} p${padding} g${samples}`);
      });
    }
  }
});

test('conv2d gradients pass central-difference checks, one and several samples per group', () => {
  const random = new Random(22);
  const x = randomTensor(random, [3, 2, 7, 6]);
  const w = randomTensor(random, [3, 2, 3, 3]);
  const b = randomTensor(random, [3]);
  const perSample = 2 * 9 * 3 * 2;
  for (const samples of [1, 2, 3]) {
    withGroups(perSample, samples, () => {
      checkGradients(`conv2d groups of ${samples}`, [x, w, b], () => conv2d(x, w, b, 2, 0));
    });
  }
  checkGradients('conv2d padded', [x, w, b], () => conv2d(x, w, b, 1, 1));
});

test('convTranspose2d matches direct loops and output padding sizes', () => {
  const random = new Random(23);
  for (const [stride, outputPadding, kernel] of [[1, 0, 3], [2, 1, 3], [3, 2, 2], [2, 0, 5]]) {
    const x = randomTensor(random, [4, 3, 5, 4]);
    const w = randomTensor(random, [3, 2, kernel, kernel]);
    const b = randomTensor(random, [2]);
    const expected = naiveConvTranspose(x, w, b, stride, outputPadding);
    for (const samples of [1, 3, 4]) {
      withGroups(2 * kernel * kernel * 20, samples, () => {
        const y = convTranspose2d(x, w, b, stride, outputPadding);
        assert.deepEqual(y.shape, expected.shape);
        assertClose(y.data, expected.values, 1e-5, 1e-5,
          `convTranspose2d s${stride} op${outputPadding} g${samples}`);
      });
    }
  }
  const x = randomTensor(random, [1, 1, 3, 3]);
  assert.throws(() => convTranspose2d(x, randomTensor(random, [1, 1, 2, 2]), null, 2, 2),
    /outputPadding < stride/);
});

test('convTranspose2d is the adjoint of conv2d with the same weight', () => {
  // <conv(x), y> = <x, convT(y)> when conv maps 11x10 to 5x4 (stride 2, kernel 3) and convT
  // maps 5x4 back to 11x10 (output padding 0 since (5-1)2+3 = 11, (4-1)2+3 = 9, +1 = 10).
  const random = new Random(24);
  const w = randomTensor(random, [4, 3, 3, 3]);
  const x = randomTensor(random, [2, 3, 11, 10]);
  const y = randomTensor(random, [2, 4, 5, 4]);
  const cx = noGrad(() => conv2d(x, w, null, 2));
  assert.deepEqual(cx.shape, [2, 4, 5, 4]);
  const ty = noGrad(() => convTranspose2d(y, w, null, 2, 0));
  assert.deepEqual(ty.shape, [2, 3, 11, 9]);
  const tyPadded = noGrad(() => convTranspose2d(y, w, null, 2, 1));
  assert.deepEqual(tyPadded.shape, [2, 3, 12, 10]);

  let left = 0;
  for (let i = 0; i < cx.size; i++) left += cx.data[i] * y.data[i];
  // Compare on the region 11x10 the two share (crop the padded transpose to 11 rows).
  let right = 0;
  for (let s = 0; s < 2 * 3; s++) {
    for (let r = 0; r < 11; r++) {
      for (let c = 0; c < 10; c++) {
        right += x.data[(s * 11 + r) * 10 + c] * tyPadded.data[(s * 12 + r) * 10 + c];
      }
    }
  }
  assert.ok(Math.abs(left - right) <= 1e-4 * Math.abs(left) + 1e-4, `adjoint: ${left} vs ${right}`);
});

test('convTranspose2d gradients pass central-difference checks', () => {
  const random = new Random(25);
  const x = randomTensor(random, [3, 2, 4, 3]);
  const w = randomTensor(random, [2, 3, 3, 3]);
  const b = randomTensor(random, [3]);
  for (const samples of [1, 2, 3]) {
    withGroups(3 * 9 * 12, samples, () => {
      checkGradients(`convTranspose2d groups of ${samples}`, [x, w, b],
        () => convTranspose2d(x, w, b, 2, 1));
    });
  }
});
