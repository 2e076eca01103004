import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import {
  FASHION_MNIST_FOLDER,
  loadEmbeddedMnist,
  loadFashionMnist,
  sourceFingerprint,
  validateSource,
  type ImageSource,
} from '../../src/data/sources.js';
import { UserError } from '../../src/util/errors.js';

const digitsFolder = path.join(
  path.dirname(createRequire(import.meta.url).resolve('mnist/package.json')),
  'src',
  'digits',
);

describe('loadEmbeddedMnist', () => {
  const source = loadEmbeddedMnist();

  it('splits the 10,000 digits 85/15 per digit into 8,499 training and 1,501 test images', () => {
    assert.equal(source.train.count + source.test.count, 10000);
    assert.equal(source.test.count, 1501);
    assert.equal(source.train.images.length, source.train.count * 784);
    assert.equal(source.test.images.length, source.test.count * 784);
    assert.equal(loadEmbeddedMnist(), source, 'the parsed result is cached');
  });

  it('interleaves the digits round-robin, so that prefixes are balanced', () => {
    assert.deepEqual(Array.from(source.test.labels.subarray(0, 20)),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const counts = new Array(10).fill(0);
    for (const label of source.test.labels.subarray(0, 1000)) counts[label]++;
    assert.deepEqual(counts, new Array(10).fill(100));
  });

  it('converts the JSON floats by round(255 v) and keeps file order within each digit', () => {
    const sevens = (JSON.parse(fs.readFileSync(path.join(digitsFolder, '7.json'), 'utf8')) as {
      data: number[];
    }).data;
    const count = sevens.length / 784;
    const testCount = Math.round(0.15 * count);
    // Training image 7 is digit 7's first image; test image 7 its first test image.
    const expectTrain = sevens.slice(0, 784).map((v) => Math.round(255 * v));
    const first = (count - testCount) * 784;
    const expectTest = sevens.slice(first, first + 784).map((v) => Math.round(255 * v));
    assert.deepEqual(Array.from(source.train.images.subarray(7 * 784, 8 * 784)), expectTrain);
    assert.deepEqual(Array.from(source.test.images.subarray(7 * 784, 8 * 784)), expectTest);
    assert.ok(expectTrain.some((v) => v === 255) || expectTrain.some((v) => v > 250));
  });

  it('has a stable content fingerprint that changes when one pixel changes', () => {
    const fingerprint = sourceFingerprint(source);
    assert.match(fingerprint, /^[0-9a-f]{16}$/);
    const copy: ImageSource = {
      ...source,
      test: { ...source.test, images: source.test.images.slice() },
    };
    assert.equal(sourceFingerprint(copy), fingerprint);
    copy.test.images[500] ^= 1;
    const edited: ImageSource = { ...copy };
    assert.notEqual(sourceFingerprint(edited), fingerprint);
  });
});

describe('validateSource', () => {
  it('rejects inconsistent lengths and out-of-range labels', () => {
    const source: ImageSource = {
      name: 'toy',
      width: 2,
      height: 2,
      classNames: ['a', 'b'],
      train: { images: new Uint8Array(8), labels: Uint8Array.of(0, 1), count: 2 },
      test: { images: new Uint8Array(4), labels: Uint8Array.of(2), count: 1 },
    };
    assert.throws(() => validateSource(source), (e: unknown) =>
      e instanceof UserError && /toy test: label 2 at index 0/.test(e.message));
    source.test.labels[0] = 1;
    validateSource(source);
    source.train.count = 3;
    assert.throws(() => validateSource(source), (e: unknown) =>
      e instanceof UserError
        && /toy train: 8 pixels and 2 labels; expected 12 and 3/.test(e.message));
  });
});

describe('loadFashionMnist', () => {
  const installed = fs.existsSync(path.join(FASHION_MNIST_FOLDER, 't10k-labels-idx1-ubyte.gz'));

  const skip = !installed && 'not installed';
  it('reads the Debian package dataset-fashion-mnist', { skip }, () => {
    const source = loadFashionMnist();
    assert.equal(source.name, 'fashion-mnist');
    assert.equal(source.train.count, 60000);
    assert.equal(source.test.count, 10000);
    assert.equal(source.classNames[9], 'Ankle boot');
    // The first test item of Fashion-MNIST is an ankle boot (label 9), the second a pullover.
    assert.deepEqual(Array.from(source.test.labels.subarray(0, 2)), [9, 2]);
    assert.equal(loadFashionMnist(), source, 'cached by folder and file stamps');
  });
});
