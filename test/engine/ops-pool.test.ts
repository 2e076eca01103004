import assert from 'node:assert/strict';
import { test } from 'node:test';
import { globalAvgPool2d, maxPool2d, upsampleNearest2d } from '../../src/engine/ops/index.js';
import { backward, fromArray, Tensor } from '../../src/engine/tensor.js';
import { Random } from '../../src/util/random.js';
import { checkGradients, randomTensor } from './gradcheck.js';

test('maxPool2d picks window maxima and routes the gradient to them', () => {
  const x = fromArray([
    1, 5, 2, 0,
    3, 4, 8, 1,
    0, 2, 7, 6,
  ], [1, 1, 3, 4]);
  x.requiresGrad = true;
  const y = maxPool2d(x, 2, 1);
  assert.deepEqual(y.shape, [1, 1, 2, 3]);
  assert.deepEqual([...y.data], [5, 8, 8, 4, 8, 8]);
  backward(y, Float32Array.of(1, 1, 1, 1, 1, 1));
  assert.deepEqual([...(x.grad ?? [])], [0, 1, 0, 0, 0, 1, 4, 0, 0, 0, 0, 0]);
  assert.deepEqual(maxPool2d(x, 3, 2).shape, [1, 1, 1, 1]);

  // Ties go to the first maximum of the window in row-major order, as in a direct scan.
  const ties = fromArray([0, 2, 2, 0, 1, 2, 2, 2, 2], [1, 1, 3, 3]);
  ties.requiresGrad = true;
  backward(maxPool2d(ties, 2, 1), Float32Array.of(1, 10, 100, 1000));
  assert.deepEqual([...(ties.grad ?? [])], [0, 11, 0, 0, 0, 1000, 100, 0, 0]);
});

test('maxPool2d gradient passes central-difference checks (distinct values)', () => {
  // Values 0.05 apart in random order, so a step of 0.01 never changes which one is largest.
  const random = new Random(31);
  const size = 2 * 3 * 7 * 7;
  const order = Array.from({ length: size }, (_, i) => i);
  random.shuffle(order);
  const x = new Tensor(Float32Array.from(order, (i) => 0.05 * i - 10), [2, 3, 7, 7]);
  checkGradients('maxPool2d 3/2', [x], () => maxPool2d(x, 3, 2));
  checkGradients('maxPool2d 2/1', [x], () => maxPool2d(x, 2, 1));
});

test('globalAvgPool2d averages each map', () => {
  const x = fromArray([1, 2, 3, 4, 10, 20, 30, 40], [1, 2, 2, 2]);
  const y = globalAvgPool2d(x);
  assert.deepEqual(y.shape, [1, 2]);
  assert.deepEqual([...y.data], [2.5, 25]);
  const random = new Random(32);
  const z = randomTensor(random, [3, 4, 5, 2]);
  checkGradients('globalAvgPool2d', [z], () => globalAvgPool2d(z));
});

test('upsampleNearest2d uses source index floor(d in / out) like PyTorch', () => {
  // 3 -> 5: floor(0, 0.6, 1.2, 1.8, 2.4) = 0 0 1 1 2; 2 -> 3: floor(0, 0.67, 1.33) = 0 0 1.
  const x = fromArray([1, 2, 3, 4, 5, 6], [1, 1, 3, 2]);
  const y = upsampleNearest2d(x, 5, 3);
  assert.deepEqual(y.shape, [1, 1, 5, 3]);
  assert.deepEqual([...y.data], [1, 1, 2, 1, 1, 2, 3, 3, 4, 3, 3, 4, 5, 5, 6]);
  const random = new Random(33);
  const z = randomTensor(random, [2, 3, 4, 3]);
  checkGradients('upsampleNearest2d 4x3 -> 9x7', [z], () => upsampleNearest2d(z, 9, 7));
  checkGradients('upsampleNearest2d 4x3 -> 2x2', [z], () => upsampleNearest2d(z, 2, 2));
});
