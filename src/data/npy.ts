import * as fs from 'node:fs';
import * as path from 'node:path';

import { UserError } from '../util/errors.js';
import { ensureWritableFolder } from '../util/files.js';

/**
 * NumPy .npy files (format version 1.0 written; 1.0 and 2.0 read), for C-ordered little-endian
 * arrays of uint8, int32, float32 or float64. Such a file opens in Python with
 * `np.load('images.npy')`.
 *
 * Layout: the 6 bytes "\x93NUMPY", the version bytes 1 0, the header length as uint16 LE (uint32
 * for version 2.0), an ASCII header dict such as
 *   {'descr': '|u1', 'fortran_order': False, 'shape': (100, 60, 60), }
 * padded with spaces and a final newline so that the data start at a multiple of 64 bytes, then the
 * raw elements.
 *
 * Files are read and written in chunks, so arrays larger than 2 GB work up to the 4 GB limit of one
 * typed array; readNpyRows reads part of a larger file.
 */

export type NpyDtype = 'uint8' | 'int32' | 'float32' | 'float64';
export type NpyData = Uint8Array | Int32Array | Float32Array | Float64Array;

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: NpyData;
}

/** Shape, dtype and where the data start in a .npy file. */
export interface NpyHeader {
  dtype: NpyDtype;
  shape: number[];
  dataOffset: number;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const ALIGNMENT = 64;
const CHUNK_BYTES = 1 << 26;

const DESCRIPTORS: Record<NpyDtype, string> = {
  uint8: '|u1',
  int32: '<i4',
  float32: '<f4',
  float64: '<f8',
};
const BYTES_PER_ELEMENT: Record<NpyDtype, number> = { uint8: 1, int32: 4, float32: 4, float64: 8 };
const DTYPE_OF_DESCRIPTOR: Record<string, NpyDtype> = {
  '|u1': 'uint8',
  '<u1': 'uint8',
  u1: 'uint8',
  '<i4': 'int32',
  '<f4': 'float32',
  '<f8': 'float64',
};

/** The dtype of a typed array. */
export function dtypeOf(data: NpyData): NpyDtype {
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Float32Array) return 'float32';
  return 'float64';
}

/** The bytes of a version 1.0 header for an array of `dtype` and `shape`. */
export function encodeNpyHeader(dtype: NpyDtype, shape: readonly number[]): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const descr = DESCRIPTORS[dtype];
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const unpadded = MAGIC.length + 2 + 2 + dict.length + 1;
  const total = Math.ceil(unpadded / ALIGNMENT) * ALIGNMENT;
  const text = dict + ' '.repeat(total - unpadded) + '\n';
  if (text.length > 0xffff) {
    throw new RangeError(`npy header too long for version 1.0: ${text.length}`);
  }

  const bytes = new Uint8Array(total);
  bytes.set(MAGIC, 0);
  bytes[6] = 1;
  bytes[7] = 0;
  bytes[8] = text.length & 0xff;
  bytes[9] = text.length >> 8;
  for (let i = 0; i < text.length; i++) bytes[10 + i] = text.charCodeAt(i);
  return bytes;
}

/**
 * Writes `data` with `shape` as a .npy file, atomically (a temporary file in the same folder,
 * renamed over the target). Throws RangeError if the shape does not match the length.
 */
export function writeNpy(filePath: string, data: NpyData, shape: readonly number[]): void {
  const writer = new NpyWriter(filePath, dtypeOf(data), shape);
  try {
    writer.write(data);
    writer.close();
  } catch (error) {
    writer.abort();
    throw error;
  }
}

/**
 * Streams a .npy file whose shape is known in advance: write() appends elements in C order,
 * close() checks the element count and renames the temporary file onto `filePath`; abort()
 * removes it. Writes are buffered in 64 MiB chunks.
 */
export class NpyWriter {
  readonly elementCount: number;
  private readonly temporary: string;
  private readonly fd: number;
  private readonly buffer = new Uint8Array(CHUNK_BYTES);
  private buffered = 0;
  private written = 0;
  private closed = false;

