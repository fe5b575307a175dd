"""The training loop in-process: exact resume, checkpoints kept, NaN guard, config mismatch."""

import dataclasses
import os

import numpy as np
import pytest
import tensorflow as tf

from unit_tf import run_dir
from unit_tf import tasks
from unit_tf import training
from unit_tf.config import LossConfig, TrainConfig

TRAIN = TrainConfig(batch_size=4, max_steps=4, log_every=1, image_every=0, eval_every=0,
                    checkpoint_every=2, eval_examples=8)


def _variables(model_dir, task):
  model, _, step = run_dir.restore_model(model_dir, task.image_shape_a, task.image_shape_b)
  return step, {v.path: v.numpy() for v in model.variables}


def test_resumed_run_continues_exactly_like_an_uninterrupted_one(tmp_path, mnist_arrays,
                                                                 tiny_config):
  task = tasks.ToyTask(mnist_arrays)
  straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
  training.train(straight, task, tiny_config, LossConfig(), TRAIN)
  training.train(resumed, task, tiny_config, LossConfig(), dataclasses.replace(TRAIN, max_steps=2))
  assert _variables(resumed, task)[0] == 2
  training.train(resumed, task, tiny_config, LossConfig(), TRAIN)
  step_a, vars_a = _variables(straight, task)
  step_b, vars_b = _variables(resumed, task)
  assert step_a == step_b == 4
  assert vars_a.keys() == vars_b.keys()
  # includes both optimizers' state, BN statistics and the noise generator's state
  assert any("seed_generator" in k for k in vars_a)
  for key in vars_a:
    np.testing.assert_allclose(vars_a[key], vars_b[key], rtol=1e-6, atol=1e-6, err_msg=key)


class _NaNTask(tasks.ToyTask):
  """The toy task with NaN images from step 2 on."""

  def train_dataset(self, batch_size, seed, start_batch=0):
    ds = super().train_dataset(batch_size, seed, start_batch)
    ds = ds.enumerate(start_batch)
    return ds.map(lambda i, ab: tuple(
        tf.where(i >= 2, tf.fill(tf.shape(x), np.nan), x) for x in ab))


def test_nan_loss_stops_without_overwriting_checkpoints(tmp_path, mnist_arrays, tiny_config):
  model_dir = str(tmp_path / "run")
  task = _NaNTask(mnist_arrays)
  with pytest.raises(training.NonFiniteLossError, match="step 3"):
    training.train(model_dir, task, tiny_config, LossConfig(),
                   dataclasses.replace(TRAIN, max_steps=6))
  assert run_dir.checkpoint_path(model_dir).endswith("ckpt-2")
  step, variables = _variables(model_dir, task)
  assert step == 2
  assert all(np.isfinite(v).all() for v in variables.values() if v.dtype.kind == "f")


def test_resume_with_another_architecture_is_refused(tmp_path, mnist_arrays, tiny_config):
  model_dir = str(tmp_path / "run")
  task = tasks.ToyTask(mnist_arrays)
  training.train(model_dir, task, tiny_config, LossConfig(),
                 dataclasses.replace(TRAIN, max_steps=1))
  with pytest.raises(ValueError, match="different model configuration"):
    training.train(model_dir, task, dataclasses.replace(tiny_config, n_shared_enc=2),
                   LossConfig(), TRAIN)
  assert os.path.exists(os.path.join(model_dir, "checkpoints", "ckpt-1.index"))


def test_checkpoint_path_names_missing_steps(tmp_path, mnist_arrays, tiny_config):
  with pytest.raises(FileNotFoundError, match="no checkpoint"):
    run_dir.checkpoint_path(str(tmp_path))
  model_dir = str(tmp_path / "run")
  training.train(model_dir, tasks.ToyTask(mnist_arrays), tiny_config, LossConfig(),
                 dataclasses.replace(TRAIN, max_steps=2))
  with pytest.raises(FileNotFoundError, match=r"no checkpoint for step 7 .*\['2'\]"):
    run_dir.checkpoint_path(model_dir, 7)
