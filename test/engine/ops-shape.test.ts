import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  concat, flatten, mean, permute, reshape, slice, sum, transpose,
} from '../../src/engine/ops/index.js';
import { fromArray } from '../../src/engine/tensor.js';
import { Random } from '../../src/util/random.js';
import { assertClose, checkGradients, randomTensor } from './gradcheck.js';

test('reshape keeps row-major order and infers -1', () => {
  const x = fromArray([0, 1, 2, 3, 4, 5], [2, 3]);
  const y = reshape(x, [3, -1]);
  assert.deepEqual(y.shape, [3, 2]);
  assert.deepEqual([...y.data], [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(flatten(fromArray([1, 2, 3, 4], [2, 1, 2])).shape, [2, 2]);
  assert.throws(() => reshape(x, [4, 2]), /needs 8 values/);
  checkGradients('reshape', [x], () => reshape(x, [1, 6]));
});

test('permute moves axes like torch.permute', () => {
  const x = fromArray(Array.from({ length: 24 }, (_, i) => i), [2, 3, 4]);
  const y = permute(x, [2, 0, 1]);
  assert.deepEqual(y.shape, [4, 2, 3]);
  // y[k, i, j] = x[i, j, k] = 12 i + 4 j + k.
  for (let k = 0; k < 4; k++) {
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 3; j++) assert.equal(y.data[k * 6 + i * 3 + j], 12 * i + 4 * j + k);
    }
  }
  assert.deepEqual([...transpose(fromArray([1, 2, 3, 4, 5, 6], [2, 3])).data], [1, 4, 2, 5, 3, 6]);
  checkGradients('permute', [x], () => permute(x, [1, 2, 0]));
});

test('concat and slice are inverse and pass gradient checks', () => {
  const random = new Random(4);
  const a = randomTensor(random, [2, 3, 2]);
  const b = randomTensor(random, [2, 1, 2]);
  const c = concat([a, b], 1);
  assert.deepEqual(c.shape, [2, 4, 2]);
  assertClose(slice(c, 1, 0, 3).data, a.data, 0, 0, 'slice of concat, first part');
  assertClose(slice(c, 1, 3, 1).data, b.data, 0, 0, 'slice of concat, second part');
  checkGradients('concat', [a, b], () => concat([a, b], -2));
  checkGradients('slice', [a], () => slice(a, 2, 1, 1));
});

test('sum and mean reduce the named axes', () => {
  const x = fromArray([1, 2, 3, 4, 5, 6], [2, 3]);
  assert.deepEqual([...sum(x).data], [21]);
  assert.deepEqual(sum(x).shape, []);
  assert.deepEqual([...sum(x, 0).data], [5, 7, 9]);
  assert.deepEqual([...sum(x, 1, true).data], [6, 15]);
  assert.deepEqual(sum(x, 1, true).shape, [2, 1]);
  assert.deepEqual([...mean(x, -1).data], [2, 5]);
  assert.deepEqual([...mean(x).data], [3.5]);
  const random = new Random(5);
  const y = randomTensor(random, [3, 4, 5]);
  checkGradients('sum', [y], () => sum(y, [0, 2]));
  checkGradients('mean', [y], () => mean(y, 1, true));
  checkGradients('mean all', [y], () => mean(y));
});
