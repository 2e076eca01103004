import { result, type Tensor } from '../tensor.js';
import { check, giveGrad } from './check.js';

/** Running statistics and settings of a batch normalisation (see `batchNorm`). */
export interface BatchNormState {
  /** Per-channel running mean, updated in place while training. */
  runningMean: Float32Array;
  /** Per-channel running (unbiased) variance, updated in place while training. */
  runningVar: Float32Array;
  /** Weight of the new batch statistic in the running average (PyTorch: 0.1). */
  momentum: number;
  /** Added to the variance before the square root (PyTorch: 1e-5). */
  eps: number;
}

/**
 * Batch normalisation over axis 1 of x [N, C, ...] (Ioffe and Szegedy 2015, as in PyTorch's
 * BatchNorm1d/2d): y = weight[c] (x - mu[c]) / sqrt(var[c] + eps) + bias[c].
 *
 * Training: mu and var are the batch mean and biased variance over N and the spatial axes, and
 * the running statistics move towards them (the running variance takes the unbiased estimate).
 * Evaluation: the running statistics are used and left unchanged.
 */
export function batchNorm(x: Tensor, weight: Tensor, bias: Tensor, state: BatchNormState,
  training: boolean): Tensor {
  check(x.rank >= 2, () => `batchNorm: input must be [N, C, ...], got shape [${x.shape}]`);
  const [batch, channels] = x.shape;
  check(weight.size === channels && bias.size === channels
    && state.runningMean.length === channels && state.runningVar.length === channels,
  () => `batchNorm: parameters for ${weight.size} channels, input [${x.shape}] has ${channels}`);
  const plane = x.size / Math.max(1, batch * channels);
  const count = batch * plane;
  const xv = x.data;

  // Per-channel statistics in float64.
  const mu = new Float64Array(channels);
  const invStd = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    let m: number;
    let variance: number;
    if (training) {
      let s = 0;
      for (let n = 0; n < batch; n++) {
        const base = (n * channels + c) * plane;
        for (let p = 0; p < plane; p++) s += xv[base + p];
      }
      m = s / count;
      let ss = 0;
      for (let n = 0; n < batch; n++) {
        const base = (n * channels + c) * plane;
        for (let p = 0; p < plane; p++) {
          const d = xv[base + p] - m;
          ss += d * d;
        }
      }
      variance = ss / count;
      const unbiased = count > 1 ? ss / (count - 1) : variance;
      state.runningMean[c] = (1 - state.momentum) * state.runningMean[c] + state.momentum * m;
      state.runningVar[c] = (1 - state.momentum) * state.runningVar[c] + state.momentum * unbiased;
    } else {
      m = state.runningMean[c];
      variance = state.runningVar[c];
    }
    mu[c] = m;
    invStd[c] = 1 / Math.sqrt(variance + state.eps);
  }

  const out = new Float32Array(x.size);
  const xhat = new Float32Array(x.size);
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      const base = (n * channels + c) * plane;
      const w = weight.data[c];
      const b = bias.data[c];
      for (let p = 0; p < plane; p++) {
        const h = (xv[base + p] - mu[c]) * invStd[c];
        xhat[base + p] = h;
        out[base + p] = w * h + b;
      }
    }
  }

  return result(out, x.shape, [x, weight, bias], (g) => {
    // Per-channel sums of g and g xhat give every gradient.
    const sumG = new Float64Array(channels);
    const sumGX = new Float64Array(channels);
    for (let n = 0; n < batch; n++) {
      for (let c = 0; c < channels; c++) {
        const base = (n * channels + c) * plane;
        let sg = 0;
        let sgx = 0;
        for (let p = 0; p < plane; p++) {
          sg += g[base + p];
          sgx += g[base + p] * xhat[base + p];
        }
        sumG[c] += sg;
        sumGX[c] += sgx;
      }
    }
    if (weight.requiresGrad) giveGrad(weight, Float32Array.from(sumGX));
    if (bias.requiresGrad) giveGrad(bias, Float32Array.from(sumG));
    if (!x.requiresGrad) return;

    // Training: dx = w invStd (g - mean(g) - xhat mean(g xhat)); evaluation: dx = w invStd g.
    const gx = new Float32Array(x.size);
    for (let n = 0; n < batch; n++) {
      for (let c = 0; c < channels; c++) {
        const base = (n * channels + c) * plane;
        const factor = weight.data[c] * invStd[c];
        const meanG = training ? sumG[c] / count : 0;
        const meanGX = training ? sumGX[c] / count : 0;
        for (let p = 0; p < plane; p++) {
          gx[base + p] = factor * (g[base + p] - meanG - xhat[base + p] * meanGX);
        }
      }
    }
    giveGrad(x, gx);
  });
}
