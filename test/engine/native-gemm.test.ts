import assert from 'node:assert/strict';
import { test } from 'node:test';

import { activeBackend, gemm, useBackend } from '../../src/engine/kernels/index.js';
import {
  GROUPED_GEMM_FIELDS, groupedGemmTable, loadNativeBackend, type GemmProduct, type NativeBackend,
} from '../../src/engine/kernels/native.js';
import { referenceGemm } from '../../src/engine/kernels/reference.js';
import { Random } from '../../src/util/random.js';

/*
 * The native (OpenBLAS) kernels against the reference loops: random shapes with odd sizes, every
 * transpose flag, offsets and padded leading dimensions, alpha/beta special cases, and the
 * batched and grouped products on one and two threads. Skipped, with the reason, when the addon
 * was not built (no libopenblas when `npm ci` ran scripts/build-native.mjs).
 */

let reason = '';
const native = loadNativeBackend({ onUnavailable: (why) => { reason = why; } });

/** Runs `body` with the backend, or skips the test saying why the addon is absent. */
function withNative(body: (backend: NativeBackend) => void) {
  return (t: { skip(message: string): void }) => {
    if (native === null) {
      t.skip(reason);
      return;
    }
    const threads = native.threads();
    try {
      body(native);
    } finally {
      native.setThreads(threads);
    }
  };
}

function randomArray(random: Random, length: number): Float32Array {
  const x = new Float32Array(length);
  for (let i = 0; i < length; i++) x[i] = random.uniformIn(-1, 1);
  return x;
}

interface Case {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  beta: number;
  aOffset: number;
  lda: number;
  bOffset: number;
  ldb: number;
  cOffset: number;
  ldc: number;
}

/** A random product with padded leading dimensions and offsets; sizes 1..maxSize. */
function randomCase(random: Random, maxSize: number, transA: boolean, transB: boolean): Case {
  const m = 1 + random.int(maxSize);
  const n = 1 + random.int(maxSize);
  const k = 1 + random.int(maxSize);
  const alphas = [1, -1, 0.37, 0];
  const betas = [0, 1, -0.5, 2];
  return {
    transA, transB, m, n, k,
    alpha: alphas[random.int(alphas.length)],
    beta: betas[random.int(betas.length)],
    aOffset: random.int(5), lda: (transA ? m : k) + random.int(4),
    bOffset: random.int(5), ldb: (transB ? k : n) + random.int(4),
    cOffset: random.int(5), ldc: n + random.int(4),
  };
}

function extent(rows: number, ld: number, offset: number): number {
  return offset + rows * ld;
}

/** Asserts |actual - expected| <= tolerance elementwise (padding and offsets included). */
function assertClose(
  actual: Float32Array, expected: Float32Array, tolerance: number, what: string,
): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    const difference = Math.abs(actual[i] - expected[i]);
    if (!(difference <= tolerance)) {
      assert.fail(`${what}: element ${i} is ${actual[i]}, reference ${expected[i]}`);
    }
  }
}

function checkCase(backend: NativeBackend, random: Random, c: Case): void {
  const a = randomArray(random, extent(c.transA ? c.k : c.m, c.lda, c.aOffset) + 3);
  const b = randomArray(random, extent(c.transB ? c.n : c.k, c.ldb, c.bOffset) + 3);
  const out = randomArray(random, extent(c.m, c.ldc, c.cOffset) + 3);
  const expected = out.slice();

  backend.gemm(c.transA, c.transB, c.m, c.n, c.k, c.alpha, a, c.aOffset, c.lda,
    b, c.bOffset, c.ldb, c.beta, out, c.cOffset, c.ldc);
  referenceGemm(c.transA, c.transB, c.m, c.n, c.k, c.alpha, a, c.aOffset, c.lda,
    b, c.bOffset, c.ldb, c.beta, expected, c.cOffset, c.ldc);

  // Entries are in [-1, 1]: each sum has k terms of size <= |alpha|, float32 epsilon 6e-8.
  const tolerance = 2e-7 * (c.k + 4);
  assertClose(out, expected, tolerance, JSON.stringify(c));
}

