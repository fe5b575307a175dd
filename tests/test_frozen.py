"""core.frozen: a translator with the weights as constants computes what the variables give."""

import numpy as np
import tensorflow as tf

from unit_tf import variants
from unit_tf.config import LossConfig
from unit_tf.core import frozen


def _model(config):
  model = variants.build_model(config, LossConfig(), disc_steps=1, seed=0)
  model.build_for((32, 32, 3), (32, 32, 3))
  return model


def test_frozen_translator_matches_and_reads_no_variable(tiny_config):
  model = _model(tiny_config)
  images = tf.random.uniform((2, 32, 32, 3), -1.0, 1.0, seed=1)
  signature = [tf.TensorSpec([None, None, None, 3], tf.float32)]
  fn = frozen.freeze(lambda x: model.translate(x, "a2b"), signature)
  expected = model.translate(images, "a2b").numpy()
  np.testing.assert_allclose(fn(images).numpy(), expected, atol=1e-6)
  ops = {op.type for op in fn.graph.get_operations()}
  assert not ops & {"ReadVariableOp", "VarHandleOp", "ResourceGather"}, ops
  # The weights are a snapshot: a later update does not reach the frozen function.
  kernel = model.encoder_a.private[0].conv.kernel
  kernel.assign(kernel + 1.0)
  np.testing.assert_allclose(fn(images).numpy(), expected, atol=1e-6)
  assert not np.allclose(model.translate(images, "a2b").numpy(), expected, atol=1e-3)


def test_frozen_keeps_the_output_structure(tiny_config):
  model = _model(tiny_config)
  fn = frozen.freeze(lambda x: {"ab": model.translate(x, "a2b"), "shape": tf.shape(x)},
                     [tf.TensorSpec([1, 32, 32, 3], tf.float32)])
  out = fn(tf.zeros((1, 32, 32, 3)))
  assert sorted(out) == ["ab", "shape"] and out["ab"].shape == (1, 32, 32, 3)
  assert out["shape"].numpy().tolist() == [1, 32, 32, 3]
