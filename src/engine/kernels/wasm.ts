import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type {
  ConvolutionBackend, PoolingBackend, ResamplingBackend, StridedBatchedBackend,
} from '../ops/extensions.js';
import type { PatchGeometry } from '../ops/im2col.js';
import {
  A, ALPHA, B, BETA, BIAS, C, CHANNELS, CHUNK, COLS, CONV_BACKWARD, CONV_FORWARD,
  CONV_TRANSPOSE_BACKWARD, CONV_TRANSPOSE_FORWARD, COUNT, DONE, DW, DW_BYTES, DX, FAILED,
  FIRST_PLANE, GEMM, GEMM_BATCHED, GENERATION, HEADER_BYTES, HEIGHT, IDLE, K, KERNEL_H, KERNEL_W,
  KIND, LDA, LDB, LDC, M, MAX_POOL, MAX_POOL_SCATTER, N, OTHER_CHANNELS, OUT_H, OUT_W, PADDING,
  PEAK, runSlot, SHUTDOWN, SLOT_FIELDS, STRIDE, STRIDE_A, STRIDE_B, STRIDE_C, TRANS_A, TRANS_B,
  UPSAMPLE_BACKWARD, WEIGHT, WIDTH, WORK, X, X_BYTES, Y, Y_BYTES, type KernelExports,
} from './wasm-protocol.js';

/**
 * The `wasm` kernel backend: AssemblyScript f32x4 SIMD kernels (src/assembly/kernels.ts,
 * compiled to dist/kernels.wasm) run on one shared WebAssembly.Memory by the main thread and
 * `threads - 1` worker threads.
 *
 * Each call copies its operands from the caller's Float32Arrays into an arena in wasm memory
 * (grown as needed), splits the work into one piece per thread (for a product, column blocks of
 * C when it is wide and row blocks when it is tall; for batched products and convolutions,
 * ranges of the batch), wakes the workers through Atomics on a control block, runs its own
 * piece, waits for the others and copies the results back. Small calls stay on the main thread,
 * where waking a worker would cost more than it saves. Max pooling and the backward of nearest
 * upsampling run the same way over ranges of planes, convolution biases inside the
 * convolution jobs.
 *
 * Results do not depend on the thread count: every element of a product is computed by one
 * thread in the same order, and convolution weight gradients are summed in fixed chunks of the
 * batch (see convolve). Workers are unref'ed: they never keep the process alive, and they exit
 * when it does.
 */
export interface WasmBackendOptions {
  /** Threads that run kernels, the main thread included (default: the number of cores). */
  threads?: number;
  /** Location of kernels.wasm (default: dist/kernels.wasm next to the compiled sources). */
  wasmUrl?: URL;
  /**
   * A call is split over threads only in pieces of at least this many flops (default 2^21,
   * about 50 us of work: waking a sleeping worker costs tens of microseconds).
   */
  minFlopsPerThread?: number;
}

export interface WasmBackend extends ConvolutionBackend, PoolingBackend, ResamplingBackend {
  gemmStridedBatched: StridedBatchedBackend['gemmStridedBatched'];
  readonly name: 'wasm';
  /** Threads started (the main thread included). */
  readonly threads: number;
  /** Threads that calls may use now, 1..threads (see setThreads). */
  readonly activeThreads: number;
  /** Limits later calls to `count` threads (1..threads); for benchmarks and tests. */
  setThreads(count: number): void;
  /** Runs the wasm peak loop (80 flops per iteration) on the main thread; returns its value. */
  peakLoop(iterations: number): number;
  /** Runs the peak loop on every active thread at once; returns the seconds taken. */
  peakLoopAllThreads(iterations: number): number;
  /** Stops the worker threads; the backend must not be used afterwards. */
  close(): Promise<void>;
}

const PAGE = 65536;
const INITIAL_PAGES = 256;
const MAXIMUM_PAGES = 65536;
const ALIGN = 64;
/**
 * Most chunks a convolution batch is cut into (see convolve). It bounds the threads one
 * convolution can use and the memory of its weight-gradient sums (one weight-sized buffer each).
 */
const CONV_CHUNKS = 16;
/** Micro-tile sizes of the kernels; blocks given to threads are multiples of these. */
const MR = 4;
const NR = 8;

function align(bytes: number): number {
  return Math.ceil(bytes / ALIGN) * ALIGN;
}

