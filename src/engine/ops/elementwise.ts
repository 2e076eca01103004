import { result, type Tensor } from '../tensor.js';
import { broadcastIndex, broadcastShape, sumToShape } from './broadcast.js';
import { giveGrad, sameShape } from './check.js';

/**
 * Elementwise operations. Binary operations broadcast like NumPy; their gradients are summed
 * back over the broadcast axes.
 */

type Binary = (x: number, y: number) => number;
type SameShape = (av: Float32Array, bv: Float32Array, out: Float32Array) => void;

/**
 * A broadcasting binary op. `same` computes the common equal-shape case with a loop of its own
 * (a loop calling `f` through a shared call site would be several times slower).
 */
function binary(a: Tensor, b: Tensor, f: Binary, same: SameShape,
  grads: (g: Float32Array, av: Float32Array, bv: Float32Array) => [Float32Array, Float32Array],
): Tensor {
  const shape = broadcastShape(a.shape, b.shape);
  const aSame = sameShape(a.shape, shape);
  const bSame = sameShape(b.shape, shape);
  const ia = aSame ? null : broadcastIndex(a.shape, shape);
  const ib = bSame ? null : broadcastIndex(b.shape, shape);
  const av = a.data;
  const bv = b.data;

  let size = 1;
  for (const extent of shape) size *= extent;
  const out = new Float32Array(size);
  if (ia === null && ib === null) {
    same(av, bv, out);
  } else {
    for (let i = 0; i < size; i++) {
      out[i] = f(av[ia === null ? i : ia[i]], bv[ib === null ? i : ib[i]]);
    }
  }

  return result(out, shape, [a, b], (g) => {
    // Expand the operands to the output shape so the gradient formulas can work elementwise.
    const aFull = ia === null ? av : Float32Array.from(ia, (j) => av[j]);
    const bFull = ib === null ? bv : Float32Array.from(ib, (j) => bv[j]);
    const [ga, gb] = grads(g, aFull, bFull);

    // The output gradient g belongs to this op (see Tensor.runBackward), so the first parent
    // whose gradient is g itself takes it without a copy; a second one (add: both) copies it.
    let gGiven = false;
    const hand = (parent: Tensor, grad: Float32Array, same: boolean): void => {
      if (!parent.requiresGrad) return;
      if (!same) giveGrad(parent, sumToShape(grad, shape, parent.shape));
      else if (grad !== g) giveGrad(parent, grad);
      else if (gGiven) parent.accumulateGrad(g);
      else {
        giveGrad(parent, g);
        gGiven = true;
      }
    };
    hand(a, ga, aSame);
    hand(b, gb, bSame);
  });
}

/** a + b (broadcasting). */
export function add(a: Tensor, b: Tensor): Tensor {
  return binary(a, b, (x, y) => x + y, (av, bv, out) => {
    for (let i = 0; i < out.length; i++) out[i] = av[i] + bv[i];
  }, (g) => [g, g]);
}

/** a - b (broadcasting). */
export function sub(a: Tensor, b: Tensor): Tensor {
  return binary(a, b, (x, y) => x - y, (av, bv, out) => {
    for (let i = 0; i < out.length; i++) out[i] = av[i] - bv[i];
  }, (g) => [g, g.map((v) => -v)]);
}

/** a * b elementwise (broadcasting). */
export function mul(a: Tensor, b: Tensor): Tensor {
  return binary(a, b, (x, y) => x * y, (av, bv, out) => {
    for (let i = 0; i < out.length; i++) out[i] = av[i] * bv[i];
  }, (g, av, bv) => [
    g.map((v, i) => v * bv[i]),
    g.map((v, i) => v * av[i]),
  ]);
}

