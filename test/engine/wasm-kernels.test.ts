import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { activeBackend, useBackend } from '../../src/engine/kernels/index.js';
import { referenceBackend, referenceGemm } from '../../src/engine/kernels/reference.js';
import { createWasmBackend, type WasmBackend } from '../../src/engine/kernels/wasm.js';
import {
  conv2d, convTranspose2d, gemmStridedBatched, linear,
} from '../../src/engine/ops/index.js';
import { backward, type Tensor } from '../../src/engine/tensor.js';
import { Random } from '../../src/util/random.js';
import { assertClose, randomTensor } from './gradcheck.js';

/*
 * The wasm kernels against the reference loops (in float64, so that only the wasm result carries
 * float32 rounding): odd sizes, sizes that are not multiples of the 4 x 8 micro-tile, every
 * transpose flag, offsets, padded leading dimensions, alpha and beta special cases, products
 * big enough to be split over threads both ways, and batched products.
 */

let wasm: WasmBackend;

before(async () => {
  // A low split threshold so that test-sized products exercise the threaded paths.
  wasm = await createWasmBackend({ threads: 2, minFlopsPerThread: 1 << 14 });
});

after(async () => {
  await wasm.close();
});

function randomArray(random: Random, length: number): Float32Array {
  return Float32Array.from({ length }, () => random.uniformIn(-1, 1));
}

interface Case {
  transA: boolean; transB: boolean; m: number; n: number; k: number; alpha: number; beta: number;
  aOffset: number; bOffset: number; cOffset: number; pad: number;
}

/** Runs one product on wasm and on float64 loops; asserts agreement to float32 rounding. */
function checkCase(random: Random, c: Case): void {
  const { transA, transB, m, n, k, alpha, beta, aOffset, bOffset, cOffset, pad } = c;
  const lda = (transA ? m : k) + pad;
  const ldb = (transB ? k : n) + pad;
  const ldc = n + pad;
  const a = randomArray(random, aOffset + (transA ? k : m) * lda);
  const b = randomArray(random, bOffset + (transB ? n : k) * ldb);
  const c0 = randomArray(random, cOffset + m * ldc);
  if (beta === 0) c0[cOffset] = NaN; // beta = 0 must overwrite, not multiply
  const got = Float32Array.from(c0);
  wasm.gemm(transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta,
    got, cOffset, ldc);

  const expected = Float64Array.from(c0);
  referenceGemm(transA, transB, m, n, k, alpha, Float64Array.from(a), aOffset, lda,
    Float64Array.from(b), bOffset, ldb, beta, expected, cOffset, ldc);
  // Entries are sums of k products of values below 1: rounding error below ~k 2^-24 each.
  const bound = 4e-7 * (k + 2) + 1e-6;
  const what = `gemm ${JSON.stringify(c)}`;
  for (let i = 0; i < got.length; i++) {
    const inside = i >= cOffset && (i - cOffset) % ldc < n && i < cOffset + m * ldc;
    if (!inside) {
      assert.ok(Object.is(got[i], c0[i]), `${what}: element ${i} outside C was changed`);
    } else if (!(Math.abs(got[i] - expected[i]) <= bound)) {
      assert.fail(`${what}: element ${i} is ${got[i]}, expected ${expected[i]}`);
    }
  }
}

test('wasm gemm matches the reference on odd shapes with every transpose flag', () => {
  const random = new Random(101);
  const sizes = [1, 2, 3, 4, 5, 7, 8, 9, 13, 17, 31, 33, 64, 65, 97, 130];
  for (let trial = 0; trial < 120; trial++) {
    checkCase(random, {
      transA: trial % 2 === 1, transB: (trial >> 1) % 2 === 1,
      m: sizes[random.int(sizes.length)], n: sizes[random.int(sizes.length)],
      k: sizes[random.int(sizes.length)],
      alpha: [1, -0.5, 2][random.int(3)], beta: [0, 1, 0.25][random.int(3)],
      aOffset: random.int(3), bOffset: random.int(3), cOffset: random.int(3), pad: random.int(3),
    });
  }
});

