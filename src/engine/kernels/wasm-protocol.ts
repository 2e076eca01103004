/**
 * The job protocol between the wasm backend (main thread) and its worker threads.
 *
 * Control block: a SharedArrayBuffer holding an Int32Array header and a Float64Array of job
 * slots, one slot per thread. The main thread writes the slots, then bumps GENERATION and
 * notifies; every worker wakes, runs its own slot (if its kind is not IDLE), adds one to DONE
 * and notifies. SHUTDOWN set to 1 ends the worker loops. A worker whose kernel traps sets FAILED
 * and still reports DONE, so the main thread never waits forever.
 */
export const GENERATION = 0;
export const DONE = 1;
export const SHUTDOWN = 2;
/** Set by a worker whose kernel threw (a trap); the main thread reports it after the job. */
export const FAILED = 3;
export const HEADER_BYTES = 64;

/** Job kinds (slot field KIND). */
export const IDLE = 0;
export const GEMM = 1;
export const GEMM_BATCHED = 2;
/** The SIMD peak loop (src/assembly peakLoop), iterations in field M. */
export const PEAK = 3;
/** Convolution jobs over a range of images (src/assembly convForward etc.). */
export const CONV_FORWARD = 4;
export const CONV_BACKWARD = 5;
export const CONV_TRANSPOSE_FORWARD = 6;
export const CONV_TRANSPOSE_BACKWARD = 7;
/**
 * Max pooling of COUNT planes (src/assembly maxPoolPlanes): geometry in HEIGHT, WIDTH, KERNEL_H,
 * STRIDE, OUT_H, OUT_W; x at X, out at Y, argmax at DX, scratch at COLS, first plane's index
 * FIRST_PLANE.
 */
export const MAX_POOL = 8;
/** gx[argmax[o]] += g[o] for COUNT outputs (maxPoolScatter): g at Y, argmax at DX, gx at X. */
export const MAX_POOL_SCATTER = 9;
/**
 * Nearest-upsampling backward of COUNT planes (upsampleNearestBackward): HEIGHT, WIDTH, OUT_H,
 * OUT_W; row and column tables at A and B, g at Y, gx at X, a scratch row at COLS.
 */
export const UPSAMPLE_BACKWARD = 10;

/** Fields of a job slot, in float64 (addresses and sizes fit exactly below 2^53). */
export const KIND = 0;
export const TRANS_A = 1;
export const TRANS_B = 2;
export const M = 3;
export const N = 4;
export const K = 5;
export const ALPHA = 6;
export const A = 7;
export const LDA = 8;
export const B = 9;
export const LDB = 10;
export const BETA = 11;
export const C = 12;
export const LDC = 13;
export const WORK = 14;
export const COUNT = 15;
export const STRIDE_A = 16;
export const STRIDE_B = 17;
export const STRIDE_C = 18;
/** Max pooling: index of the slot's first plane in the whole input. */
export const FIRST_PLANE = 19;
/** Convolution fields: patch geometry (ops/im2col.ts), operands, scratch columns. */
export const CHANNELS = 20;
export const HEIGHT = 21;
export const WIDTH = 22;
export const KERNEL_H = 23;
export const KERNEL_W = 24;
export const STRIDE = 25;
export const PADDING = 26;
export const OUT_H = 27;
export const OUT_W = 28;
export const X = 29;
export const WEIGHT = 30;
/** Output channels of a convolution, input channels of a transposed one. */
export const OTHER_CHANNELS = 31;
export const Y = 32;
export const DX = 33;
export const DW = 34;
export const COLS = 35;
/** Images per chunk: the kernel runs once per chunk, each with its own weight-gradient sum. */
export const CHUNK = 36;
/** Bytes per image of x (and dx) and of y (or dy); bytes between consecutive chunk sums. */
export const X_BYTES = 37;
export const Y_BYTES = 38;
export const DW_BYTES = 39;
/** Forward convolutions: address of the bias added to each output channel, 0 for none. */
export const BIAS = 40;
export const SLOT_FIELDS = 41;

/** The exports of dist/kernels.wasm (see src/assembly/kernels.ts). */
export interface KernelExports {
  heapBase(): number;
  gemmWorkBytes(): number;
  gemm(transA: number, transB: number, m: number, n: number, k: number, alpha: number,
    a: number, lda: number, b: number, ldb: number, beta: number, c: number, ldc: number,
    work: number): void;
  gemmStridedBatched(count: number, transA: number, transB: number, m: number, n: number,
    k: number, alpha: number, a: number, lda: number, strideA: number, b: number, ldb: number,
    strideB: number, beta: number, c: number, ldc: number, strideC: number, work: number): void;
  peakLoop(iterations: number): number;
  convForward(count: number, channels: number, height: number, width: number, kh: number,
    kw: number, stride: number, padding: number, outH: number, outW: number, x: number,
    w: number, outChannels: number, out: number, cols: number, work: number): void;
  convBackward(count: number, channels: number, height: number, width: number, kh: number,
    kw: number, stride: number, padding: number, outH: number, outW: number, x: number,
    w: number, outChannels: number, dy: number, dx: number, dw: number, cols: number,
    work: number): void;
  convTransposeForward(count: number, channels: number, height: number, width: number,
    kh: number, kw: number, stride: number, padding: number, outH: number, outW: number,
    x: number, w: number, inChannels: number, out: number, cols: number, work: number): void;
  convTransposeBackward(count: number, channels: number, height: number, width: number,
    kh: number, kw: number, stride: number, padding: number, outH: number, outW: number,
    x: number, w: number, inChannels: number, dy: number, dx: number, dw: number, cols: number,
    work: number): void;
  maxPoolWorkBytes(height: number, outW: number): number;
  maxPoolPlanes(count: number, height: number, width: number, kernel: number, stride: number,
    outH: number, outW: number, x: number, out: number, argmax: number, firstPlane: number,
    work: number): void;
  maxPoolScatter(count: number, g: number, argmax: number, gx: number): void;
  addBiasPlanes(count: number, channels: number, plane: number, y: number, bias: number): void;
  upsampleNearestBackward(count: number, height: number, width: number, outH: number,
    outW: number, rows: number, cols: number, g: number, gx: number, row: number): void;
}

