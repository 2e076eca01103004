import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parameter } from '../../src/engine/tensor.js';
import { Adam } from '../../src/train/optimizer.js';
import { UserError } from '../../src/util/errors.js';
import { Random } from '../../src/util/random.js';

test('Adam matches hand-computed steps', () => {
  // p = 1, gradients 0.5, -1, 2, lr 0.1, PyTorch defaults otherwise; values worked by hand in
  // float64: m_t, v_t, bias corrections 1 - 0.9^t and 1 - 0.999^t.
  const p = parameter(Float32Array.of(1), [1]);
  const adam = new Adam([p], { learningRate: 0.1 });
  const expected = [0.900000002, 0.9366103542405654, 0.8946447927181046];
  [0.5, -1, 2].forEach((g, t) => {
    p.grad = Float32Array.of(g);
    adam.step();
    assert.ok(Math.abs(p.data[0] - expected[t]) < 1e-6,
      `step ${t + 1}: ${p.data[0]} vs ${expected[t]}`);
  });
  assert.equal(adam.steps, 3);
  adam.zeroGrad();
  assert.equal(p.grad, null);
});

test('Adam skips parameters without gradients', () => {
  const a = parameter(Float32Array.of(1, 2), [2]);
  const b = parameter(Float32Array.of(3), [1]);
  const adam = new Adam([a, b]);
  b.grad = Float32Array.of(1);
  adam.step();
  assert.deepEqual([...a.data], [1, 2]);
  assert.ok(Math.abs(b.data[0] - (3 - 1e-3)) < 1e-6);
});

test('Adam state round trip resumes bit for bit', () => {
  const random = new Random(61);
  const make = (): Array<ReturnType<typeof parameter>> => [
    parameter(Float32Array.of(0.5, -0.25, 1), [3]), parameter(Float32Array.of(2, 1), [1, 2]),
  ];
  const normals = (length: number): Float32Array =>
    Float32Array.from({ length }, () => random.normal());
  const gradients = Array.from({ length: 5 }, () => [normals(3), normals(2)]);

  const straight = make();
  const adam = new Adam(straight, { learningRate: 0.01 });
  const resumed = make();
  const first = new Adam(resumed, { learningRate: 0.01 });
  gradients.forEach((gs, t) => {
    straight.forEach((p, i) => { p.grad = gs[i]; });
    adam.step();
    if (t < 3) {
      resumed.forEach((p, i) => { p.grad = gs[i]; });
      first.step();
    }
  });
  const saved = first.state();
  assert.equal(saved.step, 3);
  assert.equal(saved.moments.length, 4);
  const second = new Adam(resumed, { learningRate: 0.01 });
  second.loadState(saved);
  gradients.slice(3).forEach((gs) => {
    resumed.forEach((p, i) => { p.grad = gs[i]; });
    second.step();
  });
  straight.forEach((p, i) => assert.deepEqual([...resumed[i].data], [...p.data]));

  assert.throws(() => second.loadState({ step: 1, moments: [] }), UserError);
  assert.throws(() => second.loadState(null), UserError);
  const wrong = second.state();
  wrong.moments[1] = new Float32Array(7);
  assert.throws(() => second.loadState(wrong), /moment 1 has 7 values/);
});