/** Path of dist/kernels.wasm from this module (dist/src/engine/kernels/wasm.js). */
function defaultWasmUrl(): URL {
  return new URL('../../../kernels.wasm', import.meta.url);
}

class WasmKernelBackend implements WasmBackend {
  readonly name = 'wasm' as const;
  readonly threads: number;
  activeThreads: number;
  private readonly kernels: KernelExports;
  private readonly memory: WebAssembly.Memory;
  private readonly header: Int32Array;
  private readonly params: Float64Array;
  private readonly workers: Worker[];
  private readonly workBytes: number;
  private readonly workBase: number;
  private readonly arenaBase: number;
  private arenaTop = 0;
  private heap: Float32Array;
  /** The same memory as int32 (argmax indices). */
  private heapInt: Int32Array;
  private closed = false;
  private readonly minFlopsPerThread: number;

  constructor(kernels: KernelExports, memory: WebAssembly.Memory, control: SharedArrayBuffer,
    workers: Worker[], minFlopsPerThread: number) {
    this.minFlopsPerThread = minFlopsPerThread;
    this.kernels = kernels;
    this.memory = memory;
    this.header = new Int32Array(control, 0, HEADER_BYTES / 4);
    this.params = new Float64Array(control, HEADER_BYTES);
    this.workers = workers;
    this.threads = workers.length + 1;
    this.activeThreads = this.threads;
    this.workBytes = align(kernels.gemmWorkBytes());
    this.workBase = align(kernels.heapBase());
    this.arenaBase = this.workBase + this.threads * this.workBytes;
    this.heap = new Float32Array(memory.buffer);
    this.heapInt = new Int32Array(memory.buffer);
    this.reserve(this.arenaBase);
  }

  setThreads(count: number): void {
    if (!Number.isInteger(count) || count < 1 || count > this.threads) {
      throw new RangeError(`wasm backend: thread count must be 1..${this.threads}, got ${count}`);
    }
    this.activeThreads = count;
  }

