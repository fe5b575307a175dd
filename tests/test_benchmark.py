"""The benchmark library returns sane, positive timings for a tiny model (no timing assertions)."""

import dataclasses

from unit_tf import run_dir
from unit_tf import benchmark
from unit_tf import tasks
from unit_tf.config import LossConfig, TrainConfig


def test_train_translate_and_pipeline_timings(tiny_config, mnist_arrays):
  train_config = TrainConfig(batch_size=4)
  steps, model = benchmark.time_train_steps(tiny_config, LossConfig(), train_config,
                                            (32, 32, 3), (32, 32, 3), steps=3, warmup=1)
  assert steps["calls"] == 3 and 0 < steps["p10_s"] <= steps["median_s"] <= steps["p90_s"]
  assert steps["images_per_s"] == 8 / steps["median_s"]
  assert 0 < steps["cpu_median_s"]  # this process's CPU seconds per step
  translate = benchmark.time_translation(model, (32, 32, 3), batch_size=2, calls=2, warmup=1)
  assert translate["median_s"] > 0 and translate["calls"] == 2
  pipeline = benchmark.time_input_pipeline(tasks.ToyTask(mnist_arrays), 8, batches=3, warmup=1)
  assert pipeline["batches_per_s"] > 0


def test_bfloat16_step_keeps_float32_variables(tiny_config):
  train_config = TrainConfig(batch_size=2, mixed_precision="mixed_bfloat16")
  steps, model = benchmark.time_train_steps(tiny_config, LossConfig(), train_config,
                                            (32, 32, 3), (32, 32, 3), steps=1, warmup=1)
  assert steps["median_s"] > 0
  assert all(v.dtype == "float32" for v in model.trainable_variables)
  assert model.encoder_a.private[0].conv.compute_dtype == "bfloat16"
  assert model.translate(tf_zeros()).dtype.name in ("bfloat16", "float32")


def tf_zeros():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.zeros([1, 32, 32, 3])


def test_float16_wraps_optimizers_in_loss_scaling(tiny_config):
  from unit_tf import training  # pylint: disable=g-import-not-at-top
  import keras  # pylint: disable=g-import-not-at-top
  optimizer = run_dir.make_optimizer(dataclasses.replace(TrainConfig(),
                                                          mixed_precision="mixed_float16"))
  assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