test('wasm gemm handles k beyond one cache block, alpha = 0 and k = 0', () => {
  const random = new Random(102);
  const base = { aOffset: 1, bOffset: 2, cOffset: 3, pad: 1, alpha: 1, beta: 0.5 };
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      checkCase(random, { ...base, transA, transB, m: 37, n: 23, k: 600 });
      checkCase(random, { ...base, transA, transB, m: 5, n: 9, k: 0 });
      checkCase(random, { ...base, transA, transB, m: 6, n: 10, k: 3, alpha: 0 });
    }
  }
});

test('wasm gemm split over threads by columns and by rows, with 1 and 2 threads', () => {
  const random = new Random(103);
  const base = { aOffset: 0, bOffset: 5, cOffset: 7, pad: 3, alpha: 1.5, beta: 0 };
  for (const threads of [1, 2]) {
    wasm.setThreads(threads);
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        checkCase(random, { ...base, transA, transB, m: 61, n: 203, k: 129 }); // wide: columns
        checkCase(random, { ...base, transA, transB, m: 203, n: 61, k: 129, beta: 1 }); // tall
        checkCase(random, { ...base, transA, transB, m: 100, n: 2100, k: 9 }); // beyond NC
      }
    }
  }
  wasm.setThreads(2);
  assert.throws(() => wasm.setThreads(3), /1..2/);
});

test('wasm strided batched products match one gemm per entry', () => {
  const random = new Random(104);
  const [count, m, n, k] = [7, 21, 21, 64];
  for (const strideA of [m * k, 0]) {
    const a = randomArray(random, 2 + (count - 1) * strideA + m * k);
    const b = randomArray(random, count * k * n);
    const c = randomArray(random, count * m * n + 4);
    const expected = Float64Array.from(c);
    const previous = activeBackend();
    useBackend(wasm);
    try {
      gemmStridedBatched(count, false, true, m, n, k, 1, a, 2, k, strideA, b, 0, k, k * n,
        0.5, c, 4, n, m * n);
    } finally {
      useBackend(previous);
    }
    for (let t = 0; t < count; t++) {
      referenceGemm(false, true, m, n, k, 1, Float64Array.from(a), 2 + t * strideA, k,
        Float64Array.from(b), t * k * n, k, 0.5, expected, 4 + t * m * n, n);
    }
    assertClose(c, expected, 5e-5, 0, `batched, strideA ${strideA}`);
  }
});

/** Runs `build` on the reference backend and on wasm; returns both outputs and gradients. */
function onBoth(inputs: Tensor[], build: () => Tensor):
  Array<{ out: Float32Array; grads: Float32Array[] }> {
  const previous = activeBackend();
  const results = [referenceBackend, wasm].map((backend) => {
    useBackend(backend);
    for (const t of inputs) {
      t.requiresGrad = true;
      t.grad = null;
    }
    const y = build();
    backward(y, Float32Array.from({ length: y.size }, (_, i) => Math.cos(i)));
    return { out: y.data, grads: inputs.map((t) => t.grad ?? new Float32Array(0)) };
  });
  useBackend(previous);
  return results;
}

test('convolutions and linear layers give the same values and gradients on wasm', () => {
  const random = new Random(105);
  const x = randomTensor(random, [3, 4, 13, 11]);
  const w = randomTensor(random, [5, 4, 3, 3]);
  const b = randomTensor(random, [5]);
  const wt = randomTensor(random, [4, 6, 3, 3]);
  const xl = randomTensor(random, [9, 33]);
  const wl = randomTensor(random, [17, 33]);
  const cases: Array<[string, Tensor[], () => Tensor]> = [
    ['conv2d', [x, w, b], () => conv2d(x, w, b, 2)],
    ['convTranspose2d', [x, wt, b.data.length === 5 ? randomTensor(random, [6]) : b],
      () => convTranspose2d(x, wt, null, 2, 1)],
    ['linear', [xl, wl], () => linear(xl, wl, null)],
  ];
  for (const [name, inputs, build] of cases) {
    const [ref, fast] = onBoth(inputs, build);
    assertClose(fast.out, ref.out, 1e-4, 1e-4, `${name} output`);
    fast.grads.forEach((g, i) => assertClose(g, ref.grads[i], 1e-4, 1e-4, `${name} gradient ${i}`));
  }
});

