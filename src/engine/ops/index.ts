/**
 * Differentiable tensor operations, each with a hand-written vector-Jacobian product. Heavy
 * loops (matrix products, convolutions) go through the kernel backend (../kernels).
 */
export {
  add, addScalar, div, exp, log, mul, neg, relu, reluInPlace, scale, sigmoid, sqrt, square, sub,
  tanh,
} from './elementwise.js';
export { broadcastIndex, broadcastShape, broadcastTo, sumToShape } from './broadcast.js';
export { concat, flatten, permute, reshape, slice, transpose } from './shape.js';
export { mean, sum } from './reduce.js';
export { bmm, linear, matmul } from './matmul.js';
export {
  convolutionBackend, gemmStridedBatched, type ConvolutionBackend, type StridedBatchedBackend,
} from './extensions.js';
export { conv2d, convolutionSettings, convTranspose2d } from './conv.js';
export { col2im, im2col, type PatchGeometry } from './im2col.js';
export { globalAvgPool2d, maxPool2d, upsampleNearest2d } from './pool.js';
export { batchNorm, type BatchNormState } from './norm.js';
export { logSoftmax } from './softmax.js';
export { giveGrad } from './check.js';
