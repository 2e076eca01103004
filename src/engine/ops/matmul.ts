import { gemm } from '../kernels/index.js';
import { result, type Tensor } from '../tensor.js';
import { gemmStridedBatched } from './extensions.js';
import { check, checkRank, giveGrad } from './check.js';

/**
 * Matrix products on the active kernel backend. Gradients (for C = A B):
 * dA = dC B^T and dB = A^T dC.
 */

/**
 * op(a) op(b) for matrices: a [m, k] (or [k, m] when transA), b [k, n] (or [n, k] when
 * transB); result [m, n].
 */
export function matmul(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  checkRank('matmul', 'a', a, 2);
  checkRank('matmul', 'b', b, 2);
  const [m, k] = transA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const [kb, n] = transB ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
  check(k === kb, () => `matmul: inner extents differ, [${a.shape}] and [${b.shape}]`);
  const lda = a.shape[1];
  const ldb = b.shape[1];

  const out = new Float32Array(m * n);
  gemm(transA, transB, m, n, k, 1, a.data, 0, lda, b.data, 0, ldb, 0, out, 0, n);

  return result(out, [m, n], [a, b], (g) => {
    if (a.requiresGrad) {
      // d op(A) = G op(B)^T; stored transposed when transA.
      const ga = new Float32Array(a.size);
      if (!transA) gemm(false, !transB, m, k, n, 1, g, 0, n, b.data, 0, ldb, 0, ga, 0, lda);
      else gemm(transB, true, k, m, n, 1, b.data, 0, ldb, g, 0, n, 0, ga, 0, lda);
      giveGrad(a, ga);
    }
    if (b.requiresGrad) {
      // d op(B) = op(A)^T G; stored transposed when transB.
      const gb = new Float32Array(b.size);
      if (!transB) gemm(!transA, false, k, n, m, 1, a.data, 0, lda, g, 0, n, 0, gb, 0, ldb);
      else gemm(true, transA, n, k, m, 1, g, 0, n, a.data, 0, lda, 0, gb, 0, ldb);
      giveGrad(b, gb);
    }
  });
}

/** Batched product a [B, m, k] times b [B, k, n] -> [B, m, n]. */
export function bmm(a: Tensor, b: Tensor): Tensor {
  checkRank('bmm', 'a', a, 3);
  checkRank('bmm', 'b', b, 3);
  const [batch, m, k] = a.shape;
  const n = b.shape[2];
  check(b.shape[0] === batch && b.shape[1] === k,
    () => `bmm: shapes [${a.shape}] and [${b.shape}] do not multiply`);

  const out = new Float32Array(batch * m * n);
  gemmStridedBatched(batch, false, false, m, n, k, 1, a.data, 0, k, m * k,
    b.data, 0, n, k * n, 0, out, 0, n, m * n);

  return result(out, [batch, m, n], [a, b], (g) => {
    if (a.requiresGrad) {
      const ga = new Float32Array(a.size);
      gemmStridedBatched(batch, false, true, m, k, n, 1, g, 0, n, m * n,
        b.data, 0, n, k * n, 0, ga, 0, k, m * k);
      giveGrad(a, ga);
    }
    if (b.requiresGrad) {
      const gb = new Float32Array(b.size);
      gemmStridedBatched(batch, true, false, k, n, m, 1, a.data, 0, k, m * k,
        g, 0, n, m * n, 0, gb, 0, n, k * n);
      giveGrad(b, gb);
    }
  });
}

/**
 * Affine map of a batch of rows, y = x W^T + b: x [N, in], weight [out, in], bias [out] or
 * null; result [N, out] (PyTorch's nn.Linear convention).
 */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  checkRank('linear', 'input', x, 2);
  checkRank('linear', 'weight', weight, 2);
  const [batch, inFeatures] = x.shape;
  const outFeatures = weight.shape[0];
  check(weight.shape[1] === inFeatures,
    () => `linear: weight [${weight.shape}] does not take ${inFeatures} input features`);
  check(bias === null || (bias.rank === 1 && bias.shape[0] === outFeatures),
    () => `linear: bias must have shape [${outFeatures}], got [${bias?.shape}]`);

  const out = new Float32Array(batch * outFeatures);
  if (bias !== null) {
    for (let i = 0; i < batch; i++) out.set(bias.data, i * outFeatures);
  }
  gemm(false, true, batch, outFeatures, inFeatures, 1, x.data, 0, inFeatures,
    weight.data, 0, inFeatures, bias === null ? 0 : 1, out, 0, outFeatures);

  const parents = bias === null ? [x, weight] : [x, weight, bias];
  return result(out, [batch, outFeatures], parents, (g) => {
    if (x.requiresGrad) {
      const gx = new Float32Array(x.size);
      gemm(false, false, batch, inFeatures, outFeatures, 1, g, 0, outFeatures,
        weight.data, 0, inFeatures, 0, gx, 0, inFeatures);
      giveGrad(x, gx);
    }
    if (weight.requiresGrad) {
      const gw = new Float32Array(weight.size);
      gemm(true, false, outFeatures, inFeatures, batch, 1, g, 0, outFeatures,
        x.data, 0, inFeatures, 0, gw, 0, inFeatures);
      giveGrad(weight, gw);
    }
    if (bias !== null && bias.requiresGrad) {
      const gb = new Float32Array(outFeatures);
      for (let i = 0; i < batch; i++) {
        for (let j = 0; j < outFeatures; j++) gb[j] += g[i * outFeatures + j];
      }
      giveGrad(bias, gb);
    }
  });
}
