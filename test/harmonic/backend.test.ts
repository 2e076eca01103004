import assert from 'node:assert/strict';
import { test } from 'node:test';

import { activeBackend, useBackend } from '../../src/engine/kernels/index.js';
import type { KernelBackend } from '../../src/engine/kernels/index.js';
import { referenceGemm } from '../../src/engine/kernels/reference.js';
import { LruCache } from '../../src/harmonic/cache.js';
import { s2CoefficientCount, so3CoefficientCount } from '../../src/harmonic/indexing.js';
import { s2Forward, s2Inverse } from '../../src/harmonic/s2-transform.js';
import { so3Forward, so3ForwardAdjoint, so3Inverse,
  so3InverseAdjoint } from '../../src/harmonic/so3-transform.js';
import { setChunkElements } from '../../src/harmonic/tables.js';
import { Random } from '../../src/util/random.js';
import { maxAbs, maxAbsDiff, randomArray, randomSpectrum } from './helpers.js';

test('float32 transforms run their products on the active backend, float64 ones do not', () => {
  let calls = 0;
  const counting: KernelBackend = {
    name: 'counting',
    gemm: (...args: Parameters<KernelBackend['gemm']>) => {
      calls++;
      referenceGemm(...args);
    },
  };
  const previous = activeBackend();
  useBackend(counting);
  try {
    const random = new Random(1);
    const b = 4;
    so3Forward(randomArray(Float64Array, 2 * (2 * b) ** 3, random), 2, b, b);
    s2Forward(randomArray(Float64Array, 2 * (2 * b) ** 2, random), 2, b, b);
    assert.equal(calls, 0);
    so3Forward(randomArray(Float32Array, 2 * (2 * b) ** 3, random), 2, b, b);
    const so3Calls = calls;
    assert.ok(so3Calls > 10, `${so3Calls} calls`);
    s2Inverse(randomSpectrum(Float32Array, s2CoefficientCount(b), 2, random), 2, b, b);
    assert.ok(calls > so3Calls);
  } finally {
    useBackend(previous);
  }
});

test('splitting the batch into chunks does not change the results', () => {
  const random = new Random(2);
  const b = 4;
  const L = 3;
  const S = 7;
  const grid = randomArray(Float64Array, S * (2 * b) ** 3, random);
  const spectrum = randomSpectrum(Float64Array, so3CoefficientCount(L), S, random);
  const s2Grid = randomArray(Float64Array, S * (2 * b) ** 2, random);
  const whole = [
    so3Forward(grid, S, b, L), so3InverseAdjoint(grid, S, L, b), s2Forward(s2Grid, S, b, L),
  ];
  const wholeGrids = [so3Inverse(spectrum, S, L, b), so3ForwardAdjoint(spectrum, S, b, L)];

  // Three signals per chunk for SO(3) (two full chunks and one of one signal), two for S2.
  const previous = setChunkElements(3 * (2 * b) ** 3);
  try {
    const parts = [so3Forward(grid, S, b, L), so3InverseAdjoint(grid, S, L, b)];
    const partGrids = [so3Inverse(spectrum, S, L, b), so3ForwardAdjoint(spectrum, S, b, L)];
    setChunkElements(2 * (2 * b) ** 2);
    parts.push(s2Forward(s2Grid, S, b, L));
    parts.forEach((part, i) => {
      assert.ok(maxAbsDiff(part.re, whole[i].re) < 1e-15);
      assert.ok(maxAbsDiff(part.im, whole[i].im) < 1e-15);
    });
    partGrids.forEach((part, i) => assert.ok(maxAbsDiff(part, wholeGrids[i]) < 1e-15));
  } finally {
    setChunkElements(previous);
  }
});

test('float32 transforms on the wasm backend agree with float64 to ~1e-6', async (t) => {
  // Loaded dynamically so that this file still runs where the wasm backend is not built.
  let backend: KernelBackend & { close(): Promise<void> };
  try {
    const wasm = await import('../../src/engine/kernels/wasm.js');
    backend = await wasm.createWasmBackend({ threads: 2 }) as unknown as typeof backend;
  } catch (error) {
    t.skip(`wasm backend unavailable: ${(error as Error).message}`);
    return;
  }
  const previous = activeBackend();
  useBackend(backend);
  try {
    const random = new Random(3);
    const b = 6;
    const L = 5;
    const S = 5;
    const grid64 = randomArray(Float64Array, S * (2 * b) ** 3, random);
    const spectrum64 = randomSpectrum(Float64Array, so3CoefficientCount(L), S, random);
    const grid32 = Float32Array.from(grid64);
    const spectrum32 = {
      re: Float32Array.from(spectrum64.re), im: Float32Array.from(spectrum64.im),
    };
    const relative = (a: ArrayLike<number>, reference: ArrayLike<number>): number =>
      maxAbsDiff(a, reference) / maxAbs(reference);

    const forward = so3Forward(grid32, S, b, L);
    const forward64 = so3Forward(grid64, S, b, L);
    const inverse = so3Inverse(spectrum32, S, L, b);
    const adjoint = so3InverseAdjoint(grid32, S, L, b);
    const adjoint64 = so3InverseAdjoint(grid64, S, L, b);
    const errors = [
      relative(forward.re, forward64.re), relative(forward.im, forward64.im),
      relative(inverse, so3Inverse(spectrum64, S, L, b)),
      relative(so3ForwardAdjoint(spectrum32, S, b, L), so3ForwardAdjoint(spectrum64, S, b, L)),
      relative(adjoint.re, adjoint64.re), relative(adjoint.im, adjoint64.im),
      relative(s2Inverse({ re: spectrum32.re.subarray(0, L * L * S),
        im: spectrum32.im.subarray(0, L * L * S) }, S, L, b),
      s2Inverse({ re: spectrum64.re.subarray(0, L * L * S),
        im: spectrum64.im.subarray(0, L * L * S) }, S, L, b)),
    ];
    t.diagnostic(`max relative error ${Math.max(...errors).toExponential(2)}`);
    assert.ok(Math.max(...errors) < 1e-5, `errors ${errors}`);
  } finally {
    useBackend(previous);
    // Its workers are unref'ed and do not keep the process alive; not awaited.
    void backend.close();
  }
});

test('the table cache evicts the least recently used entry', () => {
  const cache = new LruCache<number[]>(2, 1e9);
  let builds = 0;
  const get = (key: string): number[] => cache.get(key, () => {
    builds++;
    return [builds];
  }, () => 8);
  get('a');
  get('b');
  get('a');
  get('c');
  assert.equal(cache.size, 2);
  assert.equal(builds, 3);
  get('a');
  assert.equal(builds, 3, "'a' was used last and must still be cached");
  get('b');
  assert.equal(builds, 4, "'b' was the least recently used and must have been evicted");

  const small = new LruCache<number>(10, 20);
  small.get('x', () => 1, () => 15);
  small.get('y', () => 2, () => 15);
  assert.equal(small.size, 1, 'the byte limit evicts too, but keeps the newest entry');
  assert.equal(small.peek('y'), 2);
});