test('native gemm matches the reference for all transpose flags, odd sizes, offsets',
  withNative((backend) => {
    const random = new Random('native-gemm-shapes');

    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (let trial = 0; trial < 40; trial++) {
          checkCase(backend, random, randomCase(random, 37, transA, transB));
        }
        for (let trial = 0; trial < 3; trial++) {
          checkCase(backend, random, randomCase(random, 300, transA, transB));
        }
      }
    }
  }));

test('native gemm on two threads matches the reference for a large product',
  withNative((backend) => {
    const random = new Random('native-gemm-large');
    backend.setThreads(2);
    assert.equal(backend.threads(), 2);
    assert.equal(loadNativeBackend({ threads: 1 })?.threads(), 1);
    backend.setThreads(2);

    checkCase(backend, random, {
      transA: true, transB: false, m: 257, n: 301, k: 199, alpha: 1, beta: 0,
      aOffset: 7, lda: 260, bOffset: 3, ldb: 301, cOffset: 1, ldc: 305,
    });
  }));

test('native gemm: beta = 0 overwrites NaN, k = 0 and alpha = 0 only scale C',
  withNative((backend) => {
    const a = new Float32Array([1, 2, 3, 4]);
    const b = new Float32Array([5, 6, 7, 8]);
    const c = new Float32Array([NaN, NaN, NaN, NaN]);

    backend.gemm(false, false, 2, 2, 2, 1, a, 0, 2, b, 0, 2, 0, c, 0, 2);
    assert.deepEqual(Array.from(c), [19, 22, 43, 50]);

    backend.gemm(false, false, 2, 2, 0, 1, a, 0, 1, b, 0, 2, 0.5, c, 0, 2);
    assert.deepEqual(Array.from(c), [9.5, 11, 21.5, 25]);

    backend.gemm(false, false, 2, 2, 2, 0, a, 0, 2, b, 0, 2, 2, c, 0, 2);
    assert.deepEqual(Array.from(c), [19, 22, 43, 50]);

    c.fill(NaN);
    backend.gemm(true, true, 2, 2, 2, 0, a, 0, 2, b, 0, 2, 0, c, 0, 2);
    assert.deepEqual(Array.from(c), [0, 0, 0, 0]);
  }));

test('gemm through the native backend takes empty sums with zero leading dimensions',
  withNative((backend) => {
    // An [m, 0] by [0, n] product (zero input channels): lda = 0, which BLAS rejects, so the
    // dispatcher leaves C = beta C itself.
    const c = new Float32Array([1, 2, 3, 4, 5, 6]);
    const previous = activeBackend();
    useBackend(backend);
    try {
      gemm(false, false, 2, 3, 0, 1, new Float32Array(0), 0, 0, new Float32Array(0), 0, 3, 0.5,
        c, 0, 3);
    } finally {
      useBackend(previous);
    }
    assert.deepEqual(Array.from(c), [0.5, 1, 1.5, 2, 2.5, 3]);
    assert.throws(() => backend.gemm(false, false, 2, 3, 0, 1, new Float32Array(0), 0, 0,
      new Float32Array(0), 0, 3, 0.5, c, 0, 3), /leading dimension/);
  }));

