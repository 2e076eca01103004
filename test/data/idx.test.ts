import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import * as zlib from 'node:zlib';

import { decodeIdx, encodeIdx, loadIdxImageSet, readIdx } from '../../src/data/idx.js';
import { loadFashionMnist, loadMnistIdx } from '../../src/data/sources.js';
import { UserError } from '../../src/util/errors.js';

const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'equisphere-idx-'));
after(() => fs.rmSync(folder, { recursive: true, force: true }));

function write(name: string, bytes: Uint8Array): string {
  const filePath = path.join(folder, name);
  fs.writeFileSync(filePath, bytes);
  return filePath;
}

/** Asserts that fn throws a UserError whose one-line message matches every pattern. */
function assertUserError(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof UserError, `expected UserError, got ${String(error)}`);
    assert.ok(!error.message.includes('\n'), 'message must be one line');
    for (const pattern of patterns) assert.match(error.message, pattern);
    return true;
  });
}

function ramp(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 7) % 256);
}

describe('readIdx', () => {
  const dims = [3, 28, 28];
  const data = ramp(3 * 28 * 28);

  it('reads a plain file: big-endian dims and the bytes after the header', () => {
    const bytes = encodeIdx(dims, data);
    assert.deepEqual(Array.from(bytes.subarray(0, 8)), [0, 0, 8, 3, 0, 0, 0, 3]);
    const result = readIdx(write('plain-idx3-ubyte', bytes));
    assert.deepEqual(result.dims, dims);
    assert.deepEqual(result.data, data);
  });

  it('reads a gzip file, recognised by its magic bytes whatever its name', () => {
    const gz = zlib.gzipSync(encodeIdx(dims, data));
    const result = readIdx(write('compressed-without-suffix', gz));
    assert.deepEqual(result.dims, dims);
    assert.deepEqual(result.data, data);
  });

  it('rejects a wrong magic number, naming the file and what was found', () => {
    const bytes = encodeIdx(dims, data);
    bytes[0] = 0x12;
    const filePath = write('bad-magic', bytes);
    assertUserError(() => readIdx(filePath), /bad-magic/, /magic number 0x12000803/, /0x0000/);
  });

  it('rejects element types other than unsigned byte', () => {
    const bytes = encodeIdx(dims, data);
    bytes[2] = 0x0d;
    const filePath = write('float-idx', bytes);
    assertUserError(() => readIdx(filePath), /float-idx/, /0x0d \(float32\)/, /expected 0x08/);
  });

  it('rejects truncated data and truncated headers', () => {
    const bytes = encodeIdx(dims, data);
    const shortData = write('short-data', bytes.subarray(0, bytes.length - 5));
    assertUserError(() => readIdx(shortData),
      /short-data/, /found 2347 data bytes/, /expected 2352/);
    const shortHeader = write('short-header', bytes.subarray(0, 9));
    assertUserError(() => readIdx(shortHeader), /short-header/, /truncated IDX header/, /16/);
    const tiny = write('tiny', bytes.subarray(0, 2));
    assertUserError(() => readIdx(tiny), /tiny/, /found 2 bytes/);
  });

  it('rejects a truncated gzip stream as a gunzip failure', () => {
    const gz = zlib.gzipSync(encodeIdx(dims, data));
    const filePath = write('cut.gz', gz.subarray(0, gz.length - 20));
    assertUserError(() => readIdx(filePath), /cut\.gz/, /gunzip failed/);
  });

  it('rejects a missing file', () => {
    assertUserError(() => readIdx(path.join(folder, 'absent')), /absent/, /not found/);
  });

  it('decodes a zero-dimensional header with one element', () => {
    assert.deepEqual(decodeIdx(Uint8Array.of(0, 0, 8, 0, 42), 'scalar').data, Uint8Array.of(42));
  });
});

describe('loadIdxImageSet', () => {
  const images = ramp(4 * 28 * 28);
  const labels = Uint8Array.of(3, 1, 4, 1);

  it('pairs images and labels', () => {
    const set = loadIdxImageSet(
      write('i4', encodeIdx([4, 28, 28], images)),
      write('l4', encodeIdx([4], labels)),
    );
    assert.equal(set.count, 4);
    assert.deepEqual(set.labels, labels);
    assert.deepEqual(set.images, images);
  });

  it('rejects counts that disagree, wrong image sizes and labels above 9', () => {
    const imagesPath = write('i4b', encodeIdx([4, 28, 28], images));
    const threeLabels = write('l3', encodeIdx([3], labels.subarray(0, 3)));
    assertUserError(() => loadIdxImageSet(imagesPath, threeLabels), /l3/, /3 labels for 4 images/);
    const small = write('i-small', encodeIdx([4, 14, 56], images));
    assertUserError(
      () => loadIdxImageSet(small, write('l4b', encodeIdx([4], labels))),
      /i-small/,
      /\[4, 14, 56\]/,
      /\[count, 28, 28\]/,
    );
    const badLabels = write('l-bad', encodeIdx([4], Uint8Array.of(1, 2, 10, 3)));
    assertUserError(() => loadIdxImageSet(imagesPath, badLabels), /l-bad/, /label 10 at index 2/);
  });
});

describe('IDX folders', () => {
  it('loadMnistIdx reads the four standard files, plain or .gz', () => {
    const mnist = path.join(folder, 'mnist');
    fs.mkdirSync(mnist);
    const trainImages = ramp(5 * 784);
    fs.writeFileSync(path.join(mnist, 'train-images-idx3-ubyte.gz'),
      zlib.gzipSync(encodeIdx([5, 28, 28], trainImages)));
    fs.writeFileSync(path.join(mnist, 'train-labels-idx1-ubyte'),
      encodeIdx([5], Uint8Array.of(0, 1, 2, 3, 4)));
    fs.writeFileSync(path.join(mnist, 't10k-images-idx3-ubyte'),
      encodeIdx([2, 28, 28], ramp(2 * 784)));
    fs.writeFileSync(path.join(mnist, 't10k-labels-idx1-ubyte.gz'),
      zlib.gzipSync(encodeIdx([2], Uint8Array.of(9, 8))));

    const source = loadMnistIdx(mnist);
    assert.equal(source.name, 'mnist');
    assert.equal(source.train.count, 5);
    assert.equal(source.test.count, 2);
    assert.deepEqual(source.train.images, trainImages);
    assert.deepEqual(Array.from(source.test.labels), [9, 8]);
  });

  it('a missing file names it; for Fashion-MNIST the message says how to install it', () => {
    const empty = path.join(folder, 'empty');
    fs.mkdirSync(empty);
    assertUserError(() => loadMnistIdx(empty), /train-images-idx3-ubyte\[\.gz\] not found/);
    assertUserError(
      () => loadFashionMnist(empty),
      /not found/,
      /apt-get install dataset-fashion-mnist/,
      /pass a folder/,
    );
  });
});