/** a / b elementwise (broadcasting). */
export function div(a: Tensor, b: Tensor): Tensor {
  return binary(a, b, (x, y) => x / y, (av, bv, out) => {
    for (let i = 0; i < out.length; i++) out[i] = av[i] / bv[i];
  }, (g, av, bv) => [
    g.map((v, i) => v / bv[i]),
    g.map((v, i) => -v * av[i] / (bv[i] * bv[i])),
  ]);
}

/**
 * A unary elementwise op y = f(x) whose derivative is given in terms of x and y.
 */
function unary(x: Tensor, f: (v: number) => number,
  derivative: (v: number, y: number) => number): Tensor {
  const xv = x.data;
  const out = new Float32Array(x.size);
  for (let i = 0; i < out.length; i++) out[i] = f(xv[i]);
  return result(out, x.shape, [x], (g) => {
    // In place: g belongs to this op.
    for (let i = 0; i < g.length; i++) g[i] *= derivative(xv[i], out[i]);
    giveGrad(x, g);
  });
}

/** s x for a constant number s. */
export function scale(x: Tensor, s: number): Tensor {
  return unary(x, (v) => s * v, () => s);
}

/** x + s for a constant number s. */
export function addScalar(x: Tensor, s: number): Tensor {
  return unary(x, (v) => v + s, () => 1);
}

/** -x. */
export function neg(x: Tensor): Tensor {
  return scale(x, -1);
}

/** max(x, 0); the derivative at 0 is taken as 0, as in PyTorch. */
export function relu(x: Tensor): Tensor {
  const out = new Float32Array(x.size);
  rectify(x.data, out);
  return result(out, x.shape, [x], (g) => reluGradient(g, out, x));
}

/**
 * relu that overwrites x's values with the result, saving an array of x's size and a pass over
 * fresh memory (PyTorch's inplace=True). Only for an x that nothing else reads afterwards and
 * whose own gradient does not need its values: the outputs of convolutions, spectral layers,
 * bias or skip additions; not a leaf, not an input kept elsewhere, not the input of a
 * batchNorm or another relu. The result shares x's array.
 */
export function reluInPlace(x: Tensor): Tensor {
  const values = x.data;
  rectify(values, values);
  return result(values, x.shape, [x], (g) => reluGradient(g, values, x));
}

/** out = max(x, 0) elementwise; out may be x. */
function rectify(x: Float32Array, out: Float32Array): void {
  // (v + |v|) / 2 is exact and branch-free: signs of activations are unpredictable.
  for (let i = 0; i < out.length; i++) {
    const v = x[i];
    out[i] = (v + Math.abs(v)) * 0.5;
  }
}

/** Gives x the gradient g where out > 0, else exactly +0, computed in g (owned by the op). */
function reluGradient(g: Float32Array, out: Float32Array, x: Tensor): void {
  // A bit mask: the branch of `out > 0 ? g : 0` is mispredicted half the time and costs ten
  // times more.
  const bits = new Uint32Array(g.buffer, g.byteOffset, g.length);
  for (let i = 0; i < g.length; i++) bits[i] &= -+(out[i] > 0);
  giveGrad(x, g);
}

/** e^x. */
export function exp(x: Tensor): Tensor {
  return unary(x, Math.exp, (_, y) => y);
}

/** Natural logarithm. */
export function log(x: Tensor): Tensor {
  return unary(x, Math.log, (v) => 1 / v);
}

/** Square root. */
export function sqrt(x: Tensor): Tensor {
  return unary(x, Math.sqrt, (_, y) => 0.5 / y);
}

/** x^2. */
export function square(x: Tensor): Tensor {
  return unary(x, (v) => v * v, (v) => 2 * v);
}

/** Hyperbolic tangent. */
export function tanh(x: Tensor): Tensor {
  return unary(x, Math.tanh, (_, y) => 1 - y * y);
}

/** Logistic sigmoid 1 / (1 + e^-x). */
export function sigmoid(x: Tensor): Tensor {
  return unary(x, (v) => 1 / (1 + Math.exp(-v)), (_, y) => y * (1 - y));
}
