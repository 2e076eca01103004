import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { useBackend, type KernelBackend } from '../src/engine/kernels/index.js';
import { loadNativeBackend } from '../src/engine/kernels/native.js';
import { createWasmBackend, type WasmBackend } from '../src/engine/kernels/wasm.js';
import { gemmStridedBatched } from '../src/engine/ops/index.js';
import { backward, fromArray, noGrad, Tensor } from '../src/engine/tensor.js';
import { s2CoefficientCount, so3CoefficientCount } from '../src/harmonic/indexing.js';
import { s2Forward, s2Inverse } from '../src/harmonic/s2-transform.js';
import { so3Forward, so3Inverse } from '../src/harmonic/so3-transform.js';
import { wignerDTable } from '../src/harmonic/wigner.js';
import { CNN_SEGMENTER_218K, CnnSegmenter } from '../src/nn/models/cnn-segmenter.js';
import {
  S2cnnClassifier, S2CNN_CLASSIFIER_PAPER,
} from '../src/nn/models/s2cnn-classifier.js';
import { S2cnnSegmenter, S2CNN_SEGMENTER_PAPER } from '../src/nn/models/s2cnn-segmenter.js';
import type { Module } from '../src/nn/module.js';
import { gridBetas } from '../src/sphere/grid.js';
import { crossEntropy } from '../src/train/loss.js';
import { Adam } from '../src/train/optimizer.js';
import { Random } from '../src/util/random.js';
import { runPeer, type PeerCaseName, type PeerResults } from './peer.js';

/**
 * Performance against the PyTorch peer, measured in the same run on the same shapes and thread
 * count. Each of our cases runs in its own child process (`perf.js --child <case> <backend>
 * <threads>`), so that its peak resident memory (process.resourceUsage().maxRSS) is its own, as
 * the peer's is per case. Times are medians over a time budget (at least 3 repeats), as in
 * bench/peer/main.py; a training step is forward, cross-entropy, backward and one Adam step.
 */

type Backend = 'wasm' | 'native';

/** Median and minimum milliseconds of repeated calls. */
interface Timing {
  median_ms: number;
  min_ms: number;
  repeats: number;
}

/** What one child prints: timings by metric name, and its peak memory. */
interface ChildResult {
  case: string;
  backend: string;
  threads: number;
  metrics: Record<string, Timing | number>;
  peak_rss_mb: number;
}

function measure(fn: () => void, budgetMs: number, minRepeats = 3, maxRepeats = 50,
  warmup = 1): Timing {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < maxRepeats
    && (times.length < minRepeats || performance.now() - start < budgetMs)) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  const sorted = [...times].sort((a, b) => a - b);
  return { median_ms: sorted[Math.floor(sorted.length / 2)], min_ms: sorted[0],
    repeats: times.length };
}

function randomArray(random: Random, length: number): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = random.normal();
  return out;
}

function randomLabels(random: Random, length: number, classes: number): Int32Array {
  const out = new Int32Array(length);
  for (let i = 0; i < length; i++) out[i] = random.int(classes);
  return out;
}

/** Forward, cross-entropy, backward and one Adam step, timed over `budgetMs`. */
function trainStep(model: Module & { forward(x: Tensor): Tensor }, input: Float32Array,
  shape: number[], targets: Int32Array, budgetMs: number): Timing {
  const optimizer = new Adam(model.parameters(), { learningRate: 1e-3 });
  model.setTraining(true);
  return measure(() => {
    for (const p of model.parameters()) p.grad = null;
    const loss = crossEntropy(model.forward(fromArray(input, shape)), targets);
    backward(loss);
    optimizer.step();
  }, budgetMs);
}

/** Latency at batch 1 and the best throughput over `batches` (eval mode, no gradients). */
function inference(model: Module & { forward(x: Tensor): Tensor }, sample: number[],
  batches: number[], random: Random, budgetMs: number): Record<string, Timing | number> {
  model.setTraining(false);
  const size = sample.reduce((a, b) => a * b, 1);
  const run = (batch: number, data: Float32Array) => noGrad(() => {
    model.forward(fromArray(data, [batch, ...sample]));
  });
  const one = randomArray(random, size);
  const latency = measure(() => run(1, one), budgetMs);
  let best = 0;
  let bestBatch = 1;
  for (const batch of batches) {
    const data = randomArray(random, batch * size);
    const t = measure(() => run(batch, data), budgetMs / 2, 2, 20);
    const rate = batch / (t.median_ms / 1000);
    if (rate > best) {
      best = rate;
      bestBatch = batch;
    }
  }
  return { latency_b1: latency, samples_per_s: best, best_batch: bestBatch };
}

