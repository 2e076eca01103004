import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';

import {
  canvasLayout,
  datasetKey,
  generateClassificationSet,
  generateSegmentationSet,
  loadDataset,
  GenerationStopped,
  loadOrGenerate,
  loadOrGenerateAsync,
  type DatasetRequest,
  type SegmentationOptions,
} from '../../src/data/datasets.js';
import { readNpy, writeNpy } from '../../src/data/npy.js';
import { loadEmbeddedMnist, type ImageSource } from '../../src/data/sources.js';
import { gridBetas, gridPoints } from '../../src/sphere/grid.js';
import { projectImage } from '../../src/sphere/projection.js';
import { IDENTITY, rotateVector, type Matrix3 } from '../../src/sphere/rotation.js';
import { UserError } from '../../src/util/errors.js';

const mnist = loadEmbeddedMnist();
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'equisphere-datasets-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** Independent min-max normalisation to bytes, written out from the paper's description. */
function toBytes(values: Float64Array): Uint8Array {
  const min = Math.min(...values);
  const max = Math.max(...values);
  const range = max - min;
  return Uint8Array.from(values, (v) => (range > 0 ? Math.floor((255 * (v - min)) / range) : 0));
}

function rotationOf(rotations: Float64Array, i: number): Matrix3 {
  return rotations.slice(9 * i, 9 * i + 9);
}

function assertUserError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof UserError, `expected UserError, got ${String(error)}`);
    assert.match(error.message, pattern);
    return true;
  });
}

describe('generateClassificationSet', () => {
  const options = {
    source: mnist, split: 'train' as const, count: 40, bandwidth: 8, rotated: true, seed: 1,
  };

  it('gives identical bytes for the same seed and different ones for another seed', () => {
    const a = generateClassificationSet(options);
    const b = generateClassificationSet(options);
    assert.deepEqual(a.images, b.images);
    assert.deepEqual(a.labels, b.labels);
    assert.deepEqual(a.sourceIndices, b.sourceIndices);
    assert.deepEqual(a.rotations, b.rotations);
    const c = generateClassificationSet({ ...options, seed: 2 });
    assert.notDeepEqual(c.images, a.images);
    assert.notDeepEqual(c.sourceIndices, a.sourceIndices);
    assert.notDeepEqual(c.rotations, a.rotations);
  });

  it('makes a smaller count a prefix, and unrotated sets use the same images', () => {
    const big = generateClassificationSet(options);
    const small = generateClassificationSet({ ...options, count: 15 });
    assert.deepEqual(small.images, big.images.subarray(0, 15 * 256));
    const plain = generateClassificationSet({ ...options, rotated: false });
    assert.deepEqual(plain.sourceIndices, big.sourceIndices);
    for (let i = 0; i < plain.count; i++) {
      assert.deepEqual(rotationOf(plain.rotations, i), IDENTITY);
    }
  });

  it('projects each sample as the paper says: normalised projection of its image under R_i', () => {
    const set = generateClassificationSet({ ...options, count: 6 });
    const size = 4 * set.bandwidth ** 2;
    for (let i = 0; i < set.count; i++) {
      const index = set.sourceIndices[i];
      assert.equal(set.labels[i], mnist.train.labels[index]);
      const image = mnist.train.images.subarray(index * 784, (index + 1) * 784);
      const rotation = rotationOf(set.rotations, i);
      const expected = toBytes(projectImage(image, 28, 28, set.bandwidth, rotation));
      assert.deepEqual(set.images.subarray(i * size, (i + 1) * size), expected);
      assert.equal(Math.max(...expected), 255);
    }
  });

  it('draws training images with replacement and takes test images in order', () => {
    const train = generateClassificationSet({ ...options, bandwidth: 2, count: 3000 });
    const seen = new Set(train.sourceIndices);
    assert.ok(seen.size < 3000, 'some image is drawn twice');
    assert.ok(seen.size > 2000);
    assert.ok(train.sourceIndices.every((index) => index >= 0 && index < mnist.train.count));

    const testOptions = { ...options, split: 'test' as const, bandwidth: 2 };
    const test = generateClassificationSet({ ...testOptions, count: 1501 });
    assert.deepEqual(Array.from(test.sourceIndices.subarray(0, 5)), [0, 1, 2, 3, 4]);
    assert.deepEqual(Array.from(test.sourceIndices.subarray(1498, 1501)), [1498, 1499, 1500]);
    assert.deepEqual(test.labels.subarray(0, 1501), mnist.test.labels);
    // One item per sphere: more test spheres than test images would repeat images.
    assert.throws(() => generateClassificationSet({ ...testOptions, count: 1502 }),
      (error: Error) => error instanceof UserError
        && /test set size 1502 is more than the 1501 images .*at most 1501/.test(error.message));
    const all = generateClassificationSet({ ...testOptions, count: undefined });
    assert.equal(all.count, mnist.test.count);
  });
});

