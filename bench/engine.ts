import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { activeBackend, useBackend, type KernelBackend } from '../src/engine/kernels/index.js';
import { referenceBackend } from '../src/engine/kernels/reference.js';
import { createWasmBackend, type WasmBackend } from '../src/engine/kernels/wasm.js';
import { gemmStridedBatched } from '../src/engine/ops/index.js';
import { backward, Tensor } from '../src/engine/tensor.js';
import {
  CNN_CLASSIFIER_SMALL, CnnClassifier,
} from '../src/nn/models/cnn-classifier.js';
import { CNN_SEGMENTER_SMALL, CnnSegmenter } from '../src/nn/models/cnn-segmenter.js';
import type { Module } from '../src/nn/module.js';
import { crossEntropy } from '../src/train/loss.js';
import { Adam } from '../src/train/optimizer.js';
import { Random } from '../src/util/random.js';

/**
 * Engine benchmark: GEMM throughput of the reference and wasm backends (one thread and all
 * threads) against the machine's SIMD peak, and the training-step time of the small CNNs.
 *
 * The peak is what a tight loop of independent f32x4 multiply-adds reaches in wasm (no FMA in
 * baseline wasm SIMD, so a multiply and an add per lane). Times are the best of several runs,
 * since other processes on the machine only ever slow a run down.
 */

/** Best (smallest) wall time of `fn` in seconds over `repeats` runs after one warm-up run. */
function bestTime(fn: () => void, repeats: number): number {
  fn();
  let best = Infinity;
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    fn();
    best = Math.min(best, (performance.now() - start) / 1000);
  }
  return best;
}

function randomArray(random: Random, length: number): Float32Array {
  return Float32Array.from({ length }, () => random.uniformIn(-1, 1));
}

function gflops(flops: number, seconds: number): string {
  return (flops / seconds / 1e9).toFixed(2).padStart(7);
}

/** Estimates the wasm f32x4 peak in GFLOP/s on one thread and on all threads. */
function simdPeak(wasm: WasmBackend): { single: number; all: number } {
  const iterations = 5_000_000;
  wasm.setThreads(1);
  const single = bestTime(() => wasm.peakLoop(iterations), 8);
  wasm.setThreads(wasm.threads);
  let all = Infinity;
  for (let r = 0; r < 8; r++) all = Math.min(all, wasm.peakLoopAllThreads(iterations));
  return {
    single: (80 * iterations) / single / 1e9,
    all: (80 * iterations * wasm.threads) / all / 1e9,
  };
}

/** Times one training step (forward, backward, Adam) of `model` on a fixed random batch. */
function trainingStep(model: Module, input: Tensor, targets: Uint8Array): () => void {
  const adam = new Adam(model.parameters());
  return () => {
    adam.zeroGrad();
    const loss = crossEntropy(model.forward(input), targets);
    backward(loss);
    adam.step();
  };
}

