import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { activeBackend, useBackend } from '../../src/engine/kernels/index.js';
import { referenceBackend } from '../../src/engine/kernels/reference.js';
import { createWasmBackend, type WasmBackend } from '../../src/engine/kernels/wasm.js';
import { maxPool2d, upsampleNearest2d } from '../../src/engine/ops/index.js';
import { backward, Tensor } from '../../src/engine/tensor.js';
import { Random } from '../../src/util/random.js';

/*
 * The wasm max-pooling kernels against the TypeScript loops (reference backend): values must be
 * bit-identical (Object.is tells -0 from +0) and the gradient, a scatter of the output gradient
 * to each window's first maximum, must match exactly, including heavy ties and signed zeros.
 */

let wasm: WasmBackend;

before(async () => {
  // A low split threshold so that test-sized pools exercise the threaded paths.
  wasm = await createWasmBackend({ threads: 2, minFlopsPerThread: 1 << 10 });
});

after(async () => {
  await wasm.close();
});

/** maxPool2d's output and input gradient (for output gradient g) on `backend`. */
function pool(backend: typeof referenceBackend | WasmBackend, values: Float32Array,
  shape: number[], kernel: number, stride: number, g: (size: number) => Float32Array,
): { out: Float32Array; grad: Float32Array } {
  const previous = activeBackend();
  useBackend(backend);
  try {
    const x = new Tensor(Float32Array.from(values), shape);
    x.requiresGrad = true;
    const y = maxPool2d(x, kernel, stride);
    const out = Float32Array.from(y.data);
    backward(y, g(y.size));
    return { out, grad: x.grad ?? new Float32Array(0) };
  } finally {
    useBackend(previous);
  }
}

/** A value as text, -0 included. */
function show(value: number): string {
  return Object.is(value, -0) ? '-0' : String(value);
}

function assertSame(what: string, got: Float32Array, expected: Float32Array): void {
  assert.equal(got.length, expected.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], expected[i])) {
      assert.fail(`${what}: element ${i} is ${show(got[i])}, expected ${show(expected[i])}`);
    }
  }
}

/** Random [batch, channels, height, width] values, drawn from a few levels when `ties`. */
function randomValues(random: Random, size: number, ties: boolean): Float32Array {
  const levels = [-1, -0, 0, 0.5, -0.5];
  return Float32Array.from({ length: size },
    () => ties ? levels[random.int(levels.length)] : random.uniformIn(-1, 1));
}

test('wasm maxPool2d matches the TypeScript loops on random shapes, 1 and 2 threads', () => {
  const random = new Random(4101);
  const shapes: Array<[number, number, number, number, number, number]> = [
    // batch, channels, height, width, kernel, stride
    [1, 1, 5, 5, 2, 1], [1, 3, 7, 9, 3, 1], [2, 3, 11, 13, 3, 2], [3, 5, 17, 10, 5, 1],
    [2, 7, 23, 19, 9, 1], [1, 2, 9, 9, 9, 1], [2, 3, 14, 15, 7, 1], [3, 1, 12, 11, 2, 2],
    [2, 5, 13, 13, 3, 3], [1, 3, 6, 21, 1, 1], [4, 3, 10, 22, 4, 1],
  ];
  for (const threads of [1, 2]) {
    wasm.setThreads(threads);
    for (const [batch, channels, height, width, kernel, stride] of shapes) {
      for (const ties of [false, true]) {
        const size = batch * channels * height * width;
        const values = randomValues(random, size, ties);
        const seed = random.int(1 << 30);
        // The same distinct output gradient on both sides: a different argmax shows up.
        const g = (n: number): Float32Array => {
          const r = new Random(seed);
          return Float32Array.from({ length: n }, () => r.uniformIn(0.5, 1.5));
        };
        const shape = [batch, channels, height, width];
        const what = `threads ${threads} [${shape}] k${kernel} s${stride} ties ${ties}`;
        const expected = pool(referenceBackend, values, shape, kernel, stride, g);
        const got = pool(wasm, values, shape, kernel, stride, g);
        assertSame(`${what} out`, got.out, expected.out);
        assertSame(`${what} grad`, got.grad, expected.grad);
      }
    }
  }
  wasm.setThreads(2);
});