test('convolution kernels split over threads agree with the reference', () => {
  // Spread over both threads (ranges of images, per-thread weight sums), with strides, padding
  // and kernels that leave partial rows in the SIMD im2col and col2im.
  const random = new Random(106);
  const x = randomTensor(random, [7, 6, 18, 17]);
  const w = randomTensor(random, [8, 6, 3, 3]);
  const w5 = randomTensor(random, [3, 6, 5, 5]);
  const w2 = randomTensor(random, [4, 6, 2, 2]);
  const wt = randomTensor(random, [6, 5, 4, 4]);
  for (const threads of [1, 2]) {
    wasm.setThreads(threads);
    const cases: Array<[string, Tensor[], () => Tensor]> = [
      ['conv2d', [x, w], () => conv2d(x, w, null, 1, 1)],
      ['conv2d strided', [x, w], () => conv2d(x, w, null, 2)],
      ['conv2d 5x5 stride 2 padding 2', [x, w5], () => conv2d(x, w5, null, 2, 2)],
      ['conv2d 2x2 stride 3 padding 1', [x, w2], () => conv2d(x, w2, null, 3, 1)],
      ['convTranspose2d', [x, wt], () => convTranspose2d(x, wt, null, 3, 2)],
    ];
    for (const [name, inputs, build] of cases) {
      const [ref, fast] = onBoth(inputs, build);
      assertClose(fast.out, ref.out, 2e-4, 1e-4, `${name} ${threads}T output`);
      fast.grads.forEach((g, i) =>
        assertClose(g, ref.grads[i], 2e-4, 1e-4, `${name} ${threads}T gradient ${i}`));
    }
  }
  wasm.setThreads(2);
});

test('products and convolution gradients are bitwise the same for every thread count', () => {
  const random = new Random(107);
  const a = randomArray(random, 150 * 90);
  const b = randomArray(random, 90 * 170);
  const products = [1, 2].map((threads) => {
    wasm.setThreads(threads);
    return [false, true].map((tall) => {
      const [m, n] = tall ? [170, 150] : [150, 170];
      const c = new Float32Array(m * n);
      if (tall) wasm.gemm(true, true, m, n, 90, 1, b, 0, 170, a, 0, 90, 0, c, 0, n);
      else wasm.gemm(false, false, m, n, 90, 1, a, 0, 90, b, 0, 170, 0, c, 0, n);
      return c;
    });
  });
  products[0].forEach((c, i) => assert.deepEqual([...c], [...products[1][i]], `product ${i}`));

  const x = randomTensor(random, [11, 4, 12, 12]);
  const w = randomTensor(random, [6, 4, 3, 3]);
  const runs = [1, 2].map((threads) => {
    wasm.setThreads(threads);
    return onBoth([x, w], () => conv2d(x, w, null, 1))[1];
  });
  wasm.setThreads(2);
  assert.deepEqual([...runs[0].out], [...runs[1].out]);
  runs[0].grads.forEach((g, i) => assert.deepEqual([...g], [...runs[1].grads[i]], `gradient ${i}`));
});

test('a process that used the wasm backend exits without closing it', () => {
  const module = new URL('../../src/engine/kernels/wasm.js', import.meta.url).href;
  const script = `import(${JSON.stringify(module)}).then(async ({ createWasmBackend }) => {
    const backend = await createWasmBackend({ threads: 2 });
    const a = new Float32Array(300 * 300).fill(1);
    const c = new Float32Array(300 * 300);
    backend.gemm(false, false, 300, 300, 300, 1, a, 0, 300, a, 0, 300, 0, c, 0, 300);
    process.stdout.write(String(c[0]));
  });`;
  const started = Date.now();
  const child = spawnSync(process.execPath, ['-e', script], { timeout: 20_000, encoding: 'utf8' });
  assert.equal(child.status, 0, `child failed: ${child.stderr}`);
  assert.equal(child.stdout, '300');
  assert.ok(Date.now() - started < 20_000);
});
