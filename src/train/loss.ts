import { giveGrad } from '../engine/ops/check.js';
import { result, type Tensor } from '../engine/tensor.js';

/**
 * Cross-entropy of class logits against integer targets, averaged over all samples and pixels
 * (PyTorch's F.cross_entropy with reduction 'mean'):
 *
 *   loss = sum_s w[y_s] (logsumexp_c x_{s,c} - x_{s,y_s}) / sum_s w[y_s],
 *
 * where s runs over samples (and pixels) and w are the optional per-class weights (all 1 when
 * omitted, which makes the denominator the number of terms). The log-sum-exp subtracts the
 * largest logit first, so large logits do not overflow.
 *
 * logits: [N, C] with targets [N], or [N, C, H, W] with targets [N, H, W] (row-major); targets
 * hold class indices 0..C-1. Result: a scalar tensor (shape []), in nats.
 */
export function crossEntropy(logits: Tensor, targets: Int32Array | Uint8Array,
  classWeights?: ArrayLike<number>): Tensor {
  if (logits.rank < 2) {
    throw new RangeError(`crossEntropy: logits must be [N, C, ...], got shape [${logits.shape}]`);
  }
  const [batch, classes] = logits.shape;
  const plane = logits.size / Math.max(1, batch * classes);
  const terms = batch * plane;
  if (targets.length !== terms) {
    throw new RangeError(`crossEntropy: logits [${logits.shape}] need ${terms} targets, got ${
      targets.length}`);
  }
  if (classWeights !== undefined && classWeights.length !== classes) {
    throw new RangeError(
      `crossEntropy: ${classWeights.length} class weights for ${classes} classes`);
  }
  const x = logits.data;

  for (let i = 0; i < terms; i++) {
    const target = targets[i];
    if (!(target >= 0 && target < classes)) {
      throw new RangeError(`crossEntropy: target ${target} at ${i} is not in 0..${classes - 1}`);
    }
  }

  // Softmax probabilities are kept for the gradient, w (softmax - onehot) / W. Loops run over
  // contiguous pixels with the class outermost.
  const probabilities = new Float32Array(logits.size);
  const max = new Float64Array(plane);
  const sum = new Float64Array(plane);
  let total = 0;
  let weightSum = 0;
  for (let n = 0; n < batch; n++) {
    const base = n * classes * plane;
    max.fill(-Infinity);
    sum.fill(0);
    for (let c = 0; c < classes; c++) {
      const row = base + c * plane;
      for (let p = 0; p < plane; p++) if (x[row + p] > max[p]) max[p] = x[row + p];
    }
    for (let c = 0; c < classes; c++) {
      const row = base + c * plane;
      for (let p = 0; p < plane; p++) {
        const e = Math.exp(x[row + p] - max[p]);
        probabilities[row + p] = e;
        sum[p] += e;
      }
    }
    for (let c = 0; c < classes; c++) {
      const row = base + c * plane;
      for (let p = 0; p < plane; p++) probabilities[row + p] /= sum[p];
    }
    for (let p = 0; p < plane; p++) {
      const target = targets[n * plane + p];
      const w = classWeights === undefined ? 1 : classWeights[target];
      total += w * (max[p] + Math.log(sum[p]) - x[base + target * plane + p]);
      weightSum += w;
    }
  }
  const loss = weightSum > 0 ? total / weightSum : 0;

  return result(Float32Array.of(loss), [], [logits], (g) => {
    const scale = weightSum > 0 ? g[0] / weightSum : 0;
    const gx = new Float32Array(logits.size);
    for (let n = 0; n < batch; n++) {
      for (let p = 0; p < plane; p++) {
        const base = n * classes * plane + p;
        const target = targets[n * plane + p];
        const w = (classWeights === undefined ? 1 : classWeights[target]) * scale;
        for (let c = 0; c < classes; c++) {
          gx[base + c * plane] = w * probabilities[base + c * plane];
        }
        gx[base + target * plane] -= w;
      }
    }
    giveGrad(logits, gx);
  });
}