/** Our cases, named after the peer's (bench/peer/main.py) where they match one. */
const OUR_CASES = [
  'matmul_1024', 'bmm_small', 'wasm_scaling', 'wigner_b64', 'cnn218k_train', 'cnn218k_infer',
  'transforms_b16', 'transforms_b32', 'transforms_b50',
  's2cnn157k_train', 's2cnn157k_infer', 's2cnn204k_train', 's2cnn204k_infer',
] as const;
type OurCase = typeof OUR_CASES[number];

async function startBackend(name: Backend, threads: number): Promise<KernelBackend> {
  if (name === 'native') {
    const native = loadNativeBackend({ threads });
    if (native === null) throw new Error('native backend unavailable');
    useBackend(native);
    return native;
  }
  const wasm = await createWasmBackend({ threads });
  useBackend(wasm);
  return wasm;
}

/** Runs one case on one backend in this process; returns its metrics. */
async function runCase(name: OurCase, backendName: Backend, threads: number,
  quick: boolean): Promise<Record<string, Timing | number>> {
  const backend = await startBackend(backendName, threads);
  const random = new Random(7);
  const scale = quick ? 0.25 : 1;
  const budget = (seconds: number): number => seconds * 1000 * scale;

  switch (name) {
    case 'matmul_1024': {
      const n = 1024;
      const a = randomArray(random, n * n);
      const b = randomArray(random, n * n);
      const c = new Float32Array(n * n);
      const t = measure(() => backend.gemm(false, false, n, n, n, 1, a, 0, n, b, 0, n, 0, c, 0, n),
        budget(3));
      return { matmul_1024: t, gflops: 2 * n ** 3 / (t.median_ms * 1e6) };
    }
    case 'bmm_small': {
      const [batch, m, k, n] = [1000, 21, 21, 64];
      const a = randomArray(random, batch * m * k);
      const b = randomArray(random, batch * k * n);
      const c = new Float32Array(batch * m * n);
      const t = measure(() => gemmStridedBatched(batch, false, false, m, n, k, 1, a, 0, k, m * k,
        b, 0, n, k * n, 0, c, 0, n, m * n), budget(2), 3, 2000, 5);
      return { bmm_1000x21x21x64: t, gflops: 2 * batch * m * n * k / (t.median_ms * 1e6) };
    }
    case 'wasm_scaling': {
      // Product rates on 1 and all threads against the f32x4 multiply-add peak.
      if (backendName !== 'wasm') return {};
      const wasm = backend as WasmBackend;
      const iterations = 1 << 22;
      wasm.peakLoop(iterations);
      let single = Infinity;
      for (let r = 0; r < 5; r++) {
        const t0 = performance.now();
        wasm.peakLoop(iterations);
        single = Math.min(single, performance.now() - t0);
      }
      const peak1 = 80 * iterations / (single * 1e6);
      const n = 1024;
      const a = randomArray(random, n * n);
      const b = randomArray(random, n * n);
      const c = new Float32Array(n * n);
      // Alternating rounds on one and on all threads, best rate of each: a burst of load from
      // other processes then hurts both counts alike instead of one of them.
      const rates = [0, 0];
      for (let round = 0; round < 4; round++) {
        [1, wasm.threads].forEach((count, i) => {
          wasm.setThreads(count);
          const t = measure(() => wasm.gemm(false, false, n, n, n, 1, a, 0, n, b, 0, n, 0,
            c, 0, n), budget(0.5));
          rates[i] = Math.max(rates[i], 2 * n ** 3 / (t.min_ms * 1e6));
        });
      }
      return { peak_gflops_1: peak1, gemm_gflops_1: rates[0], gemm_gflops_all: rates[1],
        threads_all: wasm.threads };
    }
    case 'wigner_b64': {
      const t0 = performance.now();
      wignerDTable(64, gridBetas(64));
      return { wigner_b64_s: (performance.now() - t0) / 1000 };
    }
    case 'cnn218k_train': {
      const model = new CnnSegmenter(CNN_SEGMENTER_218K, 100, random);
      const x = randomArray(random, 8 * 100 * 100);
      return { cnn218k_train_b8: trainStep(model, x, [8, 1, 100, 100],
        randomLabels(random, 8 * 100 * 100, 11), budget(6)) };
    }
    case 'cnn218k_infer': {
      const model = new CnnSegmenter(CNN_SEGMENTER_218K, 100, random);
      return inference(model, [1, 100, 100], [1, 2, 4, 8, 16, 32], random, budget(3));
    }
    case 'transforms_b16': case 'transforms_b32': case 'transforms_b50': {
      const b = Number(name.slice('transforms_b'.length));
      const S = 11;
      const s2Grid = randomArray(random, S * 4 * b * b);
      const so3Grid = randomArray(random, S * 8 * b * b * b);
      const s2Spec = { re: randomArray(random, S * s2CoefficientCount(b)),
        im: randomArray(random, S * s2CoefficientCount(b)) };
      const so3Spec = { re: randomArray(random, S * so3CoefficientCount(b)),
        im: randomArray(random, S * so3CoefficientCount(b)) };
      // Tables are built outside the timings, as in the peer.
      s2Forward(s2Grid, S, b, b);
      s2Inverse(s2Spec, S, b, b);
      so3Forward(so3Grid, S, b, b);
      so3Inverse(so3Spec, S, b, b);
      const seconds = budget(2);
      return {
        s2_forward: measure(() => s2Forward(s2Grid, S, b, b), seconds),
        s2_inverse: measure(() => s2Inverse(s2Spec, S, b, b), seconds),
        so3_forward: measure(() => so3Forward(so3Grid, S, b, b), seconds),
        so3_inverse: measure(() => so3Inverse(so3Spec, S, b, b), seconds),
      };
    }
    case 's2cnn157k_train': {
      const model = new S2cnnClassifier(S2CNN_CLASSIFIER_PAPER, random);
      const x = randomArray(random, 8 * 60 * 60);
      return { s2cnn157k_train_b8: trainStep(model, x, [8, 1, 60, 60],
        randomLabels(random, 8, 10), budget(10)) };
    }
    case 's2cnn157k_infer': {
      const model = new S2cnnClassifier(S2CNN_CLASSIFIER_PAPER, random);
      return inference(model, [1, 60, 60], [1, 4, 8, 16, 32], random, budget(5));
    }
    case 's2cnn204k_train': {
      const model = new S2cnnSegmenter(S2CNN_SEGMENTER_PAPER, random);
      const x = randomArray(random, 100 * 100);
      return { s2cnn204k_train_b1: trainStep(model, x, [1, 1, 100, 100],
        randomLabels(random, 100 * 100, 11), budget(12)) };
    }
    case 's2cnn204k_infer': {
      const model = new S2cnnSegmenter(S2CNN_SEGMENTER_PAPER, random);
      return inference(model, [1, 100, 100], [1, 2, 4], random, budget(8));
    }
  }
}

