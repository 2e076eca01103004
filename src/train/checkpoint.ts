import * as fs from 'node:fs';

import { UserError } from '../util/errors.js';
import { writeFileAtomic } from '../util/files.js';

/**
 * Checkpoint files: one JSON header and the raw arrays, in a single file written atomically.
 *
 * Layout (all integers little-endian):
 *
 *   bytes 0..7    magic "EQSPHCK1"
 *   bytes 8..11   uint32 H, the length of the header in bytes
 *   bytes 12..    the header, UTF-8 JSON, padded with spaces to a multiple of 8 bytes
 *   then          the arrays back to back, each starting at a multiple of 8 bytes from the
 *                 start of the data section
 *
 * The header is `{ "format": 1, "arrays": [{ "dtype", "offset", "length" }], "content": ... }`.
 * `content` is any JSON value in which typed arrays were replaced by `{ "$array": index }` and
 * Maps by `{ "$map": [[key, value], ...] }`; `offset` counts bytes from the start of the data
 * section and `length` counts elements. dtype is "float32", "float64", "int32" or "uint32".
 */

const MAGIC = 'EQSPHCK1';
const FORMAT = 1;

type StoredArray = Float32Array | Float64Array | Int32Array | Uint32Array;

interface ArrayEntry {
  dtype: 'float32' | 'float64' | 'int32' | 'uint32';
  offset: number;
  length: number;
}

/** Encodes a value (JSON-like, with typed arrays and Maps) into checkpoint bytes. */
export function encodeCheckpoint(content: unknown): Uint8Array {
  const arrays: StoredArray[] = [];
  const tree = toTree(content, arrays);

  const entries: ArrayEntry[] = [];
  let offset = 0;
  for (const array of arrays) {
    entries.push({ dtype: dtypeOf(array), offset, length: array.length });
    offset += align8(array.byteLength);
  }
  const dataBytes = offset;

  const headerText = JSON.stringify({ format: FORMAT, arrays: entries, content: tree });
  let header = Buffer.from(headerText, 'utf8');
  const headerStart = 12;
  const padded = align8(headerStart + header.length) - headerStart;
  header = Buffer.concat([header, Buffer.alloc(padded - header.length, 0x20)]);

  const out = new Uint8Array(headerStart + header.length + dataBytes);
  out.set(Buffer.from(MAGIC, 'ascii'), 0);
  new DataView(out.buffer).setUint32(8, header.length, true);
  out.set(header, headerStart);

  const dataStart = headerStart + header.length;
  arrays.forEach((array, index) => {
    const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    out.set(littleEndianBytes(bytes, array.BYTES_PER_ELEMENT), dataStart + entries[index].offset);
  });
  return out;
}

/** Decodes bytes written by encodeCheckpoint. `source` names the file in error messages. */
export function decodeCheckpoint(bytes: Uint8Array, source = 'checkpoint'): unknown {
  const fail = (what: string): never => {
    throw new UserError(`${source} is not a valid equisphere checkpoint (${what})`);
  };
  if (bytes.length < 12) fail('file too short');
  if (Buffer.from(bytes.subarray(0, 8)).toString('ascii') !== MAGIC) fail('wrong magic bytes');

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(8, true);
  if (12 + headerLength > bytes.length) fail('header runs past the end');
  let header: { format: number; arrays: ArrayEntry[]; content: unknown };
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(12, 12 + headerLength)).toString('utf8'));
  } catch {
    return fail('header is not JSON');
  }
  if (header.format !== FORMAT) fail(`format ${header.format}, expected ${FORMAT}`);

  const dataStart = 12 + headerLength;
  const arrays = header.arrays.map((entry) => {
    const size = elementSize(entry.dtype) ?? fail(`unknown dtype ${entry.dtype}`);
    const start = dataStart + entry.offset;
    const end = start + entry.length * size;
    if (end > bytes.length) fail('array runs past the end (truncated file?)');
    const copy = littleEndianBytes(bytes.slice(start, end), size);
    return makeArray(entry.dtype, copy.buffer as ArrayBuffer, entry.length);
  });
  return fromTree(header.content, arrays, fail);
}

/** Writes `content` to `filePath` atomically (a reader never sees a half-written file). */
export function saveCheckpointFile(filePath: string, content: unknown): void {
  writeFileAtomic(filePath, encodeCheckpoint(content));
}

/** Reads a checkpoint file; a missing or damaged file is a UserError naming the path. */
export function loadCheckpointFile(filePath: string): unknown {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(filePath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new UserError(`cannot read checkpoint ${filePath} (${code})`);
  }
  return decodeCheckpoint(bytes, filePath);
}

function toTree(value: unknown, arrays: StoredArray[]): unknown {
  if (value instanceof Float32Array || value instanceof Float64Array
    || value instanceof Int32Array || value instanceof Uint32Array) {
    arrays.push(value);
    return { $array: arrays.length - 1 };
  }
  if (value instanceof Map) {
    return { $map: Array.from(value, ([k, v]) => [toTree(k, arrays), toTree(v, arrays)]) };
  }
  if (Array.isArray(value)) return value.map((item) => toTree(item, arrays));
  if (ArrayBuffer.isView(value)) {
    throw new RangeError(`checkpoint: unsupported array type ${value.constructor.name}`);
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      if (item !== undefined) out[key] = toTree(item, arrays);
    }
    return out;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) {
    return { $number: String(value) };
  }
  return value;
}

function fromTree(value: unknown, arrays: StoredArray[], fail: (what: string) => never): unknown {
  if (Array.isArray(value)) return value.map((item) => fromTree(item, arrays, fail));
  if (value === null || typeof value !== 'object') return value;

  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length === 1 && keys[0] === '$array') {
    const index = record.$array as number;
    return arrays[index] ?? fail(`missing array ${index}`);
  }
  if (keys.length === 1 && keys[0] === '$map') {
    const pairs = record.$map as Array<[unknown, unknown]>;
    return new Map(pairs.map(([k, v]) => [fromTree(k, arrays, fail), fromTree(v, arrays, fail)]));
  }
  if (keys.length === 1 && keys[0] === '$number') return Number(record.$number);
  const out: Record<string, unknown> = {};
  for (const key of keys) out[key] = fromTree(record[key], arrays, fail);
  return out;
}

function dtypeOf(array: StoredArray): ArrayEntry['dtype'] {
  if (array instanceof Float32Array) return 'float32';
  if (array instanceof Float64Array) return 'float64';
  if (array instanceof Int32Array) return 'int32';
  return 'uint32';
}

function elementSize(dtype: string): number | undefined {
  return { float32: 4, float64: 8, int32: 4, uint32: 4 }[dtype];
}

function makeArray(dtype: ArrayEntry['dtype'], buffer: ArrayBuffer, length: number): StoredArray {
  switch (dtype) {
    case 'float32': return new Float32Array(buffer, 0, length);
    case 'float64': return new Float64Array(buffer, 0, length);
    case 'int32': return new Int32Array(buffer, 0, length);
    case 'uint32': return new Uint32Array(buffer, 0, length);
  }
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

const hostIsLittleEndian = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** A copy of `bytes` in little-endian element order (swapped only on a big-endian host). */
function littleEndianBytes(bytes: Uint8Array, elementBytes: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  if (hostIsLittleEndian) return copy;
  for (let i = 0; i < copy.length; i += elementBytes) copy.subarray(i, i + elementBytes).reverse();
  return copy;
}