  constructor(
    readonly filePath: string,
    readonly dtype: NpyDtype,
    readonly shape: readonly number[],
  ) {
    if (shape.some((size) => !Number.isInteger(size) || size < 0)) {
      throw new RangeError(`npy shape must be non-negative integers, got (${shape.join(', ')})`);
    }
    this.elementCount = shape.reduce((product, size) => product * size, 1);
    ensureWritableFolder(path.dirname(filePath));
    this.temporary = path.join(
      path.dirname(filePath),
      `.${path.basename(filePath)}.${process.pid}.${Date.now()}.tmp`,
    );
    try {
      this.fd = fs.openSync(this.temporary, 'w');
      fs.writeSync(this.fd, encodeNpyHeader(dtype, shape));
    } catch (error) {
      throw new UserError(`cannot write ${filePath}: ${(error as Error).message}`);
    }
  }

  /** Appends elements (a typed array of this writer's dtype). */
  write(values: NpyData): void {
    if (dtypeOf(values) !== this.dtype) {
      throw new RangeError(
        `NpyWriter ${this.filePath}: got ${dtypeOf(values)}, expected ${this.dtype}`,
      );
    }
    if (this.written + values.length > this.elementCount) {
      throw new RangeError(`NpyWriter ${this.filePath}: more than ${this.elementCount} elements`);
    }
    this.written += values.length;
    let bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    while (bytes.length > 0) {
      const take = Math.min(bytes.length, this.buffer.length - this.buffered);
      this.buffer.set(bytes.subarray(0, take), this.buffered);
      this.buffered += take;
      bytes = bytes.subarray(take);
      if (this.buffered === this.buffer.length) this.flush();
    }
  }

  /** Flushes, checks that exactly prod(shape) elements were written and renames into place. */
  close(): void {
    if (this.written !== this.elementCount) {
      throw new RangeError(
        `NpyWriter ${this.filePath}: ${this.written} elements written, ` +
          `shape needs ${this.elementCount}`,
      );
    }
    this.flush();
    try {
      fs.closeSync(this.fd);
      this.closed = true;
      fs.renameSync(this.temporary, this.filePath);
    } catch (error) {
      throw new UserError(`cannot write ${this.filePath}: ${(error as Error).message}`);
    }
  }

  /** Discards the temporary file. */
  abort(): void {
    if (!this.closed) {
      fs.closeSync(this.fd);
      this.closed = true;
    }
    fs.rmSync(this.temporary, { force: true });
  }

  private flush(): void {
    let offset = 0;
    while (offset < this.buffered) {
      offset += fs.writeSync(this.fd, this.buffer, offset, this.buffered - offset);
    }
    this.buffered = 0;
  }
}