test('native gemm rejects operands outside their arrays and wrong types',
  withNative((backend) => {
    const a = new Float32Array(12);
    const b = new Float32Array(12);
    const c = new Float32Array(9);

    backend.gemm(false, false, 3, 3, 4, 1, a, 0, 4, b, 0, 3, 0, c, 0, 3);
    assert.throws(() => backend.gemm(false, false, 3, 3, 4, 1, a, 1, 4, b, 0, 3, 0, c, 0, 3),
      /A \(3 x 4, ld 4, offset 1/);
    assert.throws(() => backend.gemm(false, true, 3, 3, 4, 1, a, 0, 4, b, 0, 3, 0, c, 0, 3),
      /leading dimension of B is 3, expected at least 4/);
    assert.throws(() => backend.gemm(false, false, 3, 3, 4, 1, a, 0, 4, b, 0, 3, 0, c, 0, 2),
      RangeError);
    assert.throws(() => backend.gemm(false, false, 3, 3, 4, 1, a, -1, 4, b, 0, 3, 0, c, 0, 3),
      RangeError);
    assert.throws(() => backend.gemm(false, false, 3, 3, 4, 1, a, 0.5, 4, b, 0, 3, 0, c, 0, 3),
      RangeError);
    const f64 = new Float64Array(12) as unknown as Float32Array;
    assert.throws(() => backend.gemm(false, false, 3, 3, 4, 1, f64, 0, 4, b, 0, 3, 0, c, 0, 3),
      TypeError);
    assert.throws(() => backend.setThreads(0), RangeError);
  }));

test('native gemm works on views of shared memory and through useBackend',
  withNative((backend) => {
    const random = new Random('native-gemm-shared');
    const memory = new Float32Array(new SharedArrayBuffer(4 * 200));
    memory.set(randomArray(random, 200));
    const a: Float32Array = memory.subarray(10, 40);
    const b: Float32Array = memory.subarray(50, 85);
    const out = new Float32Array(42);
    const expected = new Float32Array(42);

    const previous = activeBackend();
    useBackend(backend);
    try {
      gemm(false, false, 6, 7, 5, 1.5, a, 0, 5, b, 0, 7, 0, out, 0, 7);
    } finally {
      useBackend(previous);
    }
    referenceGemm(false, false, 6, 7, 5, 1.5, a, 0, 5, b, 0, 7, 0, expected, 0, 7);
    assertClose(out, expected, 1e-5, 'shared memory');
  }));

interface StridedCase {
  batch: number;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  /** strideA = 0: every product reuses one A. */
  shareA: boolean;
  beta: number;
  bOffset: number;
}

/** Strided batch against a loop of reference products; B's rows and blocks are 8 apart. */
function checkStrided(backend: NativeBackend, random: Random, c: StridedCase): void {
  const { batch, m, n, k, transA, transB } = c;
  const lda = (transA ? m : k) + 1;
  const ldb = 8 * Math.ceil((transB ? k : n) / 8);
  const ldc = n + 2;
  const sizeA = (transA ? k : m) * lda;
  const sizeB = (transB ? n : k) * ldb;
  const sizeC = m * ldc + 1;
  const strideA = c.shareA ? 0 : sizeA + 3;
  const a = randomArray(random, 2 + strideA * (batch - 1) + sizeA);
  const b = randomArray(random, c.bOffset + sizeB * batch);
  const out = randomArray(random, 5 + sizeC * batch);
  const expected = out.slice();

  backend.gemmStridedBatched(batch, transA, transB, m, n, k, 0.75, a, 2, lda, strideA,
    b, c.bOffset, ldb, sizeB, c.beta, out, 5, ldc, sizeC);
  for (let i = 0; i < batch; i++) {
    referenceGemm(transA, transB, m, n, k, 0.75, a, 2 + i * strideA, lda,
      b, c.bOffset + i * sizeB, ldb, c.beta, expected, 5 + i * sizeC, ldc);
  }
  assertClose(out, expected, 2e-7 * (k + 4), `strided ${JSON.stringify(c)}`);
}

test('native strided batched gemm matches the reference on one and two threads',
  withNative((backend) => {
    const random = new Random('native-gemm-strided');

    for (const threads of [1, 2]) {
      backend.setThreads(threads);
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const flags = { transA, transB, shareA: false, beta: 0, bOffset: 1 };
          // Threads share the batch (small products, disjoint C), then sequential cases.
          checkStrided(backend, random, { ...flags, batch: 300, m: 21, n: 64, k: 21 });
          checkStrided(backend, random, { ...flags, batch: 37, m: 5, n: 3, k: 9, shareA: true,
            beta: 1 });
          checkStrided(backend, random, { ...flags, batch: 3, m: 67, n: 45, k: 129,
            beta: -0.5 });
          // Odd sizes shared over threads, with beta != 0 and B at two alignments.
          for (const bOffset of [0, 3]) {
            checkStrided(backend, random, { ...flags, batch: 150, m: 13, n: 37, k: 19, bOffset,
              beta: 0.5 });
          }
        }
      }
    }
  }));

