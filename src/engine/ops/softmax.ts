import { result, type Tensor } from '../tensor.js';
import { giveGrad, normaliseAxis } from './check.js';

/**
 * log softmax along `axis`: y_i = x_i - log sum_j exp(x_j), computed with the maximum
 * subtracted first so that large logits do not overflow. Gradient: dx = dy - softmax sum(dy).
 */
export function logSoftmax(x: Tensor, axis = 1): Tensor {
  const ax = normaliseAxis('logSoftmax', axis, x.rank);
  const extent = x.shape[ax];
  const inner = x.shape.slice(ax + 1).reduce((p, e) => p * e, 1);
  const outer = x.size / Math.max(1, extent * inner);
  const xv = x.data;

  const out = new Float32Array(x.size);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * extent * inner + i;
      let max = -Infinity;
      for (let k = 0; k < extent; k++) max = Math.max(max, xv[base + k * inner]);
      let s = 0;
      for (let k = 0; k < extent; k++) s += Math.exp(xv[base + k * inner] - max);
      const lse = max + Math.log(s);
      for (let k = 0; k < extent; k++) out[base + k * inner] = xv[base + k * inner] - lse;
    }
  }

  return result(out, x.shape, [x], (g) => {
    const gx = new Float32Array(x.size);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * extent * inner + i;
        let s = 0;
        for (let k = 0; k < extent; k++) s += g[base + k * inner];
        for (let k = 0; k < extent; k++) {
          const at = base + k * inner;
          gx[at] = g[at] - Math.exp(out[at]) * s;
        }
      }
    }
    giveGrad(x, gx);
  });
}
