import { giveGrad } from '../../engine/ops/check.js';
import { result, Tensor } from '../../engine/tensor.js';
import { so3QuadratureWeights } from '../../sphere/grid.js';
import { Module } from '../module.js';

/**
 * Haar integral over SO(3) of every channel (s2cnn `so3_integrate`, transforms.md 4.4):
 * [N, C, 2b, 2b, 2b] -> [N, C], out = sum_j q_j sum_{k, l} F(beta_j, alpha_k, gamma_l) with the
 * normalised Haar quadrature weights q_j (total mass 1), which equals the coefficient F^0_00 and is
 * exactly rotation invariant for band-limited F. The bandwidth is read from the input shape.
 */
export class SO3Integrate extends Module {
  forward(input: Tensor): Tensor {
    const shape = input.shape;
    const side = shape[2];
    if (shape.length !== 5 || side % 2 !== 0 || shape[3] !== side || shape[4] !== side) {
      throw new RangeError(`SO3Integrate: input shape [${shape}] is not [N, C, 2b, 2b, 2b]`);
    }
    const [n, c] = shape;
    const q = so3QuadratureWeights(side / 2);
    const ring = side * side;
    const points = side * ring;
    const signals = n * c;

    const out = new Float32Array(signals);
    const data = input.data;
    for (let s = 0; s < signals; s++) {
      let total = 0;
      for (let j = 0; j < side; j++) {
        let sum = 0;
        const start = s * points + j * ring;
        for (let g = start; g < start + ring; g++) sum += data[g];
        total += q[j] * sum;
      }
      out[s] = total;
    }

    return result(out, [n, c], [input], (grad) => {
      const gx = new Float32Array(input.size);
      for (let s = 0; s < signals; s++) {
        for (let j = 0; j < side; j++) {
          const start = s * points + j * ring;
          gx.fill(q[j] * grad[s], start, start + ring);
        }
      }
      giveGrad(input, gx);
    });
  }
}
