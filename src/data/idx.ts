import * as fs from 'node:fs';
import * as zlib from 'node:zlib';

import { UserError } from '../util/errors.js';

/**
 * Reader for the IDX format of the MNIST family (LeCun, Cortes and Burges), plain or gzip.
 *
 * Layout (all integers big-endian):
 *   bytes 0-1   0x00 0x00
 *   byte  2     element type (0x08 unsigned byte; 0x09 int8, 0x0B int16, 0x0C int32,
 *               0x0D float32, 0x0E float64 exist but are not used by MNIST and are rejected here)
 *   byte  3     number of dimensions d
 *   4 .. 4+4d   the d sizes as uint32
 *   then        the elements, row-major (last dimension fastest)
 *
 * A gzip file is recognised by its magic bytes 0x1f 0x8b, not by its name.
 */

/** An IDX array of unsigned bytes: `data` holds prod(dims) elements, row-major. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** An MNIST-style set of 28x28 images with one label each. */
export interface IdxImageSet {
  /** [count, height, width] row-major, 0 = background, 255 = ink. */
  images: Uint8Array;
  /** [count], class indices. */
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
}

const IDX_UNSIGNED_BYTE = 0x08;
const IDX_TYPE_NAMES: Record<number, string> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

/** Width and height of MNIST and Fashion-MNIST images. */
export const MNIST_IMAGE_SIDE = 28;

/** Number of classes in MNIST and Fashion-MNIST; labels must lie in 0..9. */
export const MNIST_CLASS_COUNT = 10;

/**
 * Reads an IDX file of unsigned bytes (plain or gzip-compressed). Throws UserError, naming the
 * file, for a missing or unreadable file, a failed gunzip, a wrong magic number, an element type
 * other than unsigned byte, and a file shorter or longer than its header says.
 */
export function readIdx(filePath: string): IdxArray {
  let bytes = readWholeFile(filePath);

  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = zlib.gunzipSync(bytes);
    } catch (error) {
      throw new UserError(
        `${filePath}: gunzip failed (${(error as Error).message}); expected a complete gzip file`,
      );
    }
  }

  return decodeIdx(bytes, filePath);
}

/**
 * Decodes the bytes of an uncompressed IDX file; `name` only labels error messages. The returned
 * `data` is a view into `bytes`.
 */
export function decodeIdx(bytes: Uint8Array, name: string): IdxArray {
  if (bytes.length < 4) {
    throw new UserError(
      `${name}: truncated IDX file, found ${bytes.length} bytes; expected at least a 4-byte header`,
    );
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const found = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join('');
    throw new UserError(
      `${name}: wrong magic number 0x${found}; expected an IDX file starting 0x0000 ` +
        '(0x00000801 for labels, 0x00000803 for images)',
    );
  }

  const type = bytes[2];
  if (type !== IDX_UNSIGNED_BYTE) {
    const typeName = IDX_TYPE_NAMES[type] ?? 'unknown';
    throw new UserError(
      `${name}: unsupported IDX element type 0x${type.toString(16).padStart(2, '0')} ` +
        `(${typeName}); expected 0x08 (unsigned byte)`,
    );
  }

  const rank = bytes[3];
  const headerLength = 4 + 4 * rank;
  if (bytes.length < headerLength) {
    throw new UserError(
      `${name}: truncated IDX header, found ${bytes.length} bytes; expected ${headerLength} ` +
        `for ${rank} dimensions`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let elementCount = 1;
  for (let d = 0; d < rank; d++) {
    const size = view.getUint32(4 + 4 * d, false);
    dims.push(size);
    elementCount *= size;
  }

  const found = bytes.length - headerLength;
  if (found !== elementCount) {
    const what = found < elementCount ? 'truncated IDX data' : 'IDX file longer than its header';
    throw new UserError(
      `${name}: ${what}, found ${found} data bytes; expected ${elementCount} for ` +
        `dimensions [${dims.join(', ')}]`,
    );
  }

  const data = new Uint8Array(bytes.buffer, bytes.byteOffset + headerLength, elementCount);
  return { dims, data };
}

/** Encodes an unsigned-byte array as an uncompressed IDX file (the inverse of decodeIdx). */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  const elementCount = dims.reduce((product, size) => product * size, 1);
  if (elementCount !== data.length) {
    throw new RangeError(
      `encodeIdx: dims [${dims.join(', ')}] need ${elementCount} bytes, got ${data.length}`,
    );
  }
  const headerLength = 4 + 4 * dims.length;
  const bytes = new Uint8Array(headerLength + data.length);
  const view = new DataView(bytes.buffer);
  bytes[2] = IDX_UNSIGNED_BYTE;
  bytes[3] = dims.length;
  dims.forEach((size, d) => view.setUint32(4 + 4 * d, size, false));
  bytes.set(data, headerLength);
  return bytes;
}

/**
 * Reads an MNIST-style pair of IDX files: images [count, 28, 28] and labels [count] with values
 * 0..9. Throws UserError when either file is unreadable, the shapes are wrong, the counts differ
 * or a label is out of range.
 */
export function loadIdxImageSet(imagesPath: string, labelsPath: string): IdxImageSet {
  const images = readIdx(imagesPath);
  const labels = readIdx(labelsPath);

  const side = MNIST_IMAGE_SIDE;
  if (images.dims.length !== 3 || images.dims[1] !== side || images.dims[2] !== side) {
    throw new UserError(
      `${imagesPath}: images have dimensions [${images.dims.join(', ')}]; ` +
        `expected [count, ${side}, ${side}]`,
    );
  }
  if (labels.dims.length !== 1) {
    throw new UserError(
      `${labelsPath}: labels have dimensions [${labels.dims.join(', ')}]; expected [count]`,
    );
  }
  if (labels.dims[0] !== images.dims[0]) {
    throw new UserError(
      `${labelsPath}: ${labels.dims[0]} labels for ${images.dims[0]} images in ${imagesPath}; ` +
        'expected one label per image',
    );
  }
  const badIndex = labels.data.findIndex((label) => label >= MNIST_CLASS_COUNT);
  if (badIndex >= 0) {
    throw new UserError(
      `${labelsPath}: label ${labels.data[badIndex]} at index ${badIndex}; ` +
        `expected class indices 0..${MNIST_CLASS_COUNT - 1}`,
    );
  }

  return {
    images: images.data,
    labels: labels.data,
    count: images.dims[0],
    height: side,
    width: side,
  };
}

function readWholeFile(filePath: string): Uint8Array {
  try {
    return fs.readFileSync(filePath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new UserError(`${filePath}: file not found; expected an IDX file (plain or .gz)`);
    }
    const reason = code ?? (error as Error).message;
    throw new UserError(`${filePath}: cannot read (${reason}); expected a readable IDX file`);
  }
}
