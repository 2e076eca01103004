import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';

import {
  encodeNpyHeader, readNpy, readNpyHeader, readNpyRows, writeNpy,
} from '../../src/data/npy.js';
import { UserError } from '../../src/util/errors.js';

const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'equisphere-npy-'));
after(() => fs.rmSync(folder, { recursive: true, force: true }));

describe('npy', () => {
  it('writes the exact version 1.0 header numpy writes, padded to 64 bytes', () => {
    const header = encodeNpyHeader('uint8', [2, 3]);
    assert.equal(header.length, 128);
    const text = Buffer.from(header).toString('latin1');
    assert.equal(text.slice(0, 10), '\x93NUMPY\x01\x00\x76\x00');
    const dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }";
    assert.ok(text.slice(10).startsWith(dict));
    assert.ok(text.endsWith(' \n'));
    const vector = Buffer.from(encodeNpyHeader('float64', [5])).toString('latin1');
    assert.match(vector, /'descr': '<f8'.*'shape': \(5,\), \}/);
  });

  it('round-trips every supported dtype and shape', () => {
    const cases = [
      { data: Uint8Array.from({ length: 24 }, (_, i) => i * 10), shape: [2, 3, 4] },
      { data: Int32Array.of(-5, 0, 2 ** 31 - 1), shape: [3] },
      { data: Float32Array.of(1.5, -2.25, Math.PI, 0), shape: [2, 2] },
      { data: Float64Array.of(Math.E, -1e-300), shape: [1, 2] },
      { data: new Uint8Array(0), shape: [0, 5] },
    ];
    cases.forEach(({ data, shape }, i) => {
      const filePath = path.join(folder, `case${i}.npy`);
      writeNpy(filePath, data, shape);
      const array = readNpy(filePath);
      assert.deepEqual(array.shape, shape);
      assert.deepEqual(array.data, data);
      assert.equal(readNpyHeader(filePath).dataOffset % 64, 0);
    });
    assert.deepEqual(fs.readdirSync(folder).filter((name) => name.endsWith('.tmp')), []);
  });

  it('reads a range of rows', () => {
    const filePath = path.join(folder, 'rows.npy');
    writeNpy(filePath, Float64Array.from({ length: 5 * 3 }, (_, i) => i), [5, 3]);
    const rows = readNpyRows(filePath, 1, 2);
    assert.deepEqual(rows.shape, [2, 3]);
    assert.deepEqual(Array.from(rows.data), [3, 4, 5, 6, 7, 8]);
  });

  it('rejects a shape that does not match the data', () => {
    const bad = path.join(folder, 'bad.npy');
    assert.throws(() => writeNpy(bad, new Uint8Array(5), [2, 3]), RangeError);
    assert.equal(fs.existsSync(path.join(folder, 'bad.npy')), false);
  });

  it('rejects bad magic, Fortran order, unknown dtypes and truncated data with UserError', () => {
    const good = path.join(folder, 'good.npy');
    writeNpy(good, new Uint8Array(6), [2, 3]);
    const bytes = fs.readFileSync(good);

    const cases: [string, Buffer, RegExp][] = [
      ['magic.npy', Buffer.concat([Buffer.from('PK'), bytes.subarray(2)]), /not a \.npy file/],
      ['fortran.npy', Buffer.from(bytes.toString('latin1').replace('False', 'True '), 'latin1'),
        /Fortran-ordered/],
      ['dtype.npy', Buffer.from(bytes.toString('latin1').replace('|u1', '<c8'), 'latin1'),
        /dtype '<c8'; expected one of/],
      ['short.npy', bytes.subarray(0, bytes.length - 1), /133 bytes; expected 134/],
    ];
    for (const [name, content, pattern] of cases) {
      const filePath = path.join(folder, name);
      fs.writeFileSync(filePath, content);
      assert.throws(() => readNpy(filePath), (e: unknown) =>
        e instanceof UserError && e.message.includes(name) && pattern.test(e.message), name);
    }
  });
});
