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
    if (a.requiresGrad) a.accumulateGrad(aSame ? ga : sumToShape(ga, shape, a.shape));
    if (b.requiresGrad) b.accumulateGrad(bSame ? gb : sumToShape(gb, shape, b.shape));
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
    const gx = new Float32Array(g.length);
    for (let i = 0; i < g.length; i++) gx[i] = g[i] * derivative(xv[i], out[i]);
    giveGrad(x, gx);
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
  const xv = x.data;
  const out = new Float32Array(x.size);
  // (v + |v|) / 2 is exact and branch-free: signs of activations are unpredictable.
  for (let i = 0; i < out.length; i++) {
    const v = xv[i];
    out[i] = (v + Math.abs(v)) * 0.5;
  }
  return result(out, x.shape, [x], (g) => {
    // g where out > 0, else exactly +0, as a bit mask: the branch of `out > 0 ? g : 0` is
    // mispredicted half the time and costs ten times more.
    const gx = new Float32Array(g.length);
    const gBits = new Uint32Array(g.buffer, g.byteOffset, g.length);
    const gxBits = new Uint32Array(gx.buffer);
    for (let i = 0; i < g.length; i++) gxBits[i] = gBits[i] & -+(out[i] > 0);
    giveGrad(x, gx);
  });
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