  /** Grows the memory so that bytes [0, end) exist, and refreshes the heap view. */
  private reserve(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      if (have / PAGE + pages > MAXIMUM_PAGES) {
        throw new RangeError(`wasm backend: operands need ${end} bytes, more than 4 GiB`);
      }
      this.memory.grow(pages);
    }
    if (this.heap.buffer.byteLength !== this.memory.buffer.byteLength) {
      this.heap = new Float32Array(this.memory.buffer);
      this.heapInt = new Int32Array(this.memory.buffer);
    }
  }

  /** Arena allocation for the current call (released by the next call). */
  private allocate(floats: number): number {
    const address = this.arenaTop;
    this.arenaTop = align(address + floats * 4);
    this.reserve(this.arenaTop);
    return address;
  }

  /**
   * Byte address of a fresh arena block for `span` values of `array` from `offset`, filled
   * with them when `copy` is set.
   */
  private place(array: Float32Array, offset: number, span: number, copy: boolean): number {
    const address = this.allocate(span);
    if (copy) this.heap.set(array.subarray(offset, offset + span), address / 4);
    return address;
  }

  gemm(transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
    a: Float32Array, aOffset: number, lda: number, b: Float32Array, bOffset: number, ldb: number,
    beta: number, c: Float32Array, cOffset: number, ldc: number): void {
    this.gemmStridedBatched(1, transA, transB, m, n, k, alpha, a, aOffset, lda, 0,
      b, bOffset, ldb, 0, beta, c, cOffset, ldc, 0);
  }

  gemmStridedBatched(count: number, transA: boolean, transB: boolean, m: number, n: number,
    k: number, alpha: number,
    a: Float32Array, aOffset: number, lda: number, strideA: number,
    b: Float32Array, bOffset: number, ldb: number, strideB: number,
    beta: number, c: Float32Array, cOffset: number, ldc: number, strideC: number): void {
    if (this.closed) throw new Error('wasm backend: used after close()');
    if (count <= 0 || m <= 0 || n <= 0) return;

    // Spans (in elements) that the operands occupy, from their first element.
    const aRows = transA ? k : m;
    const aCols = transA ? m : k;
    const bRows = transB ? n : k;
    const bCols = transB ? k : n;
    const kEmpty = k <= 0;
    const aSpan = kEmpty ? 0 : (count - 1) * strideA + (aRows - 1) * lda + aCols;
    const bSpan = kEmpty ? 0 : (count - 1) * strideB + (bRows - 1) * ldb + bCols;
    const cSpan = (count - 1) * strideC + (m - 1) * ldc + n;
    // C's gaps (between rows or products) must survive the copy back: read C in unless beta = 0
    // and it is contiguous.
    const cContiguous = ldc === n && (count === 1 || strideC === m * n);
    const readC = beta !== 0 || !cContiguous;

    this.arenaTop = this.arenaBase;
    const aAt = kEmpty ? 0 : this.place(a, aOffset, aSpan, true);
    const bAt = kEmpty ? 0 : this.place(b, bOffset, bSpan, true);
    const cAt = this.place(c, cOffset, cSpan, readC);

    this.dispatch(count, transA, transB, m, n, Math.max(0, k), alpha, aAt, lda, strideA,
      bAt, ldb, strideB, beta, cAt, ldc, strideC);

    c.set(this.heap.subarray(cAt / 4, cAt / 4 + cSpan), cOffset);
  }

  /** Writes one job into `slot` of the control block. */
  private setSlot(slot: number, kind: number, count: number, transA: boolean, transB: boolean,
    m: number, n: number, k: number, alpha: number, a: number, lda: number, strideA: number,
    b: number, ldb: number, strideB: number, beta: number, c: number, ldc: number,
    strideC: number): void {
    const p = this.params;
    const s = slot * SLOT_FIELDS;
    p[s + KIND] = kind;
    p[s + COUNT] = count;
    p[s + TRANS_A] = transA ? 1 : 0;
    p[s + TRANS_B] = transB ? 1 : 0;
    p[s + M] = m;
    p[s + N] = n;
    p[s + K] = k;
    p[s + ALPHA] = alpha;
    p[s + A] = a;
    p[s + LDA] = lda;
    p[s + STRIDE_A] = strideA;
    p[s + B] = b;
    p[s + LDB] = ldb;
    p[s + STRIDE_B] = strideB;
    p[s + BETA] = beta;
    p[s + C] = c;
    p[s + LDC] = ldc;
    p[s + STRIDE_C] = strideC;
    p[s + WORK] = this.workBase + slot * this.workBytes;
  }

  /** Splits the work over the active threads, runs it and waits. */
  private dispatch(count: number, transA: boolean, transB: boolean, m: number, n: number,
    k: number, alpha: number, a: number, lda: number, strideA: number, b: number, ldb: number,
    strideB: number, beta: number, c: number, ldc: number, strideC: number): void {
    const flops = 2 * count * m * n * Math.max(1, k);
    let threads = Math.max(1,
      Math.min(this.activeThreads, Math.floor(flops / this.minFlopsPerThread)));
    if (threads === 1) {
      // The common small case: no control block, no workers.
      const kernels = this.kernels;
      if (count === 1) {
        kernels.gemm(transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
          this.workBase);
      } else {
        kernels.gemmStridedBatched(count, transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha,
          a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, this.workBase);
      }
      return;
    }

    if (count > 1) {
      // Batched: contiguous ranges of the batch.
      threads = Math.min(threads, count);
      const per = Math.ceil(count / threads);
      for (let slot = 0; slot < threads; slot++) {
        const t0 = slot * per;
        const items = Math.max(0, Math.min(per, count - t0));
        this.setSlot(slot, items > 0 ? GEMM_BATCHED : IDLE, items, transA, transB, m, n, k, alpha,
          a + 4 * t0 * strideA, lda, strideA, b + 4 * t0 * strideB, ldb, strideB,
          beta, c + 4 * t0 * strideC, ldc, strideC);
      }
    } else if (n >= m) {
      // Wide C: column blocks, multiples of NR wide.
      threads = Math.min(threads, Math.ceil(n / NR));
      const per = Math.ceil(Math.ceil(n / NR) / threads) * NR;
      for (let slot = 0; slot < threads; slot++) {
        const j0 = slot * per;
        const cols = Math.max(0, Math.min(per, n - j0));
        this.setSlot(slot, cols > 0 ? GEMM : IDLE, 1, transA, transB, m, cols, k, alpha,
          a, lda, 0, b + 4 * (transB ? j0 * ldb : j0), ldb, 0, beta, c + 4 * j0, ldc, 0);
      }
    } else {
      // Tall C: row blocks, multiples of MR tall.
      threads = Math.min(threads, Math.ceil(m / MR));
      const per = Math.ceil(Math.ceil(m / MR) / threads) * MR;
      for (let slot = 0; slot < threads; slot++) {
        const i0 = slot * per;
        const rows = Math.max(0, Math.min(per, m - i0));
        this.setSlot(slot, rows > 0 ? GEMM : IDLE, 1, transA, transB, rows, n, k, alpha,
          a + 4 * (transA ? i0 : i0 * lda), lda, 0, b, ldb, 0, beta, c + 4 * i0 * ldc, ldc, 0);
      }
    }
    this.run(threads);
  }

  /** Runs slots 0..threads-1: slot 0 here, the others on workers 0..threads-2. */
  private run(threads: number): void {
    if (threads <= 1) {
      runSlot(this.kernels, this.params, 0);
      return;
    }
    for (let slot = threads; slot < this.threads; slot++) {
      this.params[slot * SLOT_FIELDS + KIND] = IDLE;
    }
    const header = this.header;
    Atomics.store(header, DONE, 0);
    Atomics.add(header, GENERATION, 1);
    Atomics.notify(header, GENERATION);
    try {
      runSlot(this.kernels, this.params, 0);
    } finally {
      // Every worker reports once per generation, busy or idle; spin briefly, then sleep.
      const expected = this.workers.length;
      for (let spin = 0; spin < 2000 && Atomics.load(header, DONE) < expected; spin++);
      for (;;) {
        const done = Atomics.load(header, DONE);
        if (done >= expected) break;
        Atomics.wait(header, DONE, done, 10);
      }
    }
    if (Atomics.exchange(header, FAILED, 0) !== 0) {
      throw new Error('wasm backend: a kernel failed on a worker thread (out-of-bounds access?)');
    }
  }

  /**
   * Runs a convolution job over the batch. The batch is cut into at most CONV_CHUNKS chunks of
   * consecutive images, fixed by the batch size alone; threads take whole chunks, each with its
   * own columns buffer, and every chunk sums its weight gradient into its own buffer. The chunk
   * sums are added in chunk order, so results are the same for every thread count.
   */
  private convolve(kind: number, geometry: PatchGeometry, batch: number, otherChannels: number,
    x: Float32Array, xFloats: number, weight: Float32Array, y: Float32Array, yFloats: number,
    readY: boolean, gradX: Float32Array | null, gradWeight: Float32Array | null,
    bias: Float32Array | null = null): void {
    if (this.closed) throw new Error('wasm backend: used after close()');
    if (batch <= 0) return;
    const { channels, kernelHeight, kernelWidth, outHeight, outWidth } = geometry;
    const rows = channels * kernelHeight * kernelWidth;
    const positions = outHeight * outWidth;
    const chunk = Math.ceil(batch / Math.min(batch, CONV_CHUNKS));
    const chunks = Math.ceil(batch / chunk);
    const flops = 2 * batch * rows * positions * otherChannels * (readY ? 2 : 1);
    const threads = Math.max(1, Math.min(this.activeThreads, chunks,
      Math.floor(flops / this.minFlopsPerThread)));
    const chunksPerThread = Math.ceil(chunks / threads);

    this.arenaTop = this.arenaBase;
    const xAt = this.place(x, 0, batch * xFloats, true);
    const wAt = this.place(weight, 0, weight.length, true);
    const yAt = this.place(y, 0, batch * yFloats, readY);
    const dxAt = gradX === null ? 0 : this.place(gradX, 0, batch * xFloats, false);
    // Forward calls may add a bias while the output is here (see runConvolutionChunks).
    const biasAt = bias === null ? 0 : this.place(bias, 0, bias.length, true);
    const dwBytes = align(4 * weight.length);
    const dwAt = gradWeight === null ? 0 : this.allocate(chunks * dwBytes / 4);
    if (gradWeight !== null) this.heap.fill(0, dwAt / 4, (dwAt + chunks * dwBytes) / 4);

    for (let slot = 0; slot < threads; slot++) {
      const firstChunk = slot * chunksPerThread;
      const t0 = Math.min(batch, firstChunk * chunk);
      const count = Math.max(0, Math.min(chunksPerThread * chunk, batch - t0));
      const p = this.params;
      const s = slot * SLOT_FIELDS;
      p[s + KIND] = count > 0 ? kind : IDLE;
      p[s + COUNT] = count;
      p[s + CHUNK] = chunk;
      p[s + CHANNELS] = channels;
      p[s + HEIGHT] = geometry.height;
      p[s + WIDTH] = geometry.width;
      p[s + KERNEL_H] = kernelHeight;
      p[s + KERNEL_W] = kernelWidth;
      p[s + STRIDE] = geometry.stride;
      p[s + PADDING] = geometry.padding;
      p[s + OUT_H] = outHeight;
      p[s + OUT_W] = outWidth;
      p[s + X] = xAt + 4 * t0 * xFloats;
      p[s + X_BYTES] = 4 * xFloats;
      p[s + WEIGHT] = wAt;
      p[s + OTHER_CHANNELS] = otherChannels;
      p[s + Y] = yAt + 4 * t0 * yFloats;
      p[s + Y_BYTES] = 4 * yFloats;
      p[s + DX] = gradX === null ? 0 : dxAt + 4 * t0 * xFloats;
      p[s + DW] = gradWeight === null ? 0 : dwAt + firstChunk * dwBytes;
      p[s + DW_BYTES] = dwBytes;
      p[s + BIAS] = biasAt;
      p[s + COLS] = count > 0 ? this.allocate(rows * positions) : 0;
      p[s + WORK] = this.workBase + slot * this.workBytes;
    }
    this.run(threads);

    // Copy the results back; the weight gradient is the sum of the chunk sums, in chunk order.
    const heap = this.heap;
    if (!readY) y.set(heap.subarray(yAt / 4, yAt / 4 + batch * yFloats));
    if (gradX !== null) gradX.set(heap.subarray(dxAt / 4, dxAt / 4 + batch * xFloats));
    if (gradWeight !== null) {
      const size = weight.length;
      const first = dwAt / 4;
      for (let c = 1; c < chunks; c++) {
        const from = (dwAt + c * dwBytes) / 4;
        for (let i = 0; i < size; i++) heap[first + i] += heap[from + i];
      }
      gradWeight.set(heap.subarray(first, first + size));
    }
  }

  conv2dForward(geometry: PatchGeometry, batch: number, outChannels: number, x: Float32Array,
    weight: Float32Array, out: Float32Array, bias: Float32Array | null = null): void {
    const xFloats = geometry.channels * geometry.height * geometry.width;
    this.convolve(CONV_FORWARD, geometry, batch, outChannels, x, xFloats, weight, out,
      outChannels * geometry.outHeight * geometry.outWidth, false, null, null, bias);
  }

  conv2dBackward(geometry: PatchGeometry, batch: number, outChannels: number, x: Float32Array,
    weight: Float32Array, gradOut: Float32Array, gradX: Float32Array | null,
    gradWeight: Float32Array | null): void {
    const xFloats = geometry.channels * geometry.height * geometry.width;
    this.convolve(CONV_BACKWARD, geometry, batch, outChannels, x, xFloats, weight, gradOut,
      outChannels * geometry.outHeight * geometry.outWidth, true, gradX, gradWeight);
  }

  convTranspose2dForward(geometry: PatchGeometry, batch: number, inChannels: number,
    x: Float32Array, weight: Float32Array, out: Float32Array,
    bias: Float32Array | null = null): void {
    const xFloats = inChannels * geometry.outHeight * geometry.outWidth;
    this.convolve(CONV_TRANSPOSE_FORWARD, geometry, batch, inChannels, x, xFloats, weight, out,
      geometry.channels * geometry.height * geometry.width, false, null, null, bias);
  }

  convTranspose2dBackward(geometry: PatchGeometry, batch: number, inChannels: number,
    x: Float32Array, weight: Float32Array, gradOut: Float32Array, gradX: Float32Array | null,
    gradWeight: Float32Array | null): void {
    const xFloats = inChannels * geometry.outHeight * geometry.outWidth;
    this.convolve(CONV_TRANSPOSE_BACKWARD, geometry, batch, inChannels, x, xFloats, weight,
      gradOut, geometry.channels * geometry.height * geometry.width, true, gradX, gradWeight);
  }

  /**
   * Threads for a job of `work` elementary steps cut into at most `pieces` pieces: a piece of
   * less than about minFlopsPerThread / 8 steps (a comparison with two selects, or a scattered
   * add, costs several flops' time) would not pay for waking a worker.
   */
  private threadsFor(work: number, pieces: number): number {
    return Math.max(1, Math.min(this.activeThreads, pieces,
      Math.floor(8 * work / this.minFlopsPerThread)));
  }

  maxPool2dForward(planes: number, height: number, width: number, kernel: number,
    stride: number, x: Float32Array, out: Float32Array, argmax: Int32Array): void {
    if (this.closed) throw new Error('wasm backend: used after close()');
    if (planes <= 0) return;
    const outHeight = Math.floor((height - kernel) / stride) + 1;
    const outWidth = Math.floor((width - kernel) / stride) + 1;
    const inPlane = height * width;
    const outPlane = outHeight * outWidth;
    const threads = this.threadsFor(planes * kernel * (height * outWidth + outPlane), planes);

    this.arenaTop = this.arenaBase;
    const xAt = this.place(x, 0, planes * inPlane, true);
    const outAt = this.allocate(planes * outPlane);
    const argAt = this.allocate(planes * outPlane);
    const scratch = this.kernels.maxPoolWorkBytes(height, outWidth) / 4;
    const p = this.params;
    this.assignPlanes(planes, threads, MAX_POOL, (s, p0, count) => {
      p[s + COUNT] = count;
      p[s + HEIGHT] = height;
      p[s + WIDTH] = width;
      p[s + KERNEL_H] = kernel;
      p[s + STRIDE] = stride;
      p[s + OUT_H] = outHeight;
      p[s + OUT_W] = outWidth;
      p[s + X] = xAt + 4 * p0 * inPlane;
      p[s + Y] = outAt + 4 * p0 * outPlane;
      p[s + DX] = argAt + 4 * p0 * outPlane;
      p[s + FIRST_PLANE] = p0;
      p[s + COLS] = count > 0 ? this.allocate(scratch) : 0;
    });
    this.run(threads);

    out.set(this.heap.subarray(outAt / 4, outAt / 4 + planes * outPlane));
    argmax.set(this.heapInt.subarray(argAt / 4, argAt / 4 + planes * outPlane));
  }

  maxPool2dBackward(planes: number, inPlane: number, outPlane: number, gradOut: Float32Array,
    argmax: Int32Array, gradX: Float32Array): void {
    if (this.closed) throw new Error('wasm backend: used after close()');
    if (planes <= 0) return;
    // Threads take whole planes: the windows of one plane only reach that plane's inputs.
    const threads = this.threadsFor(planes * outPlane, planes);

    this.arenaTop = this.arenaBase;
    const gAt = this.place(gradOut, 0, planes * outPlane, true);
    const argAt = this.allocate(planes * outPlane);
    this.heapInt.set(argmax.subarray(0, planes * outPlane), argAt / 4);
    const gxAt = this.allocate(planes * inPlane);
    this.heap.fill(0, gxAt / 4, gxAt / 4 + planes * inPlane);
    const p = this.params;
    this.assignPlanes(planes, threads, MAX_POOL_SCATTER, (s, p0, count) => {
      p[s + COUNT] = count * outPlane;
      p[s + Y] = gAt + 4 * p0 * outPlane;
      p[s + DX] = argAt + 4 * p0 * outPlane;
      p[s + X] = gxAt;
    });
    this.run(threads);

    gradX.set(this.heap.subarray(gxAt / 4, gxAt / 4 + planes * inPlane));
  }

  upsampleNearest2dBackward(planes: number, height: number, width: number, outHeight: number,
    outWidth: number, rows: Int32Array, cols: Int32Array, gradOut: Float32Array,
    gradX: Float32Array): void {
    if (this.closed) throw new Error('wasm backend: used after close()');
    if (planes <= 0) return;
    const inPlane = height * width;
    const outPlane = outHeight * outWidth;
    const threads = this.threadsFor(planes * (outPlane + inPlane), planes);

    this.arenaTop = this.arenaBase;
    const gAt = this.place(gradOut, 0, planes * outPlane, true);
    const gxAt = this.allocate(planes * inPlane);
    const rowsAt = this.allocate(outHeight);
    this.heapInt.set(rows.subarray(0, outHeight), rowsAt / 4);
    const colsAt = this.allocate(outWidth);
    this.heapInt.set(cols.subarray(0, outWidth), colsAt / 4);
    const p = this.params;
    this.assignPlanes(planes, threads, UPSAMPLE_BACKWARD, (s, p0, count) => {
      p[s + COUNT] = count;
      p[s + HEIGHT] = height;
      p[s + WIDTH] = width;
      p[s + OUT_H] = outHeight;
      p[s + OUT_W] = outWidth;
      p[s + A] = rowsAt;
      p[s + B] = colsAt;
      p[s + Y] = gAt + 4 * p0 * outPlane;
      p[s + X] = gxAt + 4 * p0 * inPlane;
      p[s + COLS] = count > 0 ? this.allocate(outWidth) : 0;
    });
    this.run(threads);

    gradX.set(this.heap.subarray(gxAt / 4, gxAt / 4 + planes * inPlane));
  }

  /**
   * Splits `planes` over the first `threads` slots in whole planes (ceil(planes / threads) each):
   * sets each slot's job kind (IDLE where none is left) and lets `fill(slotField, firstPlane,
   * count)` write the job's own fields.
   */
  private assignPlanes(planes: number, threads: number, kind: number,
    fill: (slotField: number, firstPlane: number, count: number) => void): void {
    const per = Math.ceil(planes / threads);
    for (let slot = 0; slot < threads; slot++) {
      const first = slot * per;
      const count = Math.max(0, Math.min(per, planes - first));
      const field = slot * SLOT_FIELDS;
      this.params[field + KIND] = count > 0 ? kind : IDLE;
      fill(field, first, count);
    }
  }

  peakLoop(iterations: number): number {
    return this.kernels.peakLoop(iterations);
  }

  peakLoopAllThreads(iterations: number): number {
    const threads = this.activeThreads;
    for (let slot = 0; slot < threads; slot++) {
      this.params[slot * SLOT_FIELDS + KIND] = PEAK;
      this.params[slot * SLOT_FIELDS + M] = iterations;
    }
    const start = performance.now();
    this.run(threads);
    return (performance.now() - start) / 1000;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.header, SHUTDOWN, 1);
    Atomics.add(this.header, GENERATION, 1);
    Atomics.notify(this.header, GENERATION);
    // terminate() also settles for a worker that has already left its loop.
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}

