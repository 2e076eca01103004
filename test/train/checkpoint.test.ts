import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';

import {
  decodeCheckpoint, encodeCheckpoint, loadCheckpointFile, saveCheckpointFile,
} from '../../src/train/checkpoint.js';
import { UserError } from '../../src/util/errors.js';

const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'equisphere-checkpoint-'));
after(() => fs.rmSync(folder, { recursive: true, force: true }));

describe('checkpoint format', () => {
  const content = {
    kind: 'test',
    epoch: 3,
    loss: NaN,
    best: Infinity,
    nested: { list: [1, 'two', null, true], empty: {} },
    state: new Map<string, Float32Array>([
      ['layer.weight', Float32Array.of(1.5, -2.25, 3e-8)],
      ['layer.bias', new Float32Array(0)],
    ]),
    moments: [Float32Array.of(0.1, 0.2, 0.3), Float64Array.of(Math.PI, -1e300)],
    counts: Int32Array.of(-7, 8),
    order: Uint32Array.of(4294967295, 0),
  };

  it('round-trips typed arrays, maps, nested JSON and non-finite numbers exactly', () => {
    const decoded = decodeCheckpoint(encodeCheckpoint(content)) as typeof content;
    assert.deepEqual(decoded, content);
    assert.ok(decoded.state.get('layer.weight') instanceof Float32Array);
    assert.ok(decoded.moments[1] instanceof Float64Array);
    assert.ok(Number.isNaN(decoded.loss));
  });

  it('lays out magic, header length, JSON header and 8-byte aligned data', () => {
    const bytes = encodeCheckpoint({ values: Float64Array.of(1, 2) });
    assert.equal(Buffer.from(bytes.subarray(0, 8)).toString('ascii'), 'EQSPHCK1');
    const headerLength = new DataView(bytes.buffer).getUint32(8, true);
    assert.equal((12 + headerLength) % 8, 0);
    const header = JSON.parse(Buffer.from(bytes.subarray(12, 12 + headerLength)).toString());
    assert.deepEqual(header.arrays, [{ dtype: 'float64', offset: 0, length: 2 }]);
    assert.deepEqual(header.content, { values: { $array: 0 } });
    assert.equal(bytes.length, 12 + headerLength + 16);
    assert.equal(new DataView(bytes.buffer).getFloat64(12 + headerLength + 8, true), 2);
  });

  it('writes files atomically and reads them back', () => {
    const file = path.join(folder, 'a.ckpt');
    saveCheckpointFile(file, content);
    saveCheckpointFile(file, { ...content, epoch: 4 });
    assert.equal((loadCheckpointFile(file) as typeof content).epoch, 4);
    assert.deepEqual(fs.readdirSync(folder), ['a.ckpt']);
  });

  it('rejects damaged files with a UserError naming the file', () => {
    const bytes = encodeCheckpoint(content);
    const truncated = path.join(folder, 'truncated.ckpt');
    fs.writeFileSync(truncated, bytes.subarray(0, bytes.length - 4));
    assert.throws(() => loadCheckpointFile(truncated),
      (e: Error) => e instanceof UserError && e.message.includes(truncated)
        && /truncated/.test(e.message));

    const wrong = path.join(folder, 'wrong.ckpt');
    fs.writeFileSync(wrong, 'hello, this is not a checkpoint');
    assert.throws(() => loadCheckpointFile(wrong),
      (e: Error) => e instanceof UserError && /magic/.test(e.message));

    assert.throws(() => loadCheckpointFile(path.join(folder, 'missing.ckpt')),
      (e: Error) => e instanceof UserError && /ENOENT/.test(e.message));
  });
});