describe('generateSegmentationSet', () => {
  it('labels every pixel by the brightest item layer above the threshold', () => {
    const options: SegmentationOptions = {
      source: mnist,
      split: 'train',
      count: 4,
      bandwidth: 16,
      rotated: true,
      seed: 3,
      itemsPerSphere: 4,
    };
    const set = generateSegmentationSet(options);
    assert.equal(set.canvasSize, 56);
    assert.equal(set.maskClassCount, 11);
    const layout = canvasLayout(4, 56, 28, 28);
    const size = 32 * 32;
    let foreground = 0;

    for (let i = 0; i < set.count; i++) {
      // Project each item's own canvas layer independently.
      const layers = layout.offsets.map(({ row, col }, t) => {
        const canvas = new Float64Array(56 * 56);
        const index = set.sourceIndices[4 * i + t];
        for (let r = 0; r < 28; r++) {
          for (let c = 0; c < 28; c++) {
            canvas[(row + r) * 56 + col + c] = mnist.train.images[index * 784 + r * 28 + c];
          }
        }
        return projectImage(canvas, 56, 56, 16, rotationOf(set.rotations, i));
      });
      const total = Float64Array.from({ length: size }, (_, p) =>
        layers.reduce((sum, layer) => sum + layer[p], 0));
      const expectedBytes = toBytes(total);
      const image = set.images.subarray(i * size, (i + 1) * size);
      const mask = set.masks.subarray(i * size, (i + 1) * size);

      for (let p = 0; p < size; p++) {
        assert.ok(Math.abs(image[p] - expectedBytes[p]) <= 1, `sample ${i} pixel ${p} intensity`);
        const order = [0, 1, 2, 3].sort((a, b) => layers[b][p] - layers[a][p]);
        if (layers[order[0]][p] - layers[order[1]][p] < 1e-9 && image[p] > 150) continue;
        const expected = image[p] > 150 ? set.labels[4 * i + order[0]] + 1 : 0;
        assert.equal(mask[p], expected, `sample ${i} pixel ${p} class`);
        if (expected > 0) foreground++;
      }
    }
    assert.ok(foreground > 50, `only ${foreground} foreground pixels`);
  });

  it('masks a rotated sphere as the unrotated mask turned by R, except on boundary pixels', () => {
    const b = 32;
    const n = 2 * b;
    const options = { source: mnist, split: 'test' as const, count: 3, bandwidth: b, seed: 9 };
    const rotated = generateSegmentationSet({ ...options, rotated: true });
    const plain = generateSegmentationSet({ ...options, rotated: false });
    const points = gridPoints(b);
    const betas = gridBetas(b);
    let compared = 0;
    let boundary = 0;
    let mismatched = 0;

    for (let i = 0; i < options.count; i++) {
      const rotation = rotationOf(rotated.rotations, i);
      const reference = plain.masks.subarray(i * n * n, (i + 1) * n * n);
      const at = (j: number, k: number): number =>
        reference[Math.min(n - 1, Math.max(0, j)) * n + ((k + n) % n)];
      for (let p = 0; p < n * n; p++) {
        // The rotated sample at p shows the unrotated sphere at R p; take its nearest grid point.
        const [x, y, z] = rotateVector(rotation, points.subarray(3 * p, 3 * p + 3));
        const beta = Math.acos(Math.max(-1, Math.min(1, z)));
        const j = Math.min(n - 1, Math.max(0, Math.round((n * beta) / Math.PI - 0.5)));
        const alpha = (Math.atan2(y, x) + 2 * Math.PI) % (2 * Math.PI);
        const k = Math.round((b * alpha) / Math.PI) % n;
        assert.ok(Math.abs(betas[j] - beta) <= Math.PI / (2 * n) + 1e-12);
        let uniform = true;
        for (let dj = -1; dj <= 1; dj++) {
          for (let dk = -1; dk <= 1; dk++) if (at(j + dj, k + dk) !== at(j, k)) uniform = false;
        }
        if (!uniform) {
          boundary++;
          continue;
        }
        compared++;
        if (rotated.masks[i * n * n + p] !== at(j, k)) mismatched++;
      }
    }
    // Away from class boundaries only the per-sphere normalisation can flip a pixel (the rotated
    // grid sees a slightly different maximum); over 20 spheres at b = 32 to 50 that happens to
    // at most 1 pixel in 10^5.
    assert.ok(mismatched <= compared / 1000, `${mismatched} of ${compared} interior pixels differ`);
    assert.ok(boundary < compared / 5, `${boundary} boundary pixels of ${compared + boundary}`);
    const labelled = Array.from(rotated.masks).filter((v) => v > 0).length;
    assert.ok(labelled > 100, `${labelled} labelled pixels`);
  });

  it('computes masks of a rotated sphere from the rotated projection', () => {
    const set = generateSegmentationSet({
      source: mnist, split: 'test', count: 2, bandwidth: 8, rotated: true, seed: 4, threshold: 100,
    });
    for (let p = 0; p < set.images.length; p++) {
      const label = set.labels[Math.floor(p / 256)];
      assert.equal(set.masks[p], set.images[p] > 100 ? label + 1 : 0);
    }
  });
});

