import assert from 'node:assert/strict';
import { test } from 'node:test';

import { activeBackend, useBackend } from '../../src/engine/kernels/index.js';
import { loadNativeBackend } from '../../src/engine/kernels/native.js';
import type { NativeBackend } from '../../src/engine/kernels/native.js';
import { foldBlocks, unfoldBlocks } from '../../src/harmonic/fold.js';
import { so3CoefficientCount } from '../../src/harmonic/indexing.js';
import type { Spectrum } from '../../src/harmonic/indexing.js';
import {
  so3Forward, so3ForwardAdjoint, so3Inverse, so3InverseAdjoint,
} from '../../src/harmonic/so3-transform.js';
import {
  nativeLoops, ringWeights, setChunkElements, setNativeLoops,
} from '../../src/harmonic/tables.js';
import { Random } from '../../src/util/random.js';
import { randomArray, randomSpectrum } from './helpers.js';

/*
 * The C twins of the SO(3) transforms' regrouping loops (native/equisphere_blas.c) against the
 * TypeScript loops: both compute in double and round once per stored value, so the transforms
 * must agree bit for bit with the loops on and off (same products on the native backend), on odd
 * bandwidths, one and several signals, chunked batches, and one and two threads. Skipped, with
 * the reason, when the addon was not built.
 */

let reason = '';
const native = loadNativeBackend({ onUnavailable: (why) => { reason = why; } });

/** Runs `body` on the native backend with its harmonic loops, or skips saying why not. */
function withNative(body: (backend: NativeBackend) => void) {
  return (t: { skip(message: string): void }) => {
    if (native === null || native.harmonic === undefined) {
      t.skip(native === null ? reason : 'the addon predates the harmonic loops');
      return;
    }
    const previous = activeBackend();
    const threads = native.threads();
    useBackend(native);
    try {
      body(native);
    } finally {
      setNativeLoops(true);
      native.setThreads(threads);
      useBackend(previous);
    }
  };
}