/** Starts a worker on the shared module and memory; resolves once it is serving. */
function startWorker(module: WebAssembly.Module, memory: WebAssembly.Memory,
  control: SharedArrayBuffer, slot: number): Promise<Worker> {
  const url = new URL('./wasm-worker.js', import.meta.url);
  const worker = new Worker(fileURLToPath(url), { workerData: { module, memory, control, slot } });
  return new Promise((resolve, reject) => {
    worker.once('message', () => {
      worker.unref();
      resolve(worker);
    });
    worker.once('error', reject);
    worker.once('exit',
      (code) => reject(new Error(`wasm worker ${slot} exited with code ${code}`)));
  });
}

/**
 * Loads dist/kernels.wasm and starts the wasm backend with `threads` threads (default: the
 * number of cores; the main thread counts as one). Throws when the file is missing or the
 * runtime lacks WebAssembly SIMD, threads or shared memory; callers may then keep the reference
 * backend.
 */
export async function createWasmBackend(options: WasmBackendOptions = {}): Promise<WasmBackend> {
  const threads = options.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
    throw new RangeError(`wasm backend: threads must be an integer in 1..256, got ${threads}`);
  }
  const url = options.wasmUrl ?? defaultWasmUrl();
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = new Uint8Array(await readFile(url)) as Uint8Array<ArrayBuffer>;
  } catch {
    throw new Error(`wasm backend: ${fileURLToPath(url)} not found; run \`npm run build:wasm\``);
  }
  const module = await WebAssembly.compile(bytes);
  const memory = new WebAssembly.Memory({
    initial: INITIAL_PAGES, maximum: MAXIMUM_PAGES, shared: true,
  });
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const kernels = instance.exports as unknown as KernelExports;

  const control = new SharedArrayBuffer(HEADER_BYTES + threads * SLOT_FIELDS * 8);
  const workers: Worker[] = [];
  try {
    for (let slot = 1; slot < threads; slot++) {
      workers.push(await startWorker(module, memory, control, slot));
    }
  } catch (error) {
    Atomics.store(new Int32Array(control), SHUTDOWN, 1);
    await Promise.all(workers.map((worker) => worker.terminate()));
    throw error;
  }
  return new WasmKernelBackend(kernels, memory, control, workers,
    options.minFlopsPerThread ?? 1 << 21);
}
