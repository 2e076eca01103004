import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { activeBackend, useBackend } from '../../src/engine/kernels/index.js';
import { referenceBackend } from '../../src/engine/kernels/reference.js';
import { createWasmBackend, type WasmBackend } from '../../src/engine/kernels/wasm.js';
import { conv2d, convTranspose2d } from '../../src/engine/ops/index.js';
import { noGrad, type Tensor } from '../../src/engine/tensor.js';
import { Random } from '../../src/util/random.js';
import { assertClose, randomTensor } from './gradcheck.js';

/*
 * The bias that the wasm convolution kernels add in wasm memory: the result must be exactly the
 * unbiased wasm convolution plus the bias in float32 (what ops/conv.ts's addBias computes), and
 * close to the reference backend; odd planes (not multiples of 4), batch 1 and > 1, 1 and 2
 * threads.
 */

let wasm: WasmBackend;

before(async () => {
  // A low split threshold so that test-sized convolutions run on both threads.
  wasm = await createWasmBackend({ threads: 2, minFlopsPerThread: 1 << 10 });
});

after(async () => {
  await wasm.close();
});

function on<T>(backend: typeof referenceBackend | WasmBackend, f: () => T): T {
  const previous = activeBackend();
  useBackend(backend);
  try {
    return noGrad(f);
  } finally {
    useBackend(previous);
  }
}

/** out + bias[c] on every plane of channel c, in float32. */
function plusBias(out: Float32Array, bias: Float32Array, plane: number): Float32Array {
  const channels = bias.length;
  return Float32Array.from(out, (v, i) => v + bias[Math.floor(i / plane) % channels]);
}

test('wasm convolutions add the bias exactly as the TypeScript loop does', () => {
  const random = new Random(4201);
  // batch, channels in, channels out, height, width, kernel, stride
  const cases: Array<[number, number, number, number, number, number, number]> = [
    [1, 1, 3, 7, 9, 3, 1], [2, 3, 5, 11, 10, 3, 2], [3, 2, 4, 9, 9, 1, 1],
    [5, 4, 7, 13, 12, 5, 1], [2, 5, 6, 8, 8, 2, 2],
  ];
  for (const threads of [1, 2]) {
    wasm.setThreads(threads);
    for (const [batch, cin, cout, height, width, kernel, stride] of cases) {
      const what = `threads ${threads} [${batch}, ${cin}, ${height}, ${width}] -> ${cout}`
        + ` k${kernel} s${stride}`;
      const x = randomTensor(random, [batch, cin, height, width]);
      const w = randomTensor(random, [cout, cin, kernel, kernel]);
      const wt = randomTensor(random, [cin, cout, kernel, kernel]);
      const b = randomTensor(random, [cout]);
      const checks: Array<[string, (bias: Tensor | null) => Tensor]> = [
        ['conv2d', (bias) => conv2d(x, w, bias, stride)],
        ['convTranspose2d', (bias) => convTranspose2d(x, wt, bias, stride, stride - 1)],
      ];
      for (const [name, build] of checks) {
        const biased = on(wasm, () => build(b));
        const plain = on(wasm, () => build(null));
        const plane = biased.shape[2] * biased.shape[3];
        assert.deepEqual(biased.data, plusBias(plain.data, b.data, plane), `${name} ${what}`);
        const reference = on(referenceBackend, () => build(b));
        assertClose(biased.data, reference.data, 1e-4, 1e-4, `${name} ${what} vs reference`);
      }
    }
  }
  wasm.setThreads(2);
});

