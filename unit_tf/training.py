"""The training loop: strategy scope, checkpoints and exact resume, TensorBoard, progress, NaN guard.

One loop for every tf.distribute strategy: `strategy.run(model.train_step)` inside a tf.function
over `strategy.experimental_distribute_dataset`. Keras' `fit` is not used (it cannot drive
MultiWorkerMirroredStrategy, keras-team/keras#20585), and the loop needs to own checkpointing.

Run directory layout (`model_dir`):
  config.json          the ModelConfig / LossConfig / TrainConfig of the run
  checkpoints/         tf.train.CheckpointManager: model, both optimizers, step, noise RNG state
  train/               TensorBoard events: losses, steps_per_sec, image grids, eval metrics
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
from unit_tf import model as unit_model
from unit_tf import visualize

CHECKPOINT_SUBDIR = "checkpoints"
SUMMARY_SUBDIR = "train"


class NonFiniteLossError(RuntimeError):
  """A loss became NaN or infinite; training stopped before writing a checkpoint."""


MIXED_PRECISION_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


def make_optimizer(train_config):
  """Adam with the paper's settings (Section 4: lr 2e-4, betas 0.5 / 0.999); wrapped in dynamic
  loss scaling under mixed_float16 (bfloat16 has float32's exponent range and needs none).

  With `lr_decay_steps` the rate follows a staircase, lr * factor^floor(updates / steps) (the
  release's StepLR; the optimizer's update count is the checkpointed step)."""
  learning_rate = train_config.learning_rate
  if train_config.lr_decay_steps:
    learning_rate = keras.optimizers.schedules.ExponentialDecay(
        learning_rate, train_config.lr_decay_steps, train_config.lr_decay_factor, staircase=True)
  optimizer = keras.optimizers.Adam(learning_rate=learning_rate,
                                    beta_1=train_config.beta_1, beta_2=train_config.beta_2)
  if train_config.mixed_precision == "mixed_float16":
    optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
  return optimizer


def build_trained_objects(model_config, loss_config, train_config, shape_a, shape_b):
  """The compiled, built model and the tf.train.Checkpoint that holds everything a resume needs.

  Call inside the strategy scope. Returns (model, checkpoint, step variable).
  """
  model = unit_model.build_model(model_config, loss_config, disc_steps=train_config.disc_steps,
                                 seed=train_config.seed, weight_decay=train_config.weight_decay,
                                 ema_decay=train_config.ema_decay)
  model.compile(disc_optimizer=make_optimizer(train_config),
                gen_optimizer=make_optimizer(train_config))
  model.build_for(shape_a, shape_b)
  step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
  # The noise generator's state is a Keras variable outside the layers' object graph: name it, or
  # a resumed run would redraw the noise of step 0.
  checkpoint = tf.train.Checkpoint(model=model, disc_optimizer=model.disc_optimizer,
                                   gen_optimizer=model.gen_optimizer, step=step,
                                   noise_seed_state=model.seed_generator.state)
  return model, checkpoint, step


def restore_model(model_dir, shape_a, shape_b, step=None):
  """Rebuilds the model of a run directory and restores a checkpoint (the latest, or `step`).

  Returns (model, configs dict, restored step).
  """
  configs = unit_config.load_configs(model_dir)
  model, checkpoint, step_var = build_trained_objects(configs["model"], configs["loss"],
                                                      configs["train"], shape_a, shape_b)
  path = checkpoint_path(model_dir, step)
  checkpoint.restore(path).assert_existing_objects_matched()
  return model, configs, int(step_var.numpy())


def restore_for_inference(model_dir, step=None):
  """The run's model with the weights and batch-norm statistics of a checkpoint (the latest, or
  `step`), for translation, evaluation and export. The optimizers' slots (twice the weights again)
  are training state: neither built nor read. A run trained with `ema_decay` translates with the
  moving average of its encoder/generator weights. Returns (model, configs dict, step)."""
  configs = unit_config.load_configs(model_dir)
  model_config = configs["model"]
  path = checkpoint_path(model_dir, step)
  height = model_config.image_size
  width = getattr(model_config, "image_width", None) or height
  ema_decay = configs["train"].ema_decay
  model = unit_model.build_model(model_config, configs["loss"], ema_decay=ema_decay)
  model.build_for((height, width, model_config.channels_a),
                  (height, width, model_config.channels_b))
  tf.train.Checkpoint(model=model).restore(path).expect_partial().assert_existing_objects_matched()
  if ema_decay:
    model.use_averaged_weights()
  return model, configs, int(path.rsplit("-", 1)[-1])


def checkpoint_path(model_dir, step=None):
  """Path of the latest checkpoint of a run, or of the one written at `step`."""
  directory = os.path.join(model_dir, CHECKPOINT_SUBDIR)
  state = tf.train.get_checkpoint_state(directory)
  if state is None or not state.all_model_checkpoint_paths:
    raise FileNotFoundError(f"no checkpoint in {directory}")
  if step is None:
    return state.model_checkpoint_path
  for path in state.all_model_checkpoint_paths:
    if path.endswith(f"-{step}"):
      return path
  available = [p.rsplit("-", 1)[-1] for p in state.all_model_checkpoint_paths]
  raise FileNotFoundError(f"no checkpoint for step {step} in {directory}; have {available}")


def _check_compatible(model_dir, model_config, loss_config):
  path = os.path.join(model_dir, unit_config.CONFIG_FILENAME)
  if not os.path.exists(path):
    return
  saved = unit_config.load_configs(model_dir)
  for name, new in (("model", model_config), ("loss", loss_config)):
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


def train(model_dir, task, model_config, loss_config, train_config, strategy=None):
  """Trains (or resumes) a UNIT model on `task` in `model_dir`. Returns the final logs dict.

  `strategy` is a tf.distribute strategy (default: none); `train_config.batch_size` is the global
  batch, split across replicas. On a cluster only the chief writes into `model_dir`; every worker
  restores from the chief's checkpoints.
  """
  if train_config.mixed_precision not in MIXED_PRECISION_POLICIES:
    raise ValueError(f"mixed_precision must be one of {MIXED_PRECISION_POLICIES}")
  strategy = strategy or tf.distribute.get_strategy()
  replicas = strategy.num_replicas_in_sync
  if train_config.batch_size % replicas:
    raise ValueError(f"batch_size {train_config.batch_size} is not divisible by the "
                     f"{replicas} replicas")
  chief = distribute.is_chief(strategy)
  os.makedirs(model_dir, exist_ok=True)
  _check_compatible(model_dir, model_config, loss_config)
  if chief:
    describe = getattr(task, "describe", None)
    unit_config.save_configs(model_dir, model=model_config, loss=loss_config, train=train_config,
                             data=describe() if describe else None)
  keras.utils.set_random_seed(train_config.seed)
  previous_policy = keras.config.dtype_policy()
  keras.config.set_dtype_policy(train_config.mixed_precision)
  try:
    with strategy.scope():
      model, checkpoint, step_var = build_trained_objects(
          model_config, loss_config, train_config, task.image_shape_a, task.image_shape_b)
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
          classes = (f" | cls {logs['cls_loss']:.3f} acc {logs['cls_accuracy']:.3f}"
                     if loss_config.lambda_cls > 0 or loss_config.source_only else "")
          logging.info("step %d/%d | d %.4f g %.4f | recon %.3f/%.3f kl %.3f/%.3f gan %.3f/%.3f"
                       "%s | %.2f it/s | ETA %s", step, train_config.max_steps, logs["d_loss"],
                       logs["g_loss"], logs["recon_a"], logs["recon_b"], logs["kl_a"],
                       logs["kl_b"], logs["gan_a"], logs["gan_b"], classes, rate,
                       _format_eta((train_config.max_steps - step) / rate if rate > 0 else
                                   float("nan")))
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
