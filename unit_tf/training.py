"""The training loop: strategy scope, checkpoints and exact resume, TensorBoard, progress, NaN guard.

One loop for every tf.distribute strategy: `strategy.run(model.train_step)` inside a tf.function
over `strategy.experimental_distribute_dataset`. Keras' `fit` is not used (it cannot drive
MultiWorkerMirroredStrategy, keras-team/keras#20585), and the loop needs to own checkpointing.

The run directory's layout, configs and checkpoint helpers are `unit_tf.run_dir`. The loop logs
every key the model's `train_step` returns, whatever the variant (TensorBoard `loss/<key>` and the
progress line).
"""

import contextlib
import math
import os
import signal
import threading
import time

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from unit_tf import config as unit_config
from unit_tf import distribute
from unit_tf import run_dir
from unit_tf import variants
from unit_tf import visualize
from unit_tf.run_dir import CHECKPOINT_SUBDIR, SUMMARY_SUBDIR


class NonFiniteLossError(RuntimeError):
  """A loss became NaN or infinite; training stopped before writing a checkpoint."""


def _check_compatible(model_dir, model_config, loss_config, options):
  path = os.path.join(model_dir, unit_config.CONFIG_FILENAME)
  if not os.path.exists(path):
    return
  saved = run_dir.load_configs(model_dir)
  for name, new in (("model", model_config), ("loss", loss_config), ("options", options)):
    if saved.get(name) != new:
      raise ValueError(
          f"{model_dir} holds a run with a different {name} configuration ({saved.get(name)}); "
          f"resuming it with {new} would not restore. Use a new --model_dir.")


def _format_eta(seconds):
  if not math.isfinite(seconds):
    return "?"
  seconds = int(seconds)
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _check_finite(logs, step, manager):
  bad = [k for k, v in logs.items() if not np.isfinite(v)]
  if bad:
    kept = manager.latest_checkpoint or "none written yet"
    raise NonFiniteLossError(
        f"non-finite {', '.join(bad)} at step {step}; stopped without saving, the last "
        f"checkpoint ({kept}) is intact. Try a lower --learning_rate or loss weights.")


def make_train_function(model, strategy, jit_compile=False):
  """A tf.function running one distributed train_step and summing the per-replica losses (each
  is already divided by the global batch, so the sum is the global mean). With `jit_compile`
  XLA compiles the per-replica step; the distribution wrapper stays outside it."""
  replica_step = tf.function(model.train_step, jit_compile=True) if jit_compile else (
      model.train_step)

  @tf.function
  def step_fn(batch):
    per_replica = strategy.run(replica_step, args=(batch,))
    return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
            for k, v in per_replica.items()}

  return step_fn


@contextlib.contextmanager
def _stop_on_sigterm():
  """Turns SIGTERM (what schedulers and `kill` send) into a request to save and stop after the
  current step. Yields a threading.Event that is set when the signal arrives."""
  requested = threading.Event()
  if threading.current_thread() is not threading.main_thread():
    yield requested
    return
  previous = signal.signal(signal.SIGTERM, lambda signum, frame: requested.set())
  try:
    yield requested
  finally:
    signal.signal(signal.SIGTERM, previous)


def _writer_and_manager(model_dir, checkpoint, step_var, train_config, chief, worker_id):
  """Only the chief writes summaries and the real checkpoints. Other workers must take part in
  saving (the variables are mirrored), so they save into a scratch directory they delete."""
  if chief:
    directory = os.path.join(model_dir, CHECKPOINT_SUBDIR)
    writer = tf.summary.create_file_writer(os.path.join(model_dir, SUMMARY_SUBDIR))
  else:
    directory = os.path.join(model_dir, f".worker{worker_id}_scratch", CHECKPOINT_SUBDIR)
    writer = tf.summary.create_noop_writer()
  manager = tf.train.CheckpointManager(checkpoint, directory,
                                       max_to_keep=train_config.keep_checkpoints,
                                       step_counter=step_var)
  return writer, manager


def _progress_line(step, max_steps, logs, rate):
  """`step 100/2000 | d_loss 1.2345 g_loss ... | 2.10 it/s | ETA 0:15:00`: every logged key."""
  values = " ".join(f"{k} {v:.4g}" for k, v in logs.items())
  speed = f"{rate:.2f} it/s" if rate >= 1 or not rate > 0 else f"{1 / rate:.2f} s/it"
  eta = _format_eta((max_steps - step) / rate if rate > 0 else float("nan"))
  return f"step {step}/{max_steps} | {values} | {speed} | ETA {eta}"