export async function benchEngine(report: (line: string) => void): Promise<void> {
  const previous = activeBackend();
  const wasm = await createWasmBackend();
  const random = new Random(2024);
  try {
    report(`engine benchmark: wasm backend with ${wasm.threads} threads; load average ${
      loadavg()[0].toFixed(1)} (other processes slow runs down; times are best of several)`);
    const peak = simdPeak(wasm);
    report(`SIMD peak (f32x4 mul+add loop): 1 thread ${peak.single.toFixed(2)} GFLOP/s, `
      + `${wasm.threads} threads ${peak.all.toFixed(2)} GFLOP/s`);

    // One large product.
    const size = 1024;
    const a = randomArray(random, size * size);
    const b = randomArray(random, size * size);
    const c = new Float32Array(size * size);
    const flops = 2 * size ** 3;
    // The reference loops take seconds here: warm them up on a small product, time one run.
    referenceBackend.gemm(false, false, 128, 128, 128, 1, a, 0, 128, b, 0, 128, 0, c, 0, 128);
    const refStart = performance.now();
    referenceBackend.gemm(false, false, size, size, size, 1, a, 0, size, b, 0, size, 0, c, 0, size);
    const refTime = (performance.now() - refStart) / 1000;
    const refFlops = flops;
    report(`GEMM ${size}^3:`);
    report(`  reference        ${gflops(refFlops, refTime)} GFLOP/s`);
    const rows: Array<[string, number, number]> = [];
    for (const threads of [1, wasm.threads]) {
      wasm.setThreads(threads);
      for (const [ta, tb] of [[false, false], [true, false], [false, true]] as const) {
        const time = bestTime(() => wasm.gemm(ta, tb, size, size, size, 1, a, 0, size, b, 0, size,
          0, c, 0, size), 5);
        rows.push([`wasm ${threads}T ${ta ? 'T' : 'N'}${tb ? 'T' : 'N'}`, time, threads]);
      }
    }
    for (const [label, time, threads] of rows) {
      const rate = flops / time / 1e9;
      const ceiling = threads === 1 ? peak.single : peak.all;
      report(`  ${label.padEnd(16)} ${gflops(flops, time)} GFLOP/s  ${
        (100 * rate / ceiling).toFixed(0).padStart(3)}% of peak  ${
        (refTime / refFlops * flops / time).toFixed(1)}x reference`);
    }

    // Many small products, as in the spectral layers (per-degree blocks).
    const [count, m, n, k] = [2000, 21, 21, 64];
    const sa = randomArray(random, count * m * k);
    const sb = randomArray(random, count * k * n);
    const sc = new Float32Array(count * m * n);
    const smallFlops = 2 * count * m * n * k;
    const loop = (backend: KernelBackend) => () => {
      for (let t = 0; t < count; t++) {
        backend.gemm(false, false, m, n, k, 1, sa, t * m * k, k, sb, t * k * n, n,
          0, sc, t * m * n, n);
      }
    };
    const batched = (): void => {
      gemmStridedBatched(count, false, false, m, n, k, 1, sa, 0, k, m * k, sb, 0, n, k * n,
        0, sc, 0, n, m * n);
    };
    report(`GEMM batch of ${count} products ${m}x${n}x${k}:`);
    const smallRef = bestTime(loop(referenceBackend), 2);
    report(`  reference, one call each      ${gflops(smallFlops, smallRef)} GFLOP/s`);
    wasm.setThreads(1);
    const smallOne = bestTime(loop(wasm), 5);
    report(`  wasm 1T, one call each        ${gflops(smallFlops, smallOne)} GFLOP/s  ${
      (smallRef / smallOne).toFixed(1)}x reference`);
    useBackend(wasm);
    for (const threads of [1, wasm.threads]) {
      wasm.setThreads(threads);
      const time = bestTime(batched, 5);
      const ceiling = threads === 1 ? peak.single : peak.all;
      report(`  wasm ${threads}T, strided batched    ${gflops(smallFlops, time)} GFLOP/s  ${
        (smallRef / time).toFixed(1)}x reference  ${
        (100 * smallFlops / time / 1e9 / ceiling).toFixed(0)}% of peak`);
    }

    // Training steps of the small CNNs (batch 32, 32x32 spheres).
    const batch = 32;
    const input = new Tensor(randomArray(random, batch * 32 * 32), [batch, 1, 32, 32]);
    const labels = Uint8Array.from({ length: batch }, () => random.int(10));
    const masks = Uint8Array.from({ length: batch * 32 * 32 }, () => random.int(11));
    const models: Array<[string, () => Module, Uint8Array]> = [
      ['CNN_CLASSIFIER_SMALL', () => new CnnClassifier(CNN_CLASSIFIER_SMALL, new Random(1)),
        labels],
      ['CNN_SEGMENTER_SMALL', () => new CnnSegmenter(CNN_SEGMENTER_SMALL, 32, new Random(1)),
        masks],
    ];
    report(`training step (forward + backward + Adam), batch ${batch}, 32x32:`);
    for (const [name, make, targets] of models) {
      useBackend(referenceBackend);
      const refStep = bestTime(trainingStep(make(), input, targets), 2);
      const cells = [`reference ${(refStep * 1000).toFixed(1)} ms`];
      useBackend(wasm);
      for (const threads of [1, wasm.threads]) {
        wasm.setThreads(threads);
        const time = bestTime(trainingStep(make(), input, targets), 6);
        cells.push(`wasm ${threads}T ${(time * 1000).toFixed(1)} ms (${
          (refStep / time).toFixed(1)}x)`);
      }
      report(`  ${name.padEnd(22)} ${cells.join(', ')}`);
    }
  } finally {
    useBackend(previous);
    await wasm.close();
  }
}

// Run directly: node dist/bench/engine.js
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchEngine((line) => console.log(line));
}
