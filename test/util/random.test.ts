import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Random } from '../../src/util/random.js';

test('the same seed gives the same stream, another seed another stream', () => {
  const a = new Random(42);
  const b = new Random(42);
  const c = new Random(43);
  const first = Array.from({ length: 8 }, () => a.nextUint32());
  assert.deepEqual(first, Array.from({ length: 8 }, () => b.nextUint32()));
  assert.notDeepEqual(first, Array.from({ length: 8 }, () => c.nextUint32()));
});

test('xoshiro128** known answer for a fixed state', () => {
  // The first outputs for seed 1 are pinned so that a change of generator is noticed: datasets
  // and weights keyed by seed would silently change with it.
  const random = new Random(1);
  const values = Array.from({ length: 3 }, () => random.nextUint32());
  assert.deepEqual(values, [2442144158, 3238099751, 3819917871]);
});

test('uniform, int and normal have the right moments', () => {
  const random = new Random(7);
  const n = 50000;
  let sumU = 0;
  let sumN = 0;
  let sumN2 = 0;
  const counts = new Array<number>(5).fill(0);
  for (let i = 0; i < n; i++) {
    const u = random.uniform();
    assert.ok(u >= 0 && u < 1);
    sumU += u;
    const z = random.normal();
    sumN += z;
    sumN2 += z * z;
    counts[random.int(5)] += 1;
  }
  assert.ok(Math.abs(sumU / n - 0.5) < 0.01);
  assert.ok(Math.abs(sumN / n) < 0.02);
  assert.ok(Math.abs(sumN2 / n - 1) < 0.03);
  for (const count of counts) assert.ok(Math.abs(count / n - 0.2) < 0.01);
  assert.throws(() => random.int(0), RangeError);
});

test('shuffle is a permutation', () => {
  const items = Array.from({ length: 100 }, (_, i) => i);
  new Random(9).shuffle(items);
  assert.deepEqual([...items].sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
  assert.notDeepEqual(items, Array.from({ length: 100 }, (_, i) => i));
});