/** Index of the first differing value, or -1 when the arrays are identical (NaN-free). */
function firstDifference(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

function assertSame(actual: Float32Array, expected: Float32Array, what: string): void {
  const at = firstDifference(actual, expected);
  assert.equal(at, -1, `${what}: value ${at} is ${actual[at]}, TypeScript gives ${expected[at]}`);
}

type Results = { spectra: Spectrum<Float32Array>[]; grids: Float32Array[] };

/** All four SO(3) transforms of one grid and one spectrum. */
function allTransforms(grid: Float32Array, spectrum: Spectrum<Float32Array>, S: number,
  b: number, L: number): Results {
  return {
    spectra: [so3Forward(grid, S, b, L), so3InverseAdjoint(grid, S, L, b)],
    grids: [so3Inverse(spectrum, S, L, b), so3ForwardAdjoint(spectrum, S, b, L)],
  };
}

function compareLoops(random: Random, S: number, b: number, L: number): void {
  assert.notEqual(nativeLoops(new Float32Array(1)), null, 'the transforms would not use C');
  const grid = randomArray(Float32Array, S * (2 * b) ** 3, random);
  const spectrum = randomSpectrum(Float32Array, so3CoefficientCount(L), S, random);
  setNativeLoops(false);
  const expected = allTransforms(grid, spectrum, S, b, L);
  setNativeLoops(true);
  const actual = allTransforms(grid, spectrum, S, b, L);
  const names = ['so3Forward', 'so3InverseAdjoint', 'so3Inverse', 'so3ForwardAdjoint'];
  const where = `S=${S} b=${b} L=${L}`;
  actual.spectra.forEach((value, i) => {
    assertSame(value.re, expected.spectra[i].re, `${names[i]} re, ${where}`);
    assertSame(value.im, expected.spectra[i].im, `${names[i]} im, ${where}`);
  });
  actual.grids.forEach((value, i) => {
    assertSame(value, expected.grids[i], `${names[2 + i]}, ${where}`);
  });
}

test('SO(3) transforms with the C loops equal the TypeScript loops bit for bit',
  withNative((backend) => {
    const random = new Random('native-loops-small');
    backend.setThreads(1);
    for (const b of [1, 2, 3, 5, 7, 8]) {
      for (const L of new Set([1, Math.ceil(b / 2), b])) {
        for (const S of [1, 3]) compareLoops(random, S, b, L);
      }
    }
  }));

test('the C loops agree on two threads, on chunked batches and at a large bandwidth',
  withNative((backend) => {
    const random = new Random('native-loops-large');
    backend.setThreads(2);
    // 7 signals at b = 17 move more values than the threshold of the threaded passes.
    compareLoops(random, 7, 17, 13);
    compareLoops(random, 2, 5, 4);
    const previous = setChunkElements(2 * 10 ** 3);
    try {
      compareLoops(random, 5, 5, 5);
      compareLoops(random, 5, 5, 3);
    } finally {
      setChunkElements(previous);
    }
  }));

test('C foldBlocks and unfoldBlocks equal fold.ts at offsets, with and without weights',
  withNative((backend) => {
    const loops = backend.harmonic!;
    const random = new Random('native-fold');
    for (const b of [1, 2, 3, 6, 7]) {
      const nb = 2 * b;
      const e = b + 1;
      const o = b - 1;
      const rings = 3 * nb + 1;
      const offset = 5;
      const src = randomArray(Float32Array, offset + rings * nb * nb, random);
      const sizes = [e * e, e * o, o * e, o * o].map((size) => size * rings);
      const ours = sizes.map((size) => new Float32Array(size).fill(Number.NaN));
      const theirs = sizes.map((size) => new Float32Array(size));
      loops.foldBlocks(src, offset, rings, b, ours[0], ours[1], ours[2], ours[3]);
      foldBlocks(src, offset, rings, b,
        { evenEven: theirs[0], evenOdd: theirs[1], oddEven: theirs[2], oddOdd: theirs[3] });
      ours.forEach((part, i) => assertSame(part, theirs[i], `fold part ${i}, b=${b}`));

      const parts = sizes.map((size) => randomArray(Float32Array, size, random));
      for (const ring of [null, ringWeights('so3', b)]) {
        const dstOurs = new Float32Array(offset + rings * nb * nb).fill(Number.NaN);
        const dstTheirs = new Float32Array(offset + rings * nb * nb).fill(Number.NaN);
        loops.unfoldBlocks(parts[0], parts[1], parts[2], parts[3], rings, b, dstOurs, offset,
          ring);
        unfoldBlocks({ cos: parts[0], sin: parts[1] }, { cos: parts[2], sin: parts[3] }, rings,
          b, dstTheirs, offset, ring === null ? () => 1 : (t) => ring[t % nb]);
        assertSame(dstOurs, dstTheirs, `unfold, b=${b}, weights ${ring !== null}`);
        assert.ok(Number.isNaN(dstOurs[offset - 1]), 'unfold wrote before its offset');
      }
    }
  }));

test('the C loops reject arrays too short for the transform', withNative((backend) => {
  const loops = backend.harmonic!;
  const b = 3;
  const rings = 2;
  const part = new Float32Array(16 * rings);
  assert.throws(() => loops.foldBlocks(new Float32Array(rings * 36 - 1), 0, rings, b, part,
    part, part, part), RangeError);
  assert.throws(() => loops.foldBlocks(new Float32Array(rings * 36), 1, rings, b, part, part,
    part, part), RangeError);
  assert.throws(() => loops.unfoldBlocks(part, part, part, part, rings, b,
    new Float32Array(rings * 36), 0, new Float64Array(5)), RangeError);
  assert.throws(() => loops.scatterGroups(new Float32Array(10), 3, 1, 0, 1, false,
    new Float32Array(35), new Float32Array(35)), RangeError);
  const positions = new Int32Array(15).fill(15);
  assert.throws(() => loops.gatherPairs(part, part, part, part, null, 3, 6, 1, positions,
    new Float32Array(1000), 12), RangeError);
}));

test('an output array given to the SO(3) transforms is overwritten with the fresh result',
  () => {
    const random = new Random('so3-out');
    const b = 4;
    const L = 3;
    const S = 2;
    const grid = randomArray(Float32Array, S * (2 * b) ** 3, random);
    const spectrum = randomSpectrum(Float32Array, so3CoefficientCount(L), S, random);
    const count = so3CoefficientCount(L) * S;
    const garbage = (n: number): Float32Array => new Float32Array(n).fill(Number.NaN);

    const spectrumOut = { re: garbage(count), im: garbage(count) };
    assert.equal(so3Forward(grid, S, b, L, spectrumOut), spectrumOut);
    assert.deepEqual(spectrumOut, so3Forward(grid, S, b, L));
    assert.equal(so3InverseAdjoint(grid, S, L, b, spectrumOut), spectrumOut);
    assert.deepEqual(spectrumOut, so3InverseAdjoint(grid, S, L, b));
    const gridOut = garbage(S * (2 * b) ** 3);
    assert.equal(so3Inverse(spectrum, S, L, b, gridOut), gridOut);
    assert.deepEqual(gridOut, so3Inverse(spectrum, S, L, b));
    assert.equal(so3ForwardAdjoint(spectrum, S, b, L, gridOut), gridOut);
    assert.deepEqual(gridOut, so3ForwardAdjoint(spectrum, S, b, L));

    assert.throws(() => so3Inverse(spectrum, S, L, b, garbage(7)), RangeError);
    assert.throws(() => so3Forward(grid, S, b, L, { re: garbage(count), im: garbage(1) }),
      RangeError);
    const wrongType = { re: new Float64Array(count), im: new Float64Array(count) };
    assert.throws(() => so3Forward(grid, S, b, L,
      wrongType as unknown as Spectrum<Float32Array>), RangeError);
  });

test('adviseHugePages leaves a fresh array zero and usable, and rejects non-arrays',
  withNative((backend) => {
    const loops = backend.harmonic!;
    for (const length of [0, 1000, 3 << 20]) {
      const array = new Float32Array(length);
      assert.equal(typeof loops.adviseHugePages(array), 'boolean');
      assert.equal(array.findIndex((value) => value !== 0), -1);
      array.fill(2.5);
      assert.equal(array.reduce((sum, value) => sum + value, 0), 2.5 * length);
    }
    // Below 2 MB there is no whole huge page to advise.
    assert.equal(loops.adviseHugePages(new Float64Array(1000)), false);
    assert.throws(() => loops.adviseHugePages([1, 2] as unknown as Float32Array), TypeError);
  }));