/** Reads the header of a .npy file. Throws UserError naming the file if it is not one we read. */
export function readNpyHeader(filePath: string): NpyHeader {
  const fd = openForReading(filePath);
  try {
    const prefix = new Uint8Array(12);
    const got = fs.readSync(fd, prefix, 0, 12, 0);
    if (got < 10 || MAGIC.some((byte, i) => prefix[i] !== byte)) {
      throw new UserError(
        `${filePath}: not a .npy file (bad magic); expected it to start "\\x93NUMPY"`,
      );
    }
    const major = prefix[6];
    if (major !== 1 && major !== 2) {
      throw new UserError(
        `${filePath}: .npy format version ${major}.${prefix[7]}; expected 1.0 or 2.0`,
      );
    }
    const view = new DataView(prefix.buffer);
    const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
    const headerStart = major === 1 ? 10 : 12;
    const headerBytes = new Uint8Array(headerLength);
    if (fs.readSync(fd, headerBytes, 0, headerLength, headerStart) !== headerLength) {
      throw new UserError(
        `${filePath}: truncated .npy header; expected ${headerLength} header bytes`,
      );
    }
    const text = new TextDecoder('latin1').decode(headerBytes);
    return { ...parseHeaderDict(text, filePath), dataOffset: headerStart + headerLength };
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads a whole .npy file. Throws UserError naming the file on any format problem. */
export function readNpy(filePath: string): NpyArray {
  const header = readNpyHeader(filePath);
  const rows = header.shape.length === 0 ? 1 : header.shape[0];
  return readNpyRows(filePath, 0, rows, header);
}

/**
 * Reads rows [start, start + count) along the first axis of a .npy file; the result's shape is
 * [count, ...rest]. Lets a caller stream a dataset larger than one typed array can hold.
 */
export function readNpyRows(
  filePath: string,
  start: number,
  count: number,
  header: NpyHeader = readNpyHeader(filePath),
): NpyArray {
  const { dtype, shape, dataOffset } = header;
  const rowElements = shape.slice(1).reduce((product, size) => product * size, 1);
  const totalRows = shape.length === 0 ? 1 : shape[0];
  if (!(Number.isInteger(start) && Number.isInteger(count) && start >= 0 && count >= 0)
    || start + count > totalRows) {
    throw new RangeError(
      `readNpyRows ${filePath}: rows ${start}..${start + count} of ${totalRows}`,
    );
  }
  const elementBytes = BYTES_PER_ELEMENT[dtype];
  const byteLength = count * rowElements * elementBytes;
  if (byteLength > 2 ** 32) {
    throw new UserError(
      `${filePath}: ${count} rows need ${byteLength} bytes, more than one array can hold ` +
        '(4 GiB); ' +
        'expected a smaller dataset, or read it in parts with readNpyRows',
    );
  }

  const expectedSize = dataOffset + totalRows * rowElements * elementBytes;
  const actualSize = fs.statSync(filePath).size;
  if (actualSize !== expectedSize) {
    throw new UserError(
      `${filePath}: ${actualSize} bytes; expected ${expectedSize} for shape ` +
        `(${shape.join(', ')}) ` +
        `of ${dtype}`,
    );
  }

  const bytes = new Uint8Array(byteLength);
  const fd = openForReading(filePath);
  try {
    let done = 0;
    const first = dataOffset + start * rowElements * elementBytes;
    while (done < byteLength) {
      const take = Math.min(CHUNK_BYTES, byteLength - done);
      const got = fs.readSync(fd, bytes, done, take, first + done);
      if (got <= 0) throw new UserError(`${filePath}: truncated .npy data`);
      done += got;
    }
  } finally {
    fs.closeSync(fd);
  }

  const data = typedArrayOf(dtype, bytes);
  return { dtype, shape: shape.length === 0 ? [] : [count, ...shape.slice(1)], data };
}

function typedArrayOf(dtype: NpyDtype, bytes: Uint8Array): NpyData {
  switch (dtype) {
    case 'uint8':
      return bytes;
    case 'int32':
      return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    case 'float32':
      return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    case 'float64':
      return new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
  }
}

function parseHeaderDict(text: string, filePath: string): { dtype: NpyDtype; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text);
  const shapeMatch = /'shape'\s*:\s*\(([^)]*)\)/.exec(text);
  if (descr === null || fortran === null || shapeMatch === null) {
    throw new UserError(`${filePath}: unreadable .npy header ${JSON.stringify(text.trim())}`);
  }
  const dtype = DTYPE_OF_DESCRIPTOR[descr[1]];
  if (dtype === undefined) {
    throw new UserError(
      `${filePath}: .npy dtype '${descr[1]}'; expected one of |u1, <i4, <f4, <f8`,
    );
  }
  if (fortran[1] === 'True') {
    throw new UserError(`${filePath}: Fortran-ordered .npy array; expected C order`);
  }
  const shape = shapeMatch[1]
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map((part) => Number(part.replace(/L$/, '')));
  if (shape.some((size) => !Number.isInteger(size) || size < 0)) {
    throw new UserError(
      `${filePath}: .npy shape (${shapeMatch[1]}); expected non-negative integers`,
    );
  }
  return { dtype, shape };
}

function openForReading(filePath: string): number {
  try {
    return fs.openSync(filePath, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const found = code === 'ENOENT' ? 'file not found' : `cannot read (${code})`;
    throw new UserError(`${filePath}: ${found}; expected a .npy file`);
  }
}