def train(model_dir, task, model_config, loss_config, train_config, strategy=None, options=None):
  """Trains (or resumes) a UNIT model on `task` in `model_dir`. Returns the final logs dict.

  `options` are the variant's (`unit_tf.variants`; None: its defaults). `strategy` is a
  tf.distribute strategy (default: none); `train_config.batch_size` is the global batch, split
  across replicas. On a cluster only the chief writes into `model_dir`; every worker restores
  from the chief's checkpoints.
  """
  for cfg in (model_config, loss_config, train_config) + ((options,) if options else ()):
    unit_config.validate(cfg)
  options = variants.check_options(model_config, options)
  strategy = strategy or tf.distribute.get_strategy()
  replicas = strategy.num_replicas_in_sync
  if train_config.batch_size % replicas:
    raise ValueError(f"batch_size {train_config.batch_size} is not divisible by the "
                     f"{replicas} replicas")
  chief = distribute.is_chief(strategy)
  os.makedirs(model_dir, exist_ok=True)
  _check_compatible(model_dir, model_config, loss_config, options)
  if chief:
    run_dir.save_configs(model_dir, model_config, loss_config, train_config, options,
                         data=task.describe())
  keras.utils.set_random_seed(train_config.seed)
  previous_policy = keras.config.dtype_policy()
  keras.config.set_dtype_policy(train_config.mixed_precision)
  try:
    with strategy.scope():
      model, checkpoint, step_var = run_dir.build_trained_objects(
          model_config, loss_config, train_config, task.image_shape_a, task.image_shape_b,
          options)
  finally:
    keras.config.set_dtype_policy(previous_policy)
  writer, manager = _writer_and_manager(model_dir, checkpoint, step_var, train_config, chief,
                                        distribute.task_id(strategy))
  latest = tf.train.latest_checkpoint(os.path.join(model_dir, CHECKPOINT_SUBDIR))
  if latest:
    checkpoint.restore(latest).assert_existing_objects_matched()
    logging.info("resumed from %s", latest)
  start = int(step_var.numpy())
  if start >= train_config.max_steps:
    logging.info("step %d >= max_steps %d: nothing to train", start, train_config.max_steps)
    return {}

  chunks = train_config.disc_steps + 1
  iterator = iter(distribute.distribute_dataset(
      strategy, lambda: task.train_dataset(train_config.batch_size * chunks, train_config.seed,
                                           start_batch=start), chunks))
  step_fn = make_train_function(model, strategy, train_config.jit_compile)
  vis_a, vis_b = task.visualization_batch(8)

  def every(n, step):
    return n > 0 and (step % n == 0 or step == train_config.max_steps)

  def save(step, logs):
    _check_finite(logs, step, manager)
    manager.save(checkpoint_number=step)
    if not chief:
      tf.io.gfile.rmtree(os.path.dirname(manager.directory))

  logs = {}
  step = start
  interval_start, interval_steps = time.perf_counter(), 0
  try:
    with writer.as_default(), _stop_on_sigterm() as stop_requested:
      while step < train_config.max_steps:
        if stop_requested.is_set():
          logs = {k: float(v) for k, v in tensors.items()}
          save(step, logs)
          logging.warning("SIGTERM: saved step %d and stopped", step)
          return logs
        tensors = step_fn(next(iterator))
        step_var.assign_add(1)
        step += 1
        interval_steps += 1
        if every(train_config.log_every, step):
          logs = {k: float(v) for k, v in tensors.items()}
          _check_finite(logs, step, manager)
          elapsed = time.perf_counter() - interval_start
          rate = interval_steps / elapsed if elapsed > 0 else float("nan")
          for k, v in logs.items():
            tf.summary.scalar(f"loss/{k}", v, step=step)
          tf.summary.scalar("perf/steps_per_sec", rate, step=step)
          logging.info("%s", _progress_line(step, train_config.max_steps, logs, rate))
          interval_start, interval_steps = time.perf_counter(), 0
        if chief and every(train_config.image_every, step):
          tf.summary.image("translations/a_aa_ab_b_bb_ba",
                           visualize.translation_grid(model, vis_a, vis_b), step=step)
        if chief and every(train_config.eval_every, step):
          results = task.evaluate(model, train_config.eval_examples)
          for k, v in results.items():
            tf.summary.scalar(f"eval/{k}", v, step=step)
          logging.info("step %d eval %s", step,
                       " ".join(f"{k}={v:.4f}" for k, v in results.items()))
        if every(train_config.checkpoint_every, step):
          logs = {k: float(v) for k, v in tensors.items()}
          save(step, logs)
        if step == train_config.max_steps:
          logs = {k: float(v) for k, v in tensors.items()}
      writer.flush()
  except KeyboardInterrupt:
    if step > start:
      logs = {k: float(v) for k, v in tensors.items()}
      save(step, logs)
      logging.warning("interrupted: saved step %d", step)
    raise
  if not every(train_config.checkpoint_every, step):
    save(step, logs or {k: float(v) for k, v in tensors.items()})
  return logs
