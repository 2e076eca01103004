/**
 * Tiny models, loss and optimizer for testing the training loop quickly and independently of the
 * real layers: a linear classifier on the pixels, a per-pixel linear segmenter, softmax
 * cross-entropy and SGD with momentum (whose state the checkpoint must carry).
 */
import { Tensor, parameter, result } from '../../src/engine/tensor.js';
import { Module } from '../../src/nn/module.js';
import type { Optimizer, SphereData } from '../../src/train/trainer.js';
import { Random } from '../../src/util/random.js';

/** logits[n, c] = sum_p W[c, p] x[n, p] + bias[c]; input [N, 1, H, W]. */
export class LinearClassifier extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(readonly pixels: number, readonly classes: number, random: Random) {
    super();
    const w = new Float32Array(classes * pixels).map(() => 0.05 * random.normal());
    this.weight = this.registerParameter('weight', parameter(w, [classes, pixels]));
    this.bias = this.registerParameter('bias', parameter(new Float32Array(classes), [classes]));
  }

  forward(input: Tensor): Tensor {
    const n = input.shape[0];
    const { pixels: p, classes: k } = this;
    const x = input.data;
    const w = this.weight.data;
    const out = new Float32Array(n * k);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < k; c++) {
        let sum = this.bias.data[c];
        for (let j = 0; j < p; j++) sum += w[c * p + j] * x[i * p + j];
        out[i * k + c] = sum;
      }
    }
    return result(out, [n, k], [input, this.weight, this.bias], (g) => {
      const gw = new Float32Array(k * p);
      const gb = new Float32Array(k);
      for (let i = 0; i < n; i++) {
        for (let c = 0; c < k; c++) {
          gb[c] += g[i * k + c];
          for (let j = 0; j < p; j++) gw[c * p + j] += g[i * k + c] * x[i * p + j];
        }
      }
      this.weight.accumulateGrad(gw);
      this.bias.accumulateGrad(gb);
    });
  }
}

/** logits[n, c, p] = scale[c] x[n, p] + shift[c]; input [N, 1, H, W], output [N, C, H, W]. */
export class PixelSegmenter extends Module {
  readonly scale: Tensor;
  readonly shift: Tensor;

  constructor(readonly classes: number, scale?: number[], shift?: number[]) {
    super();
    this.scale = this.registerParameter('scale',
      parameter(Float32Array.from(scale ?? new Array(classes).fill(0)), [classes]));
    this.shift = this.registerParameter('shift',
      parameter(Float32Array.from(shift ?? new Array(classes).fill(0)), [classes]));
  }

  forward(input: Tensor): Tensor {
    const [n, , h, w] = input.shape;
    const p = h * w;
    const k = this.classes;
    const out = new Float32Array(n * k * p);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < k; c++) {
        for (let j = 0; j < p; j++) {
          const x = input.data[i * p + j];
          out[(i * k + c) * p + j] = this.scale.data[c] * x + this.shift.data[c];
        }
      }
    }
    return result(out, [n, k, h, w], [this.scale, this.shift], (g) => {
      const gs = new Float32Array(k);
      const gt = new Float32Array(k);
      for (let i = 0; i < n; i++) {
        for (let c = 0; c < k; c++) {
          for (let j = 0; j < p; j++) {
            gs[c] += g[(i * k + c) * p + j] * input.data[i * p + j];
            gt[c] += g[(i * k + c) * p + j];
          }
        }
      }
      this.scale.accumulateGrad(gs);
      this.shift.accumulateGrad(gt);
    });
  }
}

/**
 * Mean softmax cross-entropy over samples (and pixels) of logits [N, C, ...] against uint8
 * targets [N, ...].
 */
export function softmaxCrossEntropy(logits: Tensor, targets: Uint8Array): Tensor {
  const n = logits.shape[0];
  const k = logits.shape[1];
  const p = logits.size / (n * k);
  const grad = new Float32Array(logits.size);
  let total = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < p; j++) {
      let max = -Infinity;
      for (let c = 0; c < k; c++) max = Math.max(max, logits.data[(i * k + c) * p + j]);
      let sum = 0;
      for (let c = 0; c < k; c++) sum += Math.exp(logits.data[(i * k + c) * p + j] - max);
      const t = targets[i * p + j];
      total += Math.log(sum) + max - logits.data[(i * k + t) * p + j];
      for (let c = 0; c < k; c++) {
        const softmax = Math.exp(logits.data[(i * k + c) * p + j] - max) / sum;
        grad[(i * k + c) * p + j] = (softmax - (c === t ? 1 : 0)) / (n * p);
      }
    }
  }
  return result(Float32Array.of(total / (n * p)), [1], [logits],
    (g) => logits.accumulateGrad(grad.map((v) => v * g[0])));
}

/** SGD with momentum; its velocities are the state a checkpoint must keep. */
export class MomentumSgd implements Optimizer {
  private velocity: Float32Array[];

  constructor(private readonly parameters: Tensor[], private readonly learningRate: number,
    private readonly momentum = 0.9) {
    this.velocity = parameters.map((p) => new Float32Array(p.size));
  }

  step(): void {
    this.parameters.forEach((p, i) => {
      if (p.grad === null) return;
      const v = this.velocity[i];
      for (let j = 0; j < p.size; j++) {
        v[j] = this.momentum * v[j] + p.grad[j];
        p.data[j] -= this.learningRate * v[j];
      }
    });
  }

  zeroGrad(): void {
    for (const p of this.parameters) p.grad = null;
  }

  state(): unknown {
    return { velocity: this.velocity.map((v) => Float32Array.from(v)) };
  }

  loadState(state: unknown): void {
    const saved = (state as { velocity: Float32Array[] }).velocity;
    this.velocity = saved.map((v) => Float32Array.from(v));
  }
}

/**
 * A learnable toy classification set at bandwidth b: the label is k in 0..classes-1 and the
 * image is bright on the pixels p with p % classes == k, noisy elsewhere.
 */
export function toyClassificationData(count: number, bandwidth: number, classes: number,
  seed: number): SphereData {
  const random = new Random(seed);
  const pixels = 4 * bandwidth * bandwidth;
  const images = new Uint8Array(count * pixels);
  const targets = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const label = random.int(classes);
    targets[i] = label;
    for (let p = 0; p < pixels; p++) {
      images[i * pixels + p] = p % classes === label ? 150 + random.int(100) : random.int(120);
    }
  }
  return { images, targets, count, bandwidth };
}
