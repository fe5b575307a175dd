"""FusedAdam (unit_tf.core.optimizers) is keras.optimizers.Adam: the same updates and slots."""

import keras
import numpy as np
import tensorflow as tf

from unit_tf.core import optimizers


# The kernel takes beta_2 as a float32 and forms 1 - beta_2 in float32; Keras forms it from the
# Python float. For 0.999 the two differ by 1.3e-5 relative (0.99900001 is the nearest float32),
# so the comparison uses a beta_2 that is a float32 already, where both compute the same numbers.
BETA_2 = float(np.float32(0.999))


def _run(optimizer_class, steps=4):
  rng = np.random.default_rng(0)
  variables = [keras.Variable(rng.normal(size=(3, 5)).astype(np.float32), name="w"),
               keras.Variable(rng.normal(size=(5,)).astype(np.float32), name="b")]
  schedule = keras.optimizers.schedules.ExponentialDecay(1e-2, 2, 0.5, staircase=True)
  optimizer = optimizer_class(learning_rate=schedule, beta_1=0.5, beta_2=BETA_2)
  apply = tf.function(lambda grads: optimizer.apply(grads, variables))
  for _ in range(steps):
    apply([tf.constant(rng.normal(size=v.shape).astype(np.float32)) for v in variables])
  return optimizer, variables, apply


def test_fused_adam_updates_and_slots_equal_keras_adam():
  fused, fused_vars, apply = _run(optimizers.FusedAdam)
  plain, plain_vars, _ = _run(keras.optimizers.Adam)
  start = np.random.default_rng(0).normal(size=(3, 5))
  assert np.abs(plain_vars[0].numpy() - start).max() > 1e-3  # the variables did move
  for a, b in zip(fused_vars + fused.variables, plain_vars + plain.variables):
    assert a.name == b.name and a.shape == b.shape  # the same slots, so the same checkpoints
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7, err_msg=a.name)
  assert int(fused.iterations.numpy()) == 4
  graph = apply.get_concrete_function(
      [tf.TensorSpec(v.shape, tf.float32) for v in fused_vars]).graph
  assert sum(op.type == "ResourceApplyAdam" for op in graph.get_operations()) == 2
