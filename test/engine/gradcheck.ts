import assert from 'node:assert/strict';
import { backward, noGrad, Tensor } from '../../src/engine/tensor.js';
import { Random } from '../../src/util/random.js';

/**
 * Finite-difference gradient check (a helper, not a test file).
 *
 * The scalar checked is L = sum_i r_i y_i with fixed random weights r in [-1, 1), accumulated
 * in float64, so every output element contributes. The analytic gradient comes from
 * backward(y, seed = r). The numerical one is the central difference
 * (L(x + h e_j) - L(x - h e_j)) / (2 h), on float32 data, for up to `maxChecks` elements j of
 * every input. Central differences have O(h^2) truncation error and O(eps32 |L| / h) rounding
 * error, hence a step of about 1e-2 and a relative tolerance of a few 1e-3 on the whole
 * gradient vector (plus a per-element bound).
 */
export interface GradCheckOptions {
  step?: number;
  /** Bound on ||numeric - analytic|| / max(||numeric||, ||analytic||). */
  tolerance?: number;
  maxChecks?: number;
  seed?: number;
}

export function checkGradients(name: string, inputs: Tensor[], build: () => Tensor,
  options: GradCheckOptions = {}): void {
  const step = options.step ?? 1e-2;
  const tolerance = options.tolerance ?? 5e-3;
  const maxChecks = options.maxChecks ?? 40;
  const random = new Random(options.seed ?? 7);

  for (const input of inputs) {
    input.requiresGrad = true;
    input.grad = null;
  }
  const output = build();
  const weights = Float32Array.from({ length: output.size }, () => random.uniformIn(-1, 1));
  backward(output, weights);

  const objective = (): number => {
    const y = noGrad(build);
    let s = 0;
    for (let i = 0; i < y.size; i++) s += weights[i] * y.data[i];
    return s;
  };

  inputs.forEach((input, which) => {
    const analytic = input.grad ?? new Float32Array(input.size);
    const picks = input.size <= maxChecks
      ? Array.from({ length: input.size }, (_, i) => i)
      : Array.from({ length: maxChecks }, () => random.int(input.size));
    let diff2 = 0;
    let num2 = 0;
    let ana2 = 0;
    const numeric: number[] = [];
    for (const j of picks) {
      const original = input.data[j];
      input.data[j] = original + step;
      const plus = objective();
      input.data[j] = original - step;
      const minus = objective();
      input.data[j] = original;
      // The step actually taken in float32 is (x + h) - (x - h) after rounding.
      const taken = Math.fround(original + step) - Math.fround(original - step);
      const value = (plus - minus) / taken;
      numeric.push(value);
      diff2 += (value - analytic[j]) ** 2;
      num2 += value ** 2;
      ana2 += analytic[j] ** 2;
    }
    const scale = Math.sqrt(Math.max(num2, ana2));
    const relative = scale === 0 ? 0 : Math.sqrt(diff2) / scale;
    assert.ok(scale > 0 || picks.length === 0,
      `${name}: input ${which} has an all-zero gradient at the checked elements; test is vacuous`);
    assert.ok(relative <= tolerance,
      `${name}: input ${which} gradient differs from central differences, relative error ${
        relative.toExponential(2)} > ${tolerance} (analytic ${picks.slice(0, 4).map((j) =>
        analytic[j].toFixed(5))}, numeric ${numeric.slice(0, 4).map((v) => v.toFixed(5))})`);
  });
}

/** A tensor of the given shape with entries uniform in [low, high). */
export function randomTensor(random: Random, shape: number[], low = -1, high = 1): Tensor {
  let size = 1;
  for (const e of shape) size *= e;
  const data = Float32Array.from({ length: size }, () => random.uniformIn(low, high));
  return new Tensor(data, shape);
}

/** Asserts that two arrays agree within atol + rtol |expected| elementwise. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>,
  atol: number, rtol = 0, what = 'values'): void {
  assert.equal(actual.length, expected.length, `${what}: lengths differ`);
  for (let i = 0; i < actual.length; i++) {
    const bound = atol + rtol * Math.abs(expected[i]);
    if (!(Math.abs(actual[i] - expected[i]) <= bound)) {
      assert.fail(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]} (bound ${
        bound})`);
    }
  }
}