test('wasm maxPool2d keeps the first of tied maxima, -0 tying +0', () => {
  // Row-major first maximum: in [[-0, 0], [0, -0]] the -0 at (0, 0) wins, value -0.
  const values = Float32Array.of(-0, 0, 0, -0, 0, -0, 1, 1, 1);
  const got = pool(wasm, values, [1, 1, 3, 3], 2, 1, (n) => Float32Array.from(
    { length: n }, (_, i) => 10 ** i));
  assertSame('out', got.out, Float32Array.of(-0, 0, 1, 1));
  // Windows: (0,0) -> x[0]; (0,1) -> x[1]; (1,0) -> x[6]; (1,1) -> x[7].
  assertSame('grad', got.grad, Float32Array.of(1, 10, 0, 0, 0, 0, 100, 1000, 0));
});

test('wasm upsampleNearest2d backward matches the TypeScript loop exactly', () => {
  // Up and down in each axis, sizes not multiples of 4, batch 1 and > 1; the same float32 sums
  // in the same order, so gradients agree bit for bit.
  const random = new Random(4102);
  const shapes: Array<[number, number, number, number, number, number]> = [
    // batch, channels, height, width, outHeight, outWidth
    [1, 1, 3, 2, 5, 3], [2, 3, 4, 3, 9, 7], [2, 3, 4, 3, 2, 2], [1, 5, 39, 39, 80, 80],
    [3, 2, 80, 80, 86, 86], [2, 3, 13, 17, 11, 23], [1, 1, 1, 1, 6, 9],
  ];
  for (const threads of [1, 2]) {
    wasm.setThreads(threads);
    for (const [batch, channels, height, width, outHeight, outWidth] of shapes) {
      const shape = [batch, channels, height, width];
      const values = randomValues(random, batch * channels * height * width, false);
      const g = Float32Array.from({ length: batch * channels * outHeight * outWidth },
        () => random.uniformIn(-1, 1));
      const grads = [referenceBackend, wasm].map((backend) => {
        const previous = activeBackend();
        useBackend(backend);
        try {
          const x = new Tensor(Float32Array.from(values), shape);
          x.requiresGrad = true;
          backward(upsampleNearest2d(x, outHeight, outWidth), Float32Array.from(g));
          return x.grad ?? new Float32Array(0);
        } finally {
          useBackend(previous);
        }
      });
      assertSame(`threads ${threads} [${shape}] -> ${outHeight}x${outWidth}`, grads[1],
        grads[0]);
    }
  }
  wasm.setThreads(2);
});

test('maxPool2d passes NaNs of either sign bit on, on both backends', () => {
  // 0xffc00000 is the NaN that Inf - Inf gives in hardware; 0x7fc00000 is JavaScript's 0 / 0.
  const values = Float32Array.of(0, 5, 1, 2, 3, 0, -7, 4, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16,
    17, 18, 19, 20, 21, 22, 23);
  const bits = new Int32Array(values.buffer);
  bits[0] = 0xffc00000 | 0;
  bits[2] = 0x7fc00000;
  for (const backend of [referenceBackend, wasm] as const) {
    for (const [kernel, stride] of [[2, 2], [3, 1], [5, 1]]) {
      const got = pool(backend, values, [1, 1, 5, 5], kernel, stride, (n) => new Float32Array(n)
        .fill(1));
      const expected = kernel === 2 ? [NaN, NaN, 15, 17] : undefined;
      if (expected !== undefined) assert.deepEqual([...got.out], expected);
      assert.ok(Number.isNaN(got.out[0]), `${backend.name} k${kernel}: window 0 holds a NaN`);
      // The first NaN of the first window takes that window's gradient.
      assert.ok(got.grad[0] >= 1, `${backend.name} k${kernel}: gradient to the first NaN`);
    }
  }
});