/** Runs the job in `slot` of `params` on `kernels`. */
export function runSlot(kernels: KernelExports, params: Float64Array, slot: number): void {
  const s = slot * SLOT_FIELDS;
  const kind = params[s + KIND];
  if (kind === GEMM) {
    kernels.gemm(params[s + TRANS_A], params[s + TRANS_B], params[s + M], params[s + N],
      params[s + K], params[s + ALPHA], params[s + A], params[s + LDA], params[s + B],
      params[s + LDB], params[s + BETA], params[s + C], params[s + LDC], params[s + WORK]);
  } else if (kind === GEMM_BATCHED) {
    kernels.gemmStridedBatched(params[s + COUNT], params[s + TRANS_A], params[s + TRANS_B],
      params[s + M], params[s + N], params[s + K], params[s + ALPHA], params[s + A],
      params[s + LDA], params[s + STRIDE_A], params[s + B], params[s + LDB], params[s + STRIDE_B],
      params[s + BETA], params[s + C], params[s + LDC], params[s + STRIDE_C], params[s + WORK]);
  } else if (kind === PEAK) {
    kernels.peakLoop(params[s + M]);
  } else if (kind >= CONV_FORWARD && kind <= CONV_TRANSPOSE_BACKWARD) {
    runConvolutionChunks(kernels, params, s, kind);
  } else if (kind === MAX_POOL) {
    kernels.maxPoolPlanes(params[s + COUNT], params[s + HEIGHT], params[s + WIDTH],
      params[s + KERNEL_H], params[s + STRIDE], params[s + OUT_H], params[s + OUT_W],
      params[s + X], params[s + Y], params[s + DX], params[s + FIRST_PLANE], params[s + COLS]);
  } else if (kind === MAX_POOL_SCATTER) {
    kernels.maxPoolScatter(params[s + COUNT], params[s + Y], params[s + DX], params[s + X]);
  } else if (kind === UPSAMPLE_BACKWARD) {
    kernels.upsampleNearestBackward(params[s + COUNT], params[s + HEIGHT], params[s + WIDTH],
      params[s + OUT_H], params[s + OUT_W], params[s + A], params[s + B], params[s + Y],
      params[s + X], params[s + COLS]);
  }
}

/** Runs a convolution slot chunk by chunk (COUNT images, CHUNK at a time). */
function runConvolutionChunks(kernels: KernelExports, params: Float64Array, s: number,
  kind: number): void {
  const count = params[s + COUNT];
  const chunk = params[s + CHUNK];
  const dx = params[s + DX];
  const dw = params[s + DW];
  for (let t = 0, index = 0; t < count; t += chunk, index++) {
    const images = Math.min(chunk, count - t);
    const x = params[s + X] + t * params[s + X_BYTES];
    const y = params[s + Y] + t * params[s + Y_BYTES];
    const dxt = dx === 0 ? 0 : dx + t * params[s + X_BYTES];
    const dwt = dw === 0 ? 0 : dw + index * params[s + DW_BYTES];
    const g = [images, params[s + CHANNELS], params[s + HEIGHT], params[s + WIDTH],
      params[s + KERNEL_H], params[s + KERNEL_W], params[s + STRIDE], params[s + PADDING],
      params[s + OUT_H], params[s + OUT_W], x, params[s + WEIGHT],
      params[s + OTHER_CHANNELS]] as const;
    const bias = params[s + BIAS];
    if (kind === CONV_FORWARD) {
      kernels.convForward(...g, y, params[s + COLS], params[s + WORK]);
      if (bias !== 0) {
        kernels.addBiasPlanes(images, params[s + OTHER_CHANNELS],
          params[s + OUT_H] * params[s + OUT_W], y, bias);
      }
    } else if (kind === CONV_BACKWARD) {
      kernels.convBackward(...g, y, dxt, dwt, params[s + COLS], params[s + WORK]);
    } else if (kind === CONV_TRANSPOSE_FORWARD) {
      kernels.convTransposeForward(...g, y, params[s + COLS], params[s + WORK]);
      if (bias !== 0) {
        kernels.addBiasPlanes(images, params[s + CHANNELS],
          params[s + HEIGHT] * params[s + WIDTH], y, bias);
      }
    } else {
      kernels.convTransposeBackward(...g, y, dxt, dwt, params[s + COLS], params[s + WORK]);
    }
  }
}
