"""A checkpoint holds every variable of the model: weights, batch-norm statistics of every slot,
both optimizers and the noise generator state."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from unit_tf import run_dir
from unit_tf.config import LossConfig, ModelConfig, TrainConfig
from unit_tf.uda.options import UdaOptions


# The Table 10 preset at tiny width, with the y-image and a 1-channel domain a.
TINY_NATURAL = ModelConfig(arch="paper_natural", image_size=32, channels_a=1, gen_filters=4,
                           dis_filters=4, n_shared_enc=3, n_shared_gen=4, n_shared_dis=4,
                           spatial_context=True)


# Table 3 with the Table 6 two-head discriminator (domain adaptation), tiny.
TINY_DIGITS = ModelConfig(arch="digits_lenet", image_size=32, channels_a=1, channels_b=1,
                          gen_filters=4, dis_filters=4, n_shared_dis=3)


@pytest.mark.parametrize("arch", ["toy", "paper_natural", "digits_lenet"])
def test_checkpoint_restores_every_variable(tmp_path, tiny_config, arch):
  config = {"toy": tiny_config, "paper_natural": TINY_NATURAL, "digits_lenet": TINY_DIGITS}[arch]
  options = UdaOptions(lambda_cls=1.0) if arch == "digits_lenet" else None
  loss_config = LossConfig()
  shape_a, shape_b = (32, 32, config.channels_a), (32, 32, config.channels_b)
  train_config = TrainConfig(batch_size=2)
  model, checkpoint, step = run_dir.build_trained_objects(
      config, loss_config, train_config, shape_a, shape_b, options)
  images_a = tf.random.stateless_uniform((4,) + shape_a, seed=[1, 2], minval=-1, maxval=1)
  images_b = tf.random.stateless_uniform((4,) + shape_b, seed=[1, 2], minval=-1, maxval=1)
  data = (images_a, images_b)
  if arch == "digits_lenet":
    data += (tf.constant([0, 1, 2, 3]),)
  model.train_step(data)
  step.assign(1)
  path = checkpoint.save(str(tmp_path / "ckpt"))

  keras.utils.set_random_seed(99)
  fresh, fresh_checkpoint, fresh_step = run_dir.build_trained_objects(
      config, loss_config, train_config, shape_a, shape_b, options)
  fresh_checkpoint.restore(path).assert_consumed()
  assert int(fresh_step.numpy()) == 1
  saved = {v.path: v.numpy() for v in model.variables}
  restored = {v.path: v.numpy() for v in fresh.variables}
  assert saved.keys() == restored.keys()
  assert any("moving_mean_1" in k for k in saved) and any("seed_generator" in k for k in saved)
  for key, value in saved.items():
    np.testing.assert_array_equal(value, restored[key], err_msg=key)
  for opt, fresh_opt in ((model.disc_optimizer, fresh.disc_optimizer),
                         (model.gen_optimizer, fresh.gen_optimizer)):
    assert len(opt.variables) == len(fresh_opt.variables)
    for a, b in zip(opt.variables, fresh_opt.variables):
      np.testing.assert_array_equal(a.numpy(), b.numpy())