/** Runs `perf.js --child ...` and parses its last line. */
function runChild(name: OurCase, backend: Backend, threads: number, quick: boolean,
  extraArgs: string[] = []): Promise<ChildResult | string> {
  const script = fileURLToPath(import.meta.url);
  const args = [...extraArgs, script, '--child', name, backend, String(threads)];
  if (quick) args.push('--quick');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.on('close', (code) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as ChildResult);
      } catch {
        resolve(`exit ${code}: ${stderr.trim().split('\n').pop() ?? ''}`);
      }
    });
  });
}

/** Which peer case and metric path give the peer's number for each of our metrics. */
const PEER_OF: Record<OurCase, PeerCaseName | null> = {
  matmul_1024: 'matmul_1024', bmm_small: 'bmm_small', wasm_scaling: null, wigner_b64: null,
  cnn218k_train: 'cnn218k_train', cnn218k_infer: 'cnn218k_infer',
  transforms_b16: 'transforms_b16', transforms_b32: 'transforms_b32',
  transforms_b50: 'transforms_b50', s2cnn157k_train: 's2cnn157k_train',
  s2cnn157k_infer: 's2cnn157k_infer', s2cnn204k_train: 's2cnn204k_train',
  s2cnn204k_infer: 's2cnn204k_infer',
};

/** Peer metric path for one of our metric names in a case. */
function peerPath(peerCase: string, metric: string): string {
  if (metric === 'latency_b1' || metric === 'samples_per_s' || metric === 'best_batch') {
    const inner = metric === 'latency_b1' ? 'latency_b1.median_ms' : `throughput.${metric}`;
    return `${peerCase}.${peerCase}.${inner}`;
  }
  if (peerCase.startsWith('transforms_')) return `${peerCase}.${peerCase}.${metric}.median_ms`;
  return `${peerCase}.${metric}.median_ms`;
}

