import type { Tensor } from '../engine/tensor.js';
import { UserError } from '../util/errors.js';

/** Adam's settings; the defaults are PyTorch's. */
export interface AdamOptions {
  learningRate?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

/**
 * Saved optimizer state: the step count and, for parameter i, its first moment at moments[2 i]
 * and second moment at moments[2 i + 1].
 */
export interface AdamState {
  step: number;
  moments: Float32Array[];
}

/**
 * Adam (Kingma and Ba 2015) as in PyTorch's torch.optim.Adam without weight decay. At step t,
 * for every parameter p with gradient g:
 *
 *   m = beta1 m + (1 - beta1) g,   v = beta2 v + (1 - beta2) g^2,
 *   p -= lr (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps).
 *
 * Arithmetic per element is done in float64 and stored in float32, in a fixed order, so a run
 * restored with loadState continues bit for bit. Parameters without a gradient are skipped.
 */
export class Adam {
  readonly learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  private stepCount = 0;
  private readonly first: Float32Array[];
  private readonly second: Float32Array[];

  constructor(readonly parameters: Tensor[], options: AdamOptions = {}) {
    this.learningRate = options.learningRate ?? 1e-3;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.first = parameters.map((p) => new Float32Array(p.size));
    this.second = parameters.map((p) => new Float32Array(p.size));
  }

  /** Number of steps taken so far. */
  get steps(): number {
    return this.stepCount;
  }

  /** One update of every parameter that has a gradient. */
  step(): void {
    this.stepCount++;
    const t = this.stepCount;
    const { beta1, beta2, eps } = this;
    const correction1 = 1 - beta1 ** t;
    const correction2 = 1 - beta2 ** t;
    const stepSize = this.learningRate / correction1;
    const sqrtCorrection2 = Math.sqrt(correction2);

    this.parameters.forEach((parameter, index) => {
      const g = parameter.grad;
      if (g === null) return;
      const p = parameter.data;
      const m = this.first[index];
      const v = this.second[index];
      for (let i = 0; i < p.length; i++) {
        const gi = g[i];
        const mi = beta1 * m[i] + (1 - beta1) * gi;
        const vi = beta2 * v[i] + (1 - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= stepSize * mi / (Math.sqrt(vi) / sqrtCorrection2 + eps);
      }
    });
  }

  /** Clears the gradients (sets them to null, like PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const parameter of this.parameters) parameter.grad = null;
  }

  /** A copy of the state needed to resume (see AdamState). */
  state(): AdamState {
    const moments: Float32Array[] = [];
    this.first.forEach((m, i) => {
      moments.push(Float32Array.from(m), Float32Array.from(this.second[i]));
    });
    return { step: this.stepCount, moments };
  }

  /**
   * Restores a state saved by `state()` (for example read from a checkpoint file). Throws a
   * UserError when it does not fit these parameters.
   */
  loadState(state: unknown): void {
    const s = state as Partial<AdamState> | null;
    const count = this.parameters.length;
    if (s === null || typeof s !== 'object' || !Number.isInteger(s.step) || (s.step as number) < 0
      || !Array.isArray(s.moments)) {
      throw new UserError('optimizer state: expected {step, moments} saved by Adam');
    }
    if (s.moments.length !== 2 * count) {
      throw new UserError(`optimizer state: ${s.moments.length} moment arrays for ${count
      } parameters; expected ${2 * count}`);
    }
    s.moments.forEach((values, j) => {
      const size = this.parameters[j >> 1].size;
      if (!(values instanceof Float32Array) || values.length !== size) {
        throw new UserError(`optimizer state: moment ${j} has ${
          (values as { length?: number })?.length} values; expected ${size} float32 values`);
      }
    });
    this.stepCount = s.step as number;
    s.moments.forEach((values, j) => (j % 2 === 0 ? this.first : this.second)[j >> 1].set(values));
  }
}
