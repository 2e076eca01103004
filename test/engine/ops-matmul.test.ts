import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bmm, linear, matmul } from '../../src/engine/ops/index.js';
import { fromArray, type Tensor } from '../../src/engine/tensor.js';
import { Random } from '../../src/util/random.js';
import { assertClose, checkGradients, randomTensor } from './gradcheck.js';

/** Plain triple loop in float64 over logical (un-transposed) matrices. */
function naiveProduct(a: Tensor, b: Tensor, transA: boolean, transB: boolean): number[] {
  const [m, k] = transA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const n = transB ? b.shape[0] : b.shape[1];
  const at = (i: number, p: number): number => (transA ? a.data[p * m + i] : a.data[i * k + p]);
  const bt = (p: number, j: number): number => (transB ? b.data[j * k + p] : b.data[p * n + j]);
  const out: number[] = [];
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += at(i, p) * bt(p, j);
      out.push(s);
    }
  }
  return out;
}

test('matmul of known 2x3 by 3x2 matrices', () => {
  const a = fromArray([1, 2, 3, 4, 5, 6], [2, 3]);
  const b = fromArray([7, 8, 9, 10, 11, 12], [3, 2]);
  assert.deepEqual([...matmul(a, b).data], [58, 64, 139, 154]);
  assert.throws(() => matmul(a, a), /inner extents differ/);
});

test('matmul with every transpose flag matches loops and passes gradient checks', () => {
  const random = new Random(11);
  const [m, k, n] = [5, 7, 3];
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      const a = randomTensor(random, transA ? [k, m] : [m, k]);
      const b = randomTensor(random, transB ? [n, k] : [k, n]);
      const c = matmul(a, b, transA, transB);
      assert.deepEqual(c.shape, [m, n]);
      assertClose(c.data, naiveProduct(a, b, transA, transB), 1e-5, 1e-5,
        `matmul ${transA} ${transB}`);
      checkGradients(`matmul ${transA} ${transB}`, [a, b], () => matmul(a, b, transA, transB));
    }
  }
});

test('bmm multiplies each batch entry separately', () => {
  const random = new Random(12);
  const a = randomTensor(random, [3, 4, 5]);
  const b = randomTensor(random, [3, 5, 2]);
  const c = bmm(a, b);
  assert.deepEqual(c.shape, [3, 4, 2]);
  for (let t = 0; t < 3; t++) {
    const at = fromArray(a.data.subarray(t * 20, t * 20 + 20), [4, 5]);
    const bt = fromArray(b.data.subarray(t * 10, t * 10 + 10), [5, 2]);
    assertClose(c.data.subarray(t * 8, t * 8 + 8), naiveProduct(at, bt, false, false), 1e-5, 1e-5);
  }
  checkGradients('bmm', [a, b], () => bmm(a, b));
});

test('linear computes x W^T + b and passes gradient checks', () => {
  const x = fromArray([1, 2, 3, 4, 5, 6], [2, 3]);
  const w = fromArray([1, 0, -1, 2, 1, 0], [2, 3]);
  const b = fromArray([0.5, -1], [2]);
  assert.deepEqual([...linear(x, w, b).data], [-1.5, 3, -1.5, 12]);
  assert.deepEqual([...linear(x, w, null).data], [-2, 4, -2, 13]);

  const random = new Random(13);
  const xs = randomTensor(random, [6, 5]);
  const ws = randomTensor(random, [4, 5]);
  const bs = randomTensor(random, [4]);
  checkGradients('linear', [xs, ws, bs], () => linear(xs, ws, bs));
});
