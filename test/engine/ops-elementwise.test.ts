import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  add, addScalar, div, exp, log, mul, neg, relu, reluInPlace, scale, sigmoid, sqrt, square, sub,
  tanh,
} from '../../src/engine/ops/index.js';
import { backward, fromArray } from '../../src/engine/tensor.js';
import { Random } from '../../src/util/random.js';
import { assertClose, checkGradients, randomTensor } from './gradcheck.js';

test('add broadcasts a row and a column like NumPy', () => {
  const a = fromArray([1, 2, 3], [1, 3]);
  const b = fromArray([10, 20], [2, 1]);
  const c = add(a, b);
  assert.deepEqual(c.shape, [2, 3]);
  assert.deepEqual([...c.data], [11, 12, 13, 21, 22, 23]);
  assert.throws(() => add(fromArray([1, 2], [2]), fromArray([1, 2, 3], [3])), /not compatible/);
});

test('broadcast gradients are summed over the stretched axes', () => {
  const a = fromArray([1, 2, 3], [3]);
  const b = fromArray([1, 1, 1, 1, 1, 1], [2, 3]);
  a.requiresGrad = true;
  b.requiresGrad = true;
  backward(mul(a, b), Float32Array.of(1, 2, 3, 4, 5, 6));
  assert.deepEqual([...(a.grad ?? [])], [5, 7, 9]);
  assert.deepEqual([...(b.grad ?? [])], [1, 4, 9, 4, 10, 18]);
});

test('binary ops match their definitions and pass gradient checks', () => {
  const random = new Random(1);
  const cases: Array<[string, (x: number, y: number) => number, typeof add]> = [
    ['add', (x, y) => x + y, add], ['sub', (x, y) => x - y, sub],
    ['mul', (x, y) => x * y, mul], ['div', (x, y) => x / y, div],
  ];
  for (const [name, f, op] of cases) {
    const a = randomTensor(random, [2, 3, 4], 0.5, 1.5);
    const b = randomTensor(random, [3, 1], 0.5, 1.5);
    const c = op(a, b);
    const expected = Array.from(a.data, (v, i) => f(v, b.data[Math.floor(i / 4) % 3]));
    assertClose(c.data, expected, 1e-6, 1e-6, name);
    checkGradients(name, [a, b], () => op(a, b));
  }
});

test('unary ops match Math and pass gradient checks', () => {
  const random = new Random(2);
  const cases: Array<[string, (v: number) => number, typeof exp]> = [
    ['exp', Math.exp, exp], ['log', Math.log, log], ['sqrt', Math.sqrt, sqrt],
    ['square', (v) => v * v, square], ['tanh', Math.tanh, tanh],
    ['sigmoid', (v) => 1 / (1 + Math.exp(-v)), sigmoid],
    ['scale', (v) => -2.5 * v, (x) => scale(x, -2.5)],
    ['addScalar', (v) => v + 3, (x) => addScalar(x, 3)], ['neg', (v) => -v, neg],
  ];
  for (const [name, f, op] of cases) {
    const x = randomTensor(random, [5, 7], 0.3, 2);
    assertClose(op(x).data, Array.from(x.data, f), 1e-6, 1e-6, name);
    checkGradients(name, [x], () => op(x));
  }
});

test('relu zeroes negatives, passes the gradient where the input is positive', () => {
  const x = fromArray([-2, -0.5, 0, 0.5, 3], [5]);
  x.requiresGrad = true;
  const y = relu(x);
  assert.deepEqual([...y.data], [0, 0, 0, 0.5, 3]);
  backward(y, Float32Array.of(1, 1, 1, 1, 1));
  assert.deepEqual([...(x.grad ?? [])], [0, 0, 0, 1, 1]);

  // Away from the kink (|x| > 0.1 > step) the central difference is exact.
  const random = new Random(3);
  const z = randomTensor(random, [4, 6]);
  z.data.forEach((v, i) => { z.data[i] = v + (v >= 0 ? 0.1 : -0.1); });
  checkGradients('relu', [z], () => relu(z));
});

test('reluInPlace overwrites its input and has relu\'s values and gradients', () => {
  const random = new Random(5);
  const x = randomTensor(random, [3, 7]);
  x.data.forEach((v, i) => { x.data[i] = v + (v >= 0 ? 0.1 : -0.1); });
  x.requiresGrad = true;
  const seed = randomTensor(random, [3, 7]).data;

  // A scale in front stands for the convolution whose output the relu overwrites.
  const expected = relu(scale(x, 2));
  backward(expected, seed);
  const expectedGrad = Float32Array.from(x.grad ?? []);
  x.grad = null;
  const before = scale(x, 2);
  const y = reluInPlace(before);
  assert.equal(y.data, before.data);
  assert.deepEqual([...y.data], [...expected.data]);
  backward(y, seed);
  assert.deepEqual([...(x.grad ?? [])], [...expectedGrad]);
  assert.ok(expectedGrad.some((v) => v === 0) && expectedGrad.some((v) => v !== 0));
  checkGradients('reluInPlace', [x], () => reluInPlace(scale(x, 2)));
});

test('gradients handed on without a copy still add up where a tensor is used twice', () => {
  // z = (a + a) + b a: dz/da = 2 + b, dz/db = a; the add hands its output gradient to one
  // parent and copies it for the other, which here is the same tensor.
  const a = fromArray([1, -2, 3], [3]);
  const b = fromArray([4, 5, -6], [3]);
  a.requiresGrad = true;
  b.requiresGrad = true;
  backward(add(add(a, a), mul(b, a)), Float32Array.of(1, 1, 1));
  assert.deepEqual([...(a.grad ?? [])], [6, 7, -4]);
  assert.deepEqual([...(b.grad ?? [])], [1, -2, 3]);

  // A parent without gradients takes nothing; broadcasting still sums; sub negates one side.
  const c = fromArray([1, 2, 3, 4], [2, 2]);
  const r = fromArray([10, 20], [2]);
  c.requiresGrad = true;
  r.requiresGrad = true;
  backward(sub(add(c, fromArray([0, 0, 0, 0], [2, 2])), r), Float32Array.of(1, 2, 3, 4));
  assert.deepEqual([...(c.grad ?? [])], [1, 2, 3, 4]);
  assert.deepEqual([...(r.grad ?? [])], [-4, -6]);
});