describe('canvasLayout', () => {
  it('places items on a grid of cells, inside the canvas, without overlap', () => {
    for (const [items, side] of [[1, 28], [4, 56], [4, 61], [2, 60], [9, 90], [5, 84]]) {
      const layout = canvasLayout(items, side, 28, 28);
      const covered = new Uint8Array(side * side);
      for (const { row, col } of layout.offsets) {
        assert.ok(row >= 0 && col >= 0 && row + 28 <= side && col + 28 <= side);
        for (let r = 0; r < 28; r++) {
          for (let c = 0; c < 28; c++) covered[(row + r) * side + col + c]++;
        }
      }
      assert.ok(covered.every((count) => count <= 1), `overlap for ${items} items on ${side}`);
    }
    assert.deepEqual(canvasLayout(4, 56, 28, 28).offsets,
      [{ row: 0, col: 0 }, { row: 0, col: 28 }, { row: 28, col: 0 }, { row: 28, col: 28 }]);
    assert.deepEqual(canvasLayout(1, 32, 28, 28).offsets, [{ row: 2, col: 2 }]);
  });

  it('rejects a canvas too small for the items', () => {
    assertUserError(() => canvasLayout(4, 55, 28, 28),
      /canvasSize 55 is too small for 4 items.*at least 56/);
    assertUserError(
      () => generateSegmentationSet({
        source: mnist, split: 'test', count: 1, bandwidth: 4, rotated: false, seed: 0,
        itemsPerSphere: 4, canvasSize: 40,
      }),
      /canvasSize 40 is too small/,
    );
  });
});

describe('bad dataset parameters', () => {
  const base = {
    source: mnist, split: 'train' as const, count: 2, bandwidth: 4, rotated: false, seed: 0,
  };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ threshold: 300 }, /threshold 300; expected a number from 0 to 255/],
    [{ threshold: -1 }, /threshold -1/],
    [{ bandwidth: 0 }, /bandwidth 0 is not valid/],
    [{ bandwidth: 2.5 }, /bandwidth 2.5 is not valid; expected an integer/],
    [{ count: 0 }, /count 0 is not valid/],
    [{ seed: -3 }, /seed -3 is not valid/],
    [{ split: 'validation' }, /split 'validation' is not valid; expected 'train' or 'test'/],
    [{ itemsPerSphere: 0 }, /itemsPerSphere 0 is not valid/],
    [{ rotated: 'yes' }, /rotated is yes; expected true or false/],
  ];
  for (const [change, pattern] of cases) {
    it(`rejects ${JSON.stringify(change)}`, () => {
      const options = { ...base, ...change } as SegmentationOptions;
      assertUserError(() => generateSegmentationSet(options), pattern);
    });
  }
});