test('native strided batched gemm with overlapping C accumulates in order',
  withNative((backend) => {
    // strideC = 0: every product adds into the same 16 x 16 block (beta = 1), so the result is
    // the sum of the products whatever the thread count (a parallel run would lose updates).
    backend.setThreads(2);
    const batch = 2000;
    const size = 16 * 16;
    const a = new Float32Array(size * batch).fill(1);
    const b = new Float32Array(size * batch).fill(0.5);
    const c = new Float32Array(size);

    backend.gemmStridedBatched(batch, false, false, 16, 16, 16, 1, a, 0, 16, size,
      b, 0, 16, size, 1, c, 0, 16, 0);
    assert.deepEqual(Array.from(new Set(c)), [8 * batch]);
    assert.throws(() => backend.gemmStridedBatched(batch, false, false, 16, 16, 16, 1,
      a, 0, 16, size, b, 0, 16, size + 1, 1, c, 0, 16, 0),
    /B \(16 x 16, ld 16, offset 0, 2000 blocks\)/);
  }));

/** Products sized like per-degree blocks of a spectral product, packed one after another. */
function degreeProducts(random: Random, degrees: number, copies: number) {
  const products: GemmProduct[] = [];
  let aLength = 0;
  let bLength = 0;
  let cLength = 0;
  for (let copy = 0; copy < copies; copy++) {
    for (let l = 0; l < degrees; l++) {
      const d = 2 * l + 1;
      const transA = random.int(2) === 1;
      const transB = random.int(2) === 1;
      const [m, n, k] = [3 * d, 2 * d, 4 * d];
      const lda = (transA ? m : k) + random.int(3);
      const ldb = (transB ? k : n) + random.int(3);
      const ldc = n + random.int(3);
      products.push({ transA, transB, m, n, k, aOffset: aLength, lda, bOffset: bLength, ldb,
        cOffset: cLength, ldc });
      aLength += (transA ? k : m) * lda;
      bLength += (transB ? n : k) * ldb;
      cLength += m * ldc;
    }
  }
  return { products, aLength, bLength, cLength };
}

test('native grouped gemm matches the reference for uneven products',
  withNative((backend) => {
    const random = new Random('native-gemm-grouped');

    for (const threads of [1, 2]) {
      backend.setThreads(threads);
      // Degrees 0..23 include large products (run in order on OpenBLAS); 0..7 repeated are all
      // small and run in parallel shares on two threads.
      for (const [degrees, copies] of [[24, 1], [8, 10]]) {
        const { products, aLength, bLength, cLength } = degreeProducts(random, degrees, copies);
        const table = groupedGemmTable(products);
        assert.equal(table.length, products.length * GROUPED_GEMM_FIELDS);

        const a = randomArray(random, aLength);
        const b = randomArray(random, bLength);
        const out = randomArray(random, cLength);
        const expected = out.slice();
        backend.gemmGrouped(table, products.length, -1.25, a, b, 0.5, out);
        for (const p of products) {
          referenceGemm(p.transA, p.transB, p.m, p.n, p.k, -1.25, a, p.aOffset, p.lda,
            b, p.bOffset, p.ldb, 0.5, expected, p.cOffset, p.ldc);
        }
        const what = `grouped ${degrees} x ${copies}, ${threads} threads`;
        assertClose(out, expected, 2e-7 * 200, what);
      }
    }
  }));

test('native grouped gemm rejects a product outside its array',
  withNative((backend) => {
    const product: GemmProduct = { transA: false, transB: false, m: 2, n: 2, k: 2,
      aOffset: 0, lda: 2, bOffset: 1, ldb: 2, cOffset: 0, ldc: 2 };
    const table = groupedGemmTable([product, product]);
    const four = new Float32Array(4);

    assert.throws(() => backend.gemmGrouped(table, 2, 1, four, four, 0, four),
      /grouped product 0/);
    assert.throws(() => backend.gemmGrouped(table, 3, 1, four, four, 0, four), RangeError);
    assert.throws(() => groupedGemmTable([{ ...product, m: 2 ** 31 }]), RangeError);
  }));
