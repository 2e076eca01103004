import assert from 'node:assert/strict';
import { test } from 'node:test';

import { activeBackend, useBackend } from '../../src/engine/kernels/index.js';
import { loadNativeBackend } from '../../src/engine/kernels/native.js';
import { referenceBackend } from '../../src/engine/kernels/reference.js';
import {
  col2im, conv2d, convolutionSettings, convTranspose2d, im2col, type PatchGeometry,
} from '../../src/engine/ops/index.js';
import { backward, Tensor } from '../../src/engine/tensor.js';
import { Random } from '../../src/util/random.js';

/*
 * The native backend's compiled patch unfolding (im2col / col2im over several images at once)
 * against the TypeScript loops, and whole convolutions (forward and every gradient) on the
 * native backend against the reference backend, on odd shapes, strides and paddings.
 */

let reason = '';
const native = loadNativeBackend({ onUnavailable: (why) => { reason = why; } });

function randomArray(random: Random, length: number): Float32Array {
  const x = new Float32Array(length);
  for (let i = 0; i < length; i++) x[i] = random.uniformIn(-1, 1);
  return x;
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

test('native patches match im2col and col2im for several images side by side', (t) => {
  if (native === null || native.patches === undefined) {
    t.skip(reason || 'addon built without patches');
    return;
  }
  const random = new Random(11);
  const shapes = [
    [3, 7, 9, 3, 2, 1, 0], [2, 11, 5, 5, 3, 2, 1], [1, 6, 6, 1, 1, 1, 0], [4, 9, 13, 3, 3, 3, 2],
  ];
  for (const [channels, height, width, kh, kw, stride, padding] of shapes) {
    const outHeight = Math.floor((height + 2 * padding - kh) / stride) + 1;
    const outWidth = Math.floor((width + 2 * padding - kw) / stride) + 1;
    const g: PatchGeometry = {
      channels, height, width, kernelHeight: kh, kernelWidth: kw, stride, padding, outHeight,
      outWidth,
    };
    const count = 3;
    const imageSize = channels * height * width;
    const plane = outHeight * outWidth;
    const rows = channels * kh * kw;
    const ld = count * plane + 5;
    const images = randomArray(random, 7 + count * imageSize);
    const expected = new Float32Array(rows * ld);
    const actual = new Float32Array(rows * ld);
    for (let i = 0; i < count; i++) im2col(g, images, 7 + i * imageSize, expected, i * plane, ld);
    const geometry = Int32Array.of(channels, height, width, kh, kw, stride, padding, outHeight,
      outWidth);
    native.patches(0, geometry, count, images, 7, imageSize, actual, 0, ld);
    assert.deepEqual(actual, expected, `im2col ${[channels, height, width, kh, kw, stride]}`);

    const cols = randomArray(random, rows * ld);
    const start = randomArray(random, 7 + count * imageSize);
    const want = Float32Array.from(start);
    const got = Float32Array.from(start);
    for (let i = 0; i < count; i++) col2im(g, cols, i * plane, ld, want, 7 + i * imageSize);
    native.patches(1, geometry, count, got, 7, imageSize, cols, 0, ld);
    assert.ok(maxDifference(got, want) < 1e-5, 'col2im');
  }
  assert.throws(() => native.patches?.(0, Int32Array.of(1, 4, 4, 3, 3, 1, 0, 2, 2), 2,
    new Float32Array(16), 0, 16, new Float32Array(10), 0, 4), RangeError);
});

/** Output and gradients of conv2d and convTranspose2d on the active backend. */
function convolutions(seed: number, transpose: boolean, shape: number[], kernel: number[],
  stride: number, padding: number): Float32Array[] {
  const random = new Random(seed);
  const x = new Tensor(randomArray(random, shape.reduce((a, b) => a * b, 1)), shape, true);
  const w = new Tensor(randomArray(random, kernel.reduce((a, b) => a * b, 1)), kernel, true);
  const bias = new Tensor(randomArray(random, transpose ? kernel[1] : kernel[0]),
    [transpose ? kernel[1] : kernel[0]], true);
  const y = transpose ? convTranspose2d(x, w, bias, stride, stride - 1, padding)
    : conv2d(x, w, bias, stride, padding);
  backward(y, randomArray(random, y.size));
  return [y.data, x.grad as Float32Array, w.grad as Float32Array, bias.grad as Float32Array];
}

test('convolutions on the native backend match the reference backend', (t) => {
  if (native === null) {
    t.skip(reason);
    return;
  }
  const previous = activeBackend();
  const budget = convolutionSettings.columnBudget;
  try {
    for (const columnBudget of [1 << 22, 300]) {
      convolutionSettings.columnBudget = columnBudget;
      const cases: [boolean, number[], number[], number, number][] = [
        [false, [5, 3, 13, 11], [7, 3, 3, 5], 1, 2],
        [false, [3, 2, 17, 9], [5, 2, 3, 3], 2, 1],
        [true, [3, 5, 7, 9], [5, 3, 3, 3], 2, 0],
        [true, [2, 4, 6, 5], [4, 6, 5, 3], 1, 1],
      ];
      for (const [transpose, shape, kernel, stride, padding] of cases) {
        useBackend(referenceBackend);
        const want = convolutions(3, transpose, shape, kernel, stride, padding);
        useBackend(native);
        const got = convolutions(3, transpose, shape, kernel, stride, padding);
        for (let i = 0; i < want.length; i++) {
          const scale = Math.max(1, ...Array.from(want[i], Math.abs));
          assert.ok(maxDifference(got[i], want[i]) < 1e-4 * scale,
            `${transpose ? 'convTranspose2d' : 'conv2d'} [${shape}] output/gradient ${i}`);
        }
      }
    }
  } finally {
    convolutionSettings.columnBudget = budget;
    useBackend(previous);
  }
});
