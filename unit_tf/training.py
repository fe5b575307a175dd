"""The training loop: strategy scope, checkpoints and exact resume, TensorBoard, progress, NaN guard.

One loop for every tf.distribute strategy: `strategy.run(model.train_step)` inside a tf.function
over `strategy.experimental_distribute_dataset`. Keras' `fit` is not used (it cannot drive
MultiWorkerMirroredStrategy, keras-team/keras#20585), and the loop needs to own checkpointing.

The run directory's layout, configs and checkpoint helpers are `unit_tf.run_dir`. The loop logs
every key the model's `train_step` returns, whatever the variant (TensorBoard `loss/<key>` and the
progress line).
"""

import contextlib
import dataclasses
import math
import os
import shutil
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


class CheckpointWriteError(RuntimeError):
  """Writing a checkpoint failed (e.g. a full disk); the earlier checkpoints are intact."""


class TrainingInterrupted(Exception):
  """SIGTERM or SIGINT: the current step finished, was counted and saved; training stopped.

  Attributes: signal_name ("SIGTERM" / "SIGINT"), step (the saved step), logs.
  """

  def __init__(self, signal_name, step, logs):
    super().__init__(f"{signal_name}: saved step {step} and stopped")
    self.signal_name, self.step, self.logs = signal_name, step, logs


# What may differ when a run is resumed: bookkeeping and how the step is computed. Everything
# else (the objective, the optimizer's hyperparameters, the data order) lives in the checkpoint
# or in the batches already drawn, so a resume with another value would record one thing and do
# another.
RESUMABLE_TRAIN_FIELDS = ("max_steps", "log_every", "image_every", "checkpoint_every",
                          "eval_every", "eval_examples", "keep_checkpoints", "jit_compile",
                          "mixed_precision")


def _check_compatible(model_dir, model_config, loss_config, train_config, options):
  path = os.path.join(model_dir, unit_config.CONFIG_FILENAME)
  if not os.path.exists(path):
    return
  saved = run_dir.load_configs(model_dir)
  for name, new in (("model", model_config), ("loss", loss_config), ("options", options)):
    if saved.get(name) != new:
      raise ValueError(
          f"{model_dir} holds a run with a different {name} configuration ({saved.get(name)}); "
          f"resuming it with {new} would not restore. Use a new --model_dir.")
  old = saved["train"]
  changed = [f"{f.name} {getattr(old, f.name)!r} -> {getattr(train_config, f.name)!r}"
             for f in dataclasses.fields(train_config)
             if getattr(old, f.name) != getattr(train_config, f.name)]
  refused = [c for c in changed if c.split(" ")[0] not in RESUMABLE_TRAIN_FIELDS]
  if refused:
    raise ValueError(
        f"{model_dir} was trained with other settings; resuming cannot apply "
        f"{'; '.join(refused)} (the optimizer state and the data order come from the "
        "checkpoint). Resume with the run's values, or start a new --model_dir.")
  if changed:
    logging.info("resuming with changed bookkeeping: %s", "; ".join(changed))


def _format_eta(seconds):
  if not math.isfinite(seconds):
    return "?"
  seconds = int(seconds)
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _non_finite_error(logs, step, manager):
  bad = [k for k, v in logs.items() if not np.isfinite(v)]
  kept = manager.latest_checkpoint or "none written yet"
  return NonFiniteLossError(
      f"non-finite {', '.join(bad) or 'loss'} at step {step}; stopped without saving, the last "
      f"checkpoint ({kept}) is intact. Try a lower --learning_rate or loss weights.")


def make_train_function(model, strategy, jit_compile=False):
  """A tf.function running one distributed train_step and summing the per-replica losses (each
  is already divided by the global batch, so the sum is the global mean); returns (logs, whether
  every loss is finite). With `jit_compile` XLA compiles the per-replica step; the distribution
  wrapper stays outside it."""
  replica_step = tf.function(model.train_step, jit_compile=True) if jit_compile else (
      model.train_step)

  @tf.function
  def step_fn(batch):
    per_replica = strategy.run(replica_step, args=(batch,))
    logs = {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
            for k, v in per_replica.items()}
    # one cheap reduce: the loop checks every step that every loss is finite
    finite = tf.reduce_all(tf.stack([tf.reduce_all(tf.math.is_finite(tf.cast(v, tf.float32)))
                                     for v in logs.values()]))
    return logs, finite

  return step_fn


@contextlib.contextmanager
def _stop_on_signals():
  """Turns SIGTERM (what schedulers and `kill` send) and SIGINT (Ctrl-C) into a request to finish
  the current step, save it and stop. Yields a dict whose "signal" is set to the name of the
  signal that arrived (None until one does)."""
  requested = {"signal": None}
  if threading.current_thread() is not threading.main_thread():
    yield requested
    return

  def handler(signum, frame):
    del frame
    requested["signal"] = signal.Signals(signum).name

  previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
  try:
    yield requested
  finally:
    for s, h in previous.items():
      signal.signal(s, h)


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


