import { availableParallelism } from 'node:os';
import * as path from 'node:path';

import { QUICK_DEFAULTS } from '../src/experiments/quick.js';
import { activeBackend, useBackend, type KernelBackend } from '../src/engine/kernels/index.js';
import { Tensor, backward } from '../src/engine/tensor.js';
import { findModel } from '../src/nn/models/registry.js';
import { formatBytes, renderTable } from '../src/report/table.js';
import { crossEntropy } from '../src/train/loss.js';
import { estimateTrainingMemory } from '../src/train/memory.js';
import { Adam } from '../src/train/optimizer.js';
import { writeFileAtomic } from '../src/util/files.js';
import { Random } from '../src/util/random.js';

/**
 * `npm run bench`: the engine and harmonic benchmarks (bench/engine.ts, bench/harmonic.ts, when
 * present), then the training throughput of every model of `equisphere quick` at its quick
 * settings, first on the reference backend (the baseline run, in this same process) and then on
 * the wasm backend, with the ratio, the memory estimate of src/train/memory.ts and the process's
 * peak resident memory.
 *
 * A training step here is what the trainer does per batch: forward, cross-entropy, backward,
 * Adam. Throughput is the batch size over the best (shortest) of the timed steps, since other
 * work on the machine only ever slows a step down.
 */

type Report = (line: string) => void;

const report: Report = (line) => process.stdout.write(`${line}\n`);

async function optionalBench(file: string, name: string): Promise<void> {
  let module: Record<string, unknown>;
  try {
    module = await import(file) as Record<string, unknown>;
  } catch (error) {
    report(`(${name} skipped: ${(error as Error).message.split('\n')[0]})`);
    return;
  }
  const run = module[name];
  if (typeof run !== 'function') {
    report(`(${name} skipped: ${file} does not export it)`);
    return;
  }
  report(`\n== ${name} ==`);
  await (run as (r: Report) => Promise<void>)(report);
}

interface QuickModel {
  name: string;
  bandwidth: number;
  batchSize: number;
}

function quickModels(): QuickModel[] {
  const c = QUICK_DEFAULTS.classification;
  const s = QUICK_DEFAULTS.segmentation;
  return [
    ...c.models.map((name) => ({ name, bandwidth: c.bandwidth, batchSize: c.batchSize })),
    ...s.models.map((name) => ({ name, bandwidth: s.bandwidth, batchSize: s.batchSize })),
  ];
}

/** Training samples per second of one model on the active backend (best of `steps` steps). */
function trainingRate(model: QuickModel, steps: number): number {
  const entry = findModel(model.name);
  const net = entry.create(model.bandwidth, new Random(1));
  const adam = new Adam(net.parameters(), { learningRate: 1e-3 });
  const random = new Random(2);
  const n = 2 * model.bandwidth;
  const input = new Tensor(Float32Array.from({ length: model.batchSize * n * n },
    () => random.uniform()), [model.batchSize, 1, n, n]);
  const targetCount = entry.task === 'classification' ? model.batchSize : model.batchSize * n * n;
  const targets = Uint8Array.from({ length: targetCount },
    () => random.int(entry.task === 'classification' ? 10 : 11));

  const step = (): void => {
    adam.zeroGrad();
    backward(crossEntropy(net.forward(input), targets));
    adam.step();
  };
  step();
  let best = Infinity;
  for (let i = 0; i < steps; i++) {
    const start = performance.now();
    step();
    best = Math.min(best, (performance.now() - start) / 1000);
  }
  return model.batchSize / best;
}

type Wasm = KernelBackend & { threads?: number; close?: () => Promise<void> };

/** The wasm backend on every core, or null (with a note) when it cannot start. */
async function startWasm(): Promise<Wasm | null> {
  try {
    const module = await import('../src/engine/kernels/wasm.js');
    return await module.createWasmBackend({ threads: availableParallelism() });
  } catch (error) {
    report(`(wasm backend unavailable: ${(error as Error).message.split('\n')[0]})`);
    return null;
  }
}

async function benchTraining(reference: KernelBackend, wasm: Wasm | null): Promise<void> {
  report('\n== training throughput of the quick models (forward + backward + Adam per batch) ==');
  const rows: Array<Array<string | number>> = [];
  for (const model of quickModels()) {
    useBackend(reference);
    const baseline = trainingRate(model, 2);
    let fast = NaN;
    if (wasm !== null) {
      useBackend(wasm);
      fast = trainingRate(model, 4);
      useBackend(reference);
    }
    const estimate = estimateTrainingMemory(findModel(model.name).footprint(model.bandwidth),
      model.batchSize);
    rows.push([model.name, model.bandwidth, model.batchSize, baseline.toFixed(1),
      Number.isNaN(fast) ? '-' : fast.toFixed(1),
      Number.isNaN(fast) ? '-' : `${(fast / baseline).toFixed(2)}x`,
      formatBytes(estimate.totalBytes)]);
  }
  const wasmColumn = `wasm samples/s (${wasm?.threads ?? 0} threads)`;
  report(renderTable(['model', 'b', 'batch', 'reference samples/s', wasmColumn,
    'wasm / reference', 'memory estimate'], rows));
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const withPeer = !args.includes('--no-peer');
  const quick = args.includes('--quick');
  report(`equisphere benchmark: node ${process.version}, ${availableParallelism()} cores`);
  report('options: --no-peer (skip PyTorch), --quick (fewer repeats); '
    + 'results JSON: runs/bench/performance.json');
  const reference = activeBackend();
  await optionalBench('./engine.js', 'benchEngine');
  const wasm = await startWasm();
  useBackend(wasm ?? reference);
  await optionalBench('./harmonic.js', 'benchHarmonic');
  await benchTraining(reference, wasm);
  await wasm?.close?.();

  // Side by side with PyTorch (bench/perf.ts): each case in a child process for its peak memory,
  // the peer's run of the same case right before ours.
  report('\n== equisphere against PyTorch on the same shapes and threads (bench/perf.ts) ==');
  const { benchPerformance } = await import('./perf.js');
  const results = await benchPerformance(report, { peer: withPeer, quick });
  writeFileAtomic(path.join('runs', 'bench', 'performance.json'),
    `${JSON.stringify(results, null, 2)}\n`);
  const peak = process.resourceUsage().maxRSS * 1024;
  report(`\npeak resident memory of this process: ${formatBytes(peak)}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
