/**
 * Forward + backward timings of the S2CNN layers and of the small S2CNN models, on the active
 * kernel backend. Run: `node dist/bench/s2cnn.js [repeats] [reference|native|wasm]`. Prints one
 * line per case: the median forward and forward+backward times in milliseconds.
 */
import { activeBackend, useBackend } from '../src/engine/kernels/index.js';
import { loadNativeBackend } from '../src/engine/kernels/native.js';
import { createWasmBackend } from '../src/engine/kernels/wasm.js';
import { backward, fromArray, noGrad, Tensor } from '../src/engine/tensor.js';
import { s2NearIdentityGrid, so3NearIdentityGrid } from '../src/nn/layers/kernel-grids.js';
import { S2Convolution } from '../src/nn/layers/s2-conv.js';
import { SO3Convolution } from '../src/nn/layers/so3-conv.js';
import { SO3Integrate } from '../src/nn/layers/so3-integrate.js';
import { SO3ToS2 } from '../src/nn/layers/so3-to-s2.js';
import { Module } from '../src/nn/module.js';
import { S2cnnClassifier, S2CNN_CLASSIFIER_SMALL } from '../src/nn/models/s2cnn-classifier.js';
import { S2cnnSegmenter, S2CNN_SEGMENTER_SMALL } from '../src/nn/models/s2cnn-segmenter.js';
import { Random } from '../src/util/random.js';

const repeats = Number(process.argv[2] ?? 5);
const random = new Random(1);
if (process.argv[3] === 'native') {
  const native = loadNativeBackend({ onUnavailable: (reason) => console.log(reason) });
  if (native !== null) useBackend(native);
} else if (process.argv[3] === 'wasm') {
  useBackend(await createWasmBackend());
}

function randomInput(shape: number[]): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = random.normal();
  return values;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function time(label: string, module: Module, shape: number[]): void {
  const values = randomInput(shape);
  const forwardTimes: number[] = [];
  const totalTimes: number[] = [];
  for (let r = 0; r <= repeats; r++) {
    let start = performance.now();
    noGrad(() => module.forward(fromArray(values, shape)));
    const forward = performance.now() - start;

    start = performance.now();
    const input = new Tensor(Float32Array.from(values), shape, true);
    const out = module.forward(input);
    backward(out, new Float32Array(out.size).fill(1e-3));
    const total = performance.now() - start;
    for (const p of module.parameters()) p.grad = null;
    if (r > 0) {
      forwardTimes.push(forward);
      totalTimes.push(total);
    }
  }
  console.log(`${label.padEnd(58)} forward ${median(forwardTimes).toFixed(1).padStart(8)} ms` +
    `   forward+backward ${median(totalTimes).toFixed(1).padStart(8)} ms`);
}

console.log(`backend: ${activeBackend().name}, ${repeats} repeats (median)`);
const so3Grid = so3NearIdentityGrid({ maxBeta: Math.PI / 4, nAlpha: 6, nBeta: 1, nGamma: 6 });
const so3Default = so3NearIdentityGrid();
const s2Grid = s2NearIdentityGrid({ maxBeta: Math.PI / 8, nAlpha: 6, nBeta: 1 });

time('S2Convolution 1->8, b 16->10, 6 points, N=32',
  new S2Convolution(1, 8, 16, 10, s2Grid, random), [32, 1, 32, 32]);
time('SO3Convolution 8->16, b 10->6, 36 points, N=32',
  new SO3Convolution(8, 16, 10, 6, so3Grid, random), [32, 8, 20, 20, 20]);
time('SO3Convolution 16->24, b 6->4, 36 points, N=32',
  new SO3Convolution(16, 24, 6, 4, so3Grid, random), [32, 16, 12, 12, 12]);
time('SO3Integrate 24 channels, b 4, N=32', new SO3Integrate(), [32, 24, 8, 8, 8]);
time('S2Convolution 1->8, b 16->12, 24 points, N=8',
  new S2Convolution(1, 8, 16, 12, s2NearIdentityGrid(), random), [8, 1, 32, 32]);
time('SO3Convolution 8->12, b 12->8, 192 points, N=8',
  new SO3Convolution(8, 12, 12, 8, so3Default, random), [8, 8, 24, 24, 24]);
time('SO3Convolution 12->8, b 8->12, 192 points, N=8',
  new SO3Convolution(12, 8, 8, 12, so3Default, random), [8, 12, 16, 16, 16]);
time('SO3ToS2 8->11, b 12->16, 192 points, N=8',
  new SO3ToS2(8, 11, 12, 16, so3Default, random), [8, 8, 24, 24, 24]);
time('S2CNN_CLASSIFIER_SMALL, N=32', new S2cnnClassifier(S2CNN_CLASSIFIER_SMALL, random),
  [32, 1, 32, 32]);
time('S2CNN_SEGMENTER_SMALL, N=8', new S2cnnSegmenter(S2CNN_SEGMENTER_SMALL, random),
  [8, 1, 32, 32]);