describe('loadOrGenerate', () => {
  const request: DatasetRequest = {
    task: 'segmentation',
    source: mnist,
    split: 'test',
    count: 12,
    bandwidth: 4,
    rotated: true,
    seed: 5,
  };

  it('writes numpy files and meta.json, then reuses the same folder', () => {
    const cache = path.join(scratch, 'reuse');
    const progress: [number, number][] = [];
    const first = loadOrGenerate(cache, request, (done, total) => progress.push([done, total]));
    assert.equal(first.reused, false);
    assert.deepEqual(progress.at(-1), [12, 12]);
    assert.ok(progress.every(([done], i) => i === 0 || done > progress[i - 1][0]));
    assert.deepEqual(fs.readdirSync(cache), [path.basename(first.folder)]);
    assert.deepEqual(fs.readdirSync(first.folder).sort(),
      ['images.npy', 'labels.npy', 'masks.npy', 'meta.json', 'rotations.npy',
        'source_indices.npy']);
    assert.deepEqual(readNpy(path.join(first.folder, 'images.npy')).shape, [12, 8, 8]);
    assert.deepEqual(readNpy(path.join(first.folder, 'labels.npy')).shape, [12, 1]);

    const memory = generateSegmentationSet(request);
    assert.deepEqual(first.images, memory.images);
    assert.deepEqual(first.masks, memory.masks);
    assert.deepEqual(first.rotations, memory.rotations);

    let called = false;
    const second = loadOrGenerate(cache, request, () => { called = true; });
    assert.equal(second.reused, true);
    assert.equal(called, false);
    assert.equal(second.folder, first.folder);
    assert.deepEqual(second.masks, first.masks);
    assert.equal(second.task, 'segmentation');

    const classification = loadOrGenerate(cache, { ...request, task: 'classification' });
    assert.notEqual(classification.folder, first.folder);
    assert.deepEqual(readNpy(path.join(classification.folder, 'labels.npy')).shape, [12]);
  });

  it('changes the cache key with every parameter', () => {
    const edited: ImageSource = {
      ...mnist,
      test: { ...mnist.test, images: mnist.test.images.slice() },
    };
    edited.test.images[0] ^= 1;
    const variants: DatasetRequest[] = [
      request,
      { ...request, task: 'classification' },
      { ...request, source: edited },
      { ...request, source: { ...mnist, name: 'other' } },
      { ...request, split: 'train' },
      { ...request, count: 13 },
      { ...request, bandwidth: 5 },
      { ...request, rotated: false },
      { ...request, seed: 6 },
      { ...request, itemsPerSphere: 4 },
      { ...request, canvasSize: 30 },
      { ...request, threshold: 151 },
    ];
    const keys = variants.map((variant) => datasetKey(variant));
    assert.equal(new Set(keys).size, variants.length);
    assert.equal(datasetKey({ ...request }), keys[0]);
    assert.equal(datasetKey({ ...request, threshold: 150 }), keys[0], 'defaults are filled in');
  });

  it('leaves nothing behind when generation is interrupted, and cleans stale temporaries', () => {
    const cache = path.join(scratch, 'interrupted');
    assert.throws(() => loadOrGenerate(cache, request, (done) => {
      if (done === 6) throw new Error('interrupted');
    }), /interrupted/);
    assert.deepEqual(fs.readdirSync(cache), []);

    const done = loadOrGenerate(cache, request);
    const name = path.basename(done.folder);
    fs.rmSync(done.folder, { recursive: true });
    const stale = path.join(cache, `.tmp-${name}-999999999-1`);
    fs.mkdirSync(stale);
    fs.writeFileSync(path.join(stale, 'images.npy'), 'half');
    loadOrGenerate(cache, request);
    assert.deepEqual(fs.readdirSync(cache), [name]);
  });

  it('rejects a folder whose masks and images differ in shape when loading it', () => {
    const cache = path.join(scratch, 'corrupt');
    const set = loadOrGenerate(cache, request);
    writeNpy(path.join(set.folder, 'masks.npy'), new Uint8Array(12 * 8 * 9), [12, 8, 9]);
    assertUserError(() => loadDataset(set.folder),
      /masks\.npy: masks of shape \(12, 8, 9\) but images of shape \(12, 8, 8\)/);
    assertUserError(() => loadOrGenerate(cache, request),
      /expected masks and images of the same shape/);
  });
});

describe('loadOrGenerateAsync', () => {
  it('stops when asked, removes its temporary folder and keeps nothing', async () => {
    const cache = path.join(scratch, 'async-stop');
    const request: DatasetRequest = {
      task: 'classification', source: mnist, split: 'train', count: 100000, bandwidth: 8,
      rotated: true, seed: 2,
    };
    let polls = 0;
    await assert.rejects(loadOrGenerateAsync(cache, request, { shouldStop: () => ++polls >= 1 }),
      GenerationStopped);
    assert.equal(polls, 1);
    assert.deepEqual(fs.readdirSync(cache), []);
    const set = await loadOrGenerateAsync(cache, { ...request, count: 3, bandwidth: 4 });
    assert.equal(set.count, 3);
    assert.equal(set.reused, false);
  });
});
