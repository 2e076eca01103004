import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Tensor, parameter } from '../../src/engine/tensor.js';
import { Module, Sequential } from '../../src/nn/module.js';
import { UserError } from '../../src/util/errors.js';

class Scale extends Module {
  readonly weight: Tensor;

  constructor(size: number) {
    super();
    const values = new Float32Array(size).fill(2);
    this.weight = this.registerParameter('weight', parameter(values, [size]));
    this.registerBuffer('count', Float32Array.of(0));
  }

  forward(input: Tensor): Tensor {
    return input;
  }
}

test('state dicts name parameters and buffers by path and round-trip', () => {
  const model = new Sequential([new Scale(3), new Scale(2)]);
  assert.deepEqual([...model.stateDict().keys()], ['0.weight', '1.weight', '0.count', '1.count']);
  assert.equal(model.parameterCount(), 5);

  const state = model.stateDict();
  state.get('1.weight')?.set([5, 7]);
  const other = new Sequential([new Scale(3), new Scale(2)]);
  other.loadStateDict(state);
  assert.deepEqual([...other.parameters()[1].data], [5, 7]);
});

test('loading a checkpoint of another model or with non-finite weights is a UserError', () => {
  const model = new Sequential([new Scale(3), new Scale(2)]);
  const wrongSize = new Sequential([new Scale(4), new Scale(2)]).stateDict();
  assert.throws(() => model.loadStateDict(wrongSize), (e: Error) =>
    e instanceof UserError && /"0\.weight" has 4 values, expected 3/.test(e.message));

  const missing = model.stateDict();
  missing.delete('1.count');
  assert.throws(() => model.loadStateDict(missing), UserError);

  const extra = model.stateDict();
  extra.set('2.weight', new Float32Array(1));
  assert.throws(() => model.loadStateDict(extra), /not in this model/);

  const poisoned = model.stateDict();
  poisoned.get('0.weight')![1] = Number.NaN;
  assert.throws(() => model.loadStateDict(poisoned), /non-finite value \(NaN\) at index 1/);
});
