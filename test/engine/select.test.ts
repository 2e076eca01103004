import assert from 'node:assert/strict';
import { test } from 'node:test';

import { activeBackend, useBackend } from '../../src/engine/kernels/index.js';
import { loadNativeBackend } from '../../src/engine/kernels/native.js';
import { referenceBackend } from '../../src/engine/kernels/reference.js';
import { selectBestBackend } from '../../src/engine/kernels/select.js';

/*
 * Backend selection: the named backend when it can start, native first for 'auto' when the addon
 * loads (wasm otherwise, with a notice saying why), always made active, always announced.
 */

test('selectBestBackend picks, activates and announces a backend', async () => {
  const previous = activeBackend();
  try {
    const lines: string[] = [];
    const notice = (line: string) => lines.push(line);
    const reference = await selectBestBackend({ name: 'reference', onNotice: notice });
    assert.equal(reference, referenceBackend);
    assert.equal(activeBackend(), referenceBackend);
    assert.deepEqual(lines, ['kernel backend: reference']);

    lines.length = 0;
    const wasm = await selectBestBackend({ name: 'wasm', threads: 1, onNotice: notice });
    assert.equal(wasm.name, 'wasm');
    assert.equal(activeBackend(), wasm);
    assert.equal(await selectBestBackend({ name: 'wasm', threads: 1 }), wasm, 'started once');
    assert.deepEqual(lines, ['kernel backend: wasm, 1 thread']);

    lines.length = 0;
    const auto = await selectBestBackend({ threads: 1, onNotice: notice });
    const nativeLoads = loadNativeBackend() !== null;
    assert.equal(auto.name, nativeLoads ? 'native' : 'wasm');
    assert.equal(activeBackend(), auto);
    assert.equal(lines.length, nativeLoads ? 1 : 2, lines.join(' | '));
    assert.match(lines[lines.length - 1], new RegExp(`^kernel backend: ${auto.name}`));

    await assert.rejects(selectBestBackend({ threads: 0 }), RangeError);
  } finally {
    useBackend(previous);
  }
});