def train(model_dir, task, model_config, loss_config, train_config, strategy=None, options=None,
          force_unlock=False, run_lock=None):
  """Trains (or resumes) a UNIT model on `task` in `model_dir`. Returns the final logs dict.

  `options` are the variant's (`unit_tf.variants`; None: its defaults). `strategy` is a
  tf.distribute strategy (default: none); `train_config.batch_size` is the global batch, split
  across replicas. On a cluster only the chief writes into `model_dir` (and holds its lock,
  `run_dir.RunLock`; `force_unlock` takes over a lock another process holds; a caller that took
  the lock itself passes it as `run_lock`); every worker restores from the chief's checkpoints.

  Raises TrainingInterrupted after saving when SIGTERM or SIGINT arrives, NonFiniteLossError
  (nothing saved after the first non-finite loss), CheckpointWriteError, run_dir.RunDirError,
  ValueError for configurations that cannot resume this run.
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
  if chief:
    run_dir.check_writable(model_dir)
  else:
    os.makedirs(model_dir, exist_ok=True)
  lock = None
  if chief and run_lock is None:
    lock = run_dir.RunLock(model_dir, force=force_unlock).acquire()
  try:
    return _train_locked(model_dir, task, model_config, loss_config, train_config, strategy,
                         options, chief)
  finally:
    if lock is not None:
      lock.release()


def _train_locked(model_dir, task, model_config, loss_config, train_config, strategy, options,
                  chief):
  """`train` once the run directory is checked and (on the chief) locked."""
  if chief:
    for name in run_dir.remove_stale_temporaries(model_dir):
      logging.warning("removed %s, left by a checkpoint write that did not finish", name)
  _check_compatible(model_dir, model_config, loss_config, train_config, options)
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
  size = run_dir.checkpoint_bytes(model)
  if chief:
    logging.info("a checkpoint of this model is %.1f MB; keeping %d: up to %.1f MB in %s",
                 size / 1e6, train_config.keep_checkpoints,
                 size * train_config.keep_checkpoints / 1e6,
                 os.path.join(model_dir, CHECKPOINT_SUBDIR))

  chunks = train_config.disc_steps + 1
  iterator = iter(distribute.distribute_dataset(
      strategy, lambda: task.train_dataset(train_config.batch_size * chunks, train_config.seed,
                                           start_batch=start), chunks))
  step_fn = make_train_function(model, strategy, train_config.jit_compile)
  vis_a, vis_b = task.visualization_batch(8)

  def every(n, step):
    return n > 0 and (step % n == 0 or step == train_config.max_steps)

  def save(step):
    began = time.perf_counter()
    try:
      path = manager.save(checkpoint_number=step)
    except (tf.errors.OpError, OSError) as e:
      run_dir.remove_stale_temporaries(model_dir)
      free = shutil.disk_usage(model_dir).free
      raise CheckpointWriteError(
          f"writing the checkpoint of step {step} failed ({type(e).__name__}: "
          f"{getattr(e, 'message', None) or e}); the last good checkpoint "
          f"({manager.latest_checkpoint or 'none yet'}) is intact. A checkpoint of this model "
          f"needs about {size / 1e6:.1f} MB ({free / 1e6:.1f} MB free in {model_dir}). Free some "
          "space and run the same command to resume.") from None
    writer.flush()  # the summaries up to this step survive whatever happens next
    if chief:
      logging.info("saved %s (%.1f s)", path, time.perf_counter() - began)
    if not chief:
      tf.io.gfile.rmtree(os.path.dirname(manager.directory))

  def floats(tensors):
    return {k: float(v) for k, v in tensors.items()}

  logs, tensors = {}, None
  step = start
  interval_start, interval_steps = None, 0
  with writer.as_default(), _stop_on_signals() as stop:
    while step < train_config.max_steps:
      if stop["signal"]:
        if step > start:
          save(step)
        raise TrainingInterrupted(stop["signal"], step, floats(tensors) if tensors else {})
      began = time.perf_counter()
      tensors, finite = step_fn(next(iterator))
      if not bool(finite):  # checked every step: nothing after a non-finite loss is saved
        raise _non_finite_error(floats(tensors), step + 1, manager)
      step_var.assign_add(1)
      step += 1
      if step == start + 1:
        logging.info("step %d took %.1f s (tracing the train step included)", step,
                     time.perf_counter() - began)
        interval_start, interval_steps = time.perf_counter(), 0
      else:
        interval_steps += 1
      if every(train_config.log_every, step):
        logs = floats(tensors)
        elapsed = time.perf_counter() - interval_start
        rate = interval_steps / elapsed if elapsed > 0 and interval_steps else float("nan")
        for k, v in logs.items():
          tf.summary.scalar(f"loss/{k}", v, step=step)
        if rate == rate:
          tf.summary.scalar("perf/steps_per_sec", rate, step=step)
        logging.info("%s", _progress_line(step, train_config.max_steps, logs, rate))
        interval_start, interval_steps = time.perf_counter(), 0
      if chief and every(train_config.image_every, step):
        began = time.perf_counter()
        grid = visualize.translation_grid(model, vis_a, vis_b)
        tf.summary.image("translations/a_aa_ab_b_bb_ba", grid, step=step)
        grid_path = os.path.join(model_dir, run_dir.GRID_SUBDIR, f"step-{step}.png")
        visualize.write_png(grid_path, grid)
        logging.info("step %d: image grid written to TensorBoard and %s (%.1f s)", step,
                     grid_path, time.perf_counter() - began)
      if chief and every(train_config.eval_every, step):
        logging.info("step %d: evaluating on up to %d test examples ...", step,
                     train_config.eval_examples)
        began = time.perf_counter()
        results = task.evaluate(model, train_config.eval_examples)
        for k, v in results.items():
          tf.summary.scalar(f"eval/{k}", v, step=step)
        logging.info("step %d eval %s (%.1f s)", step,
                     " ".join(f"{k}={v:.4f}" for k, v in results.items()),
                     time.perf_counter() - began)
      if every(train_config.checkpoint_every, step):
        save(step)
      if step == train_config.max_steps:
        logs = floats(tensors)
    writer.flush()
  if not every(train_config.checkpoint_every, step):
    save(step)
  return logs