interface Goal {
  name: string;
  met: boolean;
  detail: string;
}

function pct(x: number): string {
  return `${(100 * x).toFixed(0)}%`;
}

/**
 * Runs every case on each available backend (wasm, and native when built) and, when
 * `options.peer` is set, the PyTorch peer with the same thread count; prints one line per
 * measurement with the peer's time and the ratio (peer / ours: above 1 means we are faster),
 * peak memory against the peer's, and the goals with pass or miss (and by how much). `quick`
 * quarters the time budgets. Returns everything measured as a JSON-serialisable object.
 */
export async function benchPerformance(report: (line: string) => void,
  options: { peer: boolean; quick?: boolean; backends?: Backend[]; cases?: string[] },
): Promise<object> {
  const threads = Math.min(2, availableParallelism());
  const quick = options.quick ?? false;
  const backends: Backend[] = options.backends
    ?? (loadNativeBackend() !== null ? ['wasm', 'native'] : ['wasm']);
  const cases = OUR_CASES.filter((c) => options.cases === undefined || options.cases.includes(c));
  report(`performance: backends ${backends.join(', ')}, ${threads} threads`
    + (quick ? ', quick' : ''));

  // The peer's case runs right before ours, so that both see about the same load from other
  // processes on the machine.
  const peer: PeerResults = {
    python: '', torch: '', threads, cases: {}, flat: {}, failures: {},
  };
  let peerAvailable = options.peer;
  const runPeerCase = async (name: PeerCaseName): Promise<void> => {
    if (!peerAvailable || peer.cases[name] !== undefined || peer.failures[name] !== undefined) {
      return;
    }
    const one = await runPeer({ threads, quick, cases: [name], log: report });
    if (one === null) {
      peerAvailable = false;
      return;
    }
    peer.python = one.python;
    peer.torch = one.torch;
    Object.assign(peer.cases, one.cases);
    Object.assign(peer.flat, one.flat);
    Object.assign(peer.failures, one.failures);
  };
  const peerValue = (path: string): number | undefined => peer.flat[path];

  const ours: Record<string, Record<string, ChildResult | string>> = {};
  for (const name of cases) {
    const peerOfCase = PEER_OF[name];
    if (peerOfCase !== null) await runPeerCase(peerOfCase);
    ours[name] = {};
    for (const backend of backends) {
      if (name === 'wasm_scaling' && backend !== 'wasm') continue;
      if (name === 'wigner_b64' && backend !== backends[0]) continue;
      const child = await runChild(name, backend, threads, quick);
      ours[name][backend] = child;
      if (typeof child === 'string') {
        report(`${name} [${backend}]: failed (${child})`);
        continue;
      }
      const peerCase = PEER_OF[name];
      for (const [metric, value] of Object.entries(child.metrics)) {
        const ms = typeof value === 'number' ? value : value.median_ms;
        let line = `${name} [${backend}] ${metric}: `;
        line += typeof value === 'number' ? value.toFixed(2) : `${ms.toFixed(2)} ms`;
        const theirs = peerCase === null ? undefined : peerValue(peerPath(peerCase, metric));
        if (theirs !== undefined && metric !== 'best_batch' && metric !== 'gflops') {
          const ratio = metric === 'samples_per_s' ? ms / theirs : theirs / ms;
          line += `; torch ${theirs.toFixed(2)}; speed ratio ${ratio.toFixed(2)}x`;
        }
        report(line);
      }
      const peerRss = peerCase === null ? undefined : peerValue(`${peerCase}.peak_rss_mb`);
      report(`${name} [${backend}] peak RSS ${child.peak_rss_mb.toFixed(0)} MB`
        + (peerRss === undefined ? '' : `; torch ${peerRss.toFixed(0)} MB`));
    }
  }

  // Goals.
  const goals: Goal[] = [];
  const best = (name: OurCase, metric: string): { ms: number; backend: string } | null => {
    let found: { ms: number; backend: string } | null = null;
    for (const [backend, child] of Object.entries(ours[name] ?? {})) {
      if (typeof child === 'string') continue;
      const value = child.metrics[metric];
      if (value === undefined || typeof value === 'number') continue;
      if (found === null || value.median_ms < found.ms) found = { ms: value.median_ms, backend };
    }
    return found;
  };
  const speedGoal = (label: string, name: OurCase, metric: string, factor: number): void => {
    const mine = best(name, metric);
    const peerCase = PEER_OF[name];
    const theirs = peerCase === null ? undefined : peerValue(peerPath(peerCase, metric));
    if (mine === null || theirs === undefined) return;
    const ratio = theirs / mine.ms;
    goals.push({ name: label, met: ratio >= factor, detail: `${ratio.toFixed(2)}x torch on `
      + `${mine.backend} (goal ${factor}x${ratio >= factor ? '' : `; missed by ${
        pct(1 - ratio / factor)} of the goal`})` });
  };
  speedGoal('S2CNN 157k training step (b8)', 's2cnn157k_train', 's2cnn157k_train_b8', 1.5);
  speedGoal('S2CNN 204k training step (b1)', 's2cnn204k_train', 's2cnn204k_train_b1', 1.5);
  speedGoal('CNN 218k training step (b8)', 'cnn218k_train', 'cnn218k_train_b8', 1);

  const scaling = ours.wasm_scaling?.wasm;
  if (scaling !== undefined && typeof scaling !== 'string') {
    const m = scaling.metrics as Record<string, number>;
    const share = m.gemm_gflops_1 / m.peak_gflops_1;
    goals.push({ name: 'wasm gemm >= 50% of SIMD peak per core', met: share >= 0.5,
      detail: `${pct(share)} (${m.gemm_gflops_1.toFixed(1)} of ${m.peak_gflops_1.toFixed(1)} `
        + 'GFLOP/s)' });
    const speedup = m.gemm_gflops_all / m.gemm_gflops_1;
    if (m.threads_all >= 2) {
      goals.push({ name: 'wasm gemm 2 cores >= 1.7x 1 core', met: speedup >= 1.7,
        detail: `${speedup.toFixed(2)}x${speedup >= 1.7 ? '' : ` (missed by ${
          (1.7 - speedup).toFixed(2)})`}` });
    }
  }
  const wigner = ours.wigner_b64?.[backends[0]];
  if (wigner !== undefined && typeof wigner !== 'string') {
    const s = wigner.metrics.wigner_b64_s as number;
    goals.push({ name: 'Wigner-d tables b=64 < 2 s', met: s < 2, detail: `${s.toFixed(2)} s` });
  }
  if (options.peer && peerAvailable) {
    const misses: string[] = [];
    let compared = 0;
    for (const name of cases) {
      const peerCase = PEER_OF[name];
      const theirs = peerCase === null ? undefined : peerValue(`${peerCase}.peak_rss_mb`);
      if (theirs === undefined) continue;
      const rss = Object.values(ours[name]).filter((c): c is ChildResult => typeof c !== 'string')
        .map((c) => c.peak_rss_mb);
      if (rss.length === 0) continue;
      compared++;
      const mine = Math.min(...rss);
      if (mine > theirs) misses.push(`${name} ${mine.toFixed(0)} > ${theirs.toFixed(0)} MB`);
    }
    goals.push({ name: 'peak memory <= torch', met: misses.length === 0,
      detail: misses.length === 0 ? `all ${compared} cases` : misses.join(', ') });
  }
  for (const goal of goals) {
    report(`goal ${goal.met ? 'MET   ' : 'MISSED'} ${goal.name}: ${goal.detail}`);
  }
  return { threads, backends, ours, peer: options.peer ? peer : null, goals };
}

const argv = process.argv.slice(2);
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (argv[0] === '--child') {
    const [, name, backend, threads] = argv;
    const metrics = await runCase(name as OurCase, backend as Backend, Number(threads),
      argv.includes('--quick'));
    const result: ChildResult = {
      case: name, backend, threads: Number(threads), metrics,
      peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    };
    console.log(JSON.stringify(result));
    process.exit(0);
  } else {
    const valueOf = (flag: string): string | undefined => {
      const at = argv.indexOf(flag);
      return at >= 0 ? argv[at + 1] : undefined;
    };
    const backends = valueOf('--backends')?.split(',') as Backend[] | undefined;
    const cases = valueOf('--cases')?.split(',');
    await benchPerformance((line) => console.log(line), {
      peer: !argv.includes('--no-peer'), quick: argv.includes('--quick'), backends, cases,
    });
  }
}
