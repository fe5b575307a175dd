"""A run directory: its configs, its checkpoints, and the model rebuilt from them.

Layout (`model_dir`):
  config.json          the ModelConfig / LossConfig / TrainConfig, the variant's options and
                       the task's description of the run
  flags.txt            the effective flags of tools/train.py (a --flagfile)
  .lock                the pid and host of the training writing here (RunLock)
  checkpoints/         tf.train.CheckpointManager: model, both optimizers, step, noise RNG state
  train/               TensorBoard events: losses, steps_per_sec, image grids, eval metrics
  grids/step-N.png     the image grid of step N, as TensorBoard shows it (rows a, aa, ab, b,
                       bb, ba), for a look without TensorBoard
"""

import contextlib
import json
import os
import shutil
import socket
import time

import keras
import numpy as np
import tensorflow as tf

from unit_tf import config as unit_config
from unit_tf import variants
from unit_tf.core import optimizers

CHECKPOINT_SUBDIR = "checkpoints"
SUMMARY_SUBDIR = "train"
GRID_SUBDIR = "grids"


def load_configs(model_dir):
  """config.json as {"model": ModelConfig, "loss": LossConfig, "train": TrainConfig, "options":
  the variant's options or None, other sections as dicts}. Runs written before the variants had
  their own options section get them from the old sections' fields."""
  raw = unit_config.read_configs(model_dir)
  out = {k: v for k, v in raw.items() if k not in ("model", "loss", "train", "options")}
  model = unit_config.from_dict(unit_config.ModelConfig, raw.get("model", {}))
  out["model"] = model
  out["loss"] = unit_config.from_dict(unit_config.LossConfig, raw.get("loss", {}))
  out["train"] = unit_config.from_dict(unit_config.TrainConfig, raw.get("train", {}))
  variant = variants.variant_of(model.arch)
  if "options" in raw and variant.options_class is not None:
    out["options"] = unit_config.from_dict(variant.options_class, raw["options"] or {})
  else:
    out["options"] = variants.legacy_options(
        model, [raw.get(k, {}) for k in ("model", "loss", "train")])
  return out


def save_configs(model_dir, model_config, loss_config, train_config, options=None, data=None):
  unit_config.save_configs(model_dir, model=model_config, loss=loss_config, train=train_config,
                           options=options, data=data)


def checkpoint_state_path(model_dir):
  """The CheckpointManager's index file of a run (it exists once a checkpoint was written)."""
  return os.path.join(model_dir, CHECKPOINT_SUBDIR, "checkpoint")


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


def make_optimizer(train_config):
  """Adam with the paper's settings (Section 4: lr 2e-4, betas 0.5 / 0.999; Keras' Adam as one
  fused kernel per variable, `unit_tf.core.optimizers`); wrapped in dynamic
  loss scaling under mixed_float16 (bfloat16 has float32's exponent range and needs none).

  With `lr_decay_steps` the rate follows a staircase, lr * factor^floor(updates / steps) (the
  release's StepLR; the optimizer's update count is the checkpointed step)."""
  learning_rate = train_config.learning_rate
  if train_config.lr_decay_steps:
    learning_rate = keras.optimizers.schedules.ExponentialDecay(
        learning_rate, train_config.lr_decay_steps, train_config.lr_decay_factor, staircase=True)
  optimizer = optimizers.FusedAdam(learning_rate=learning_rate,
                                   beta_1=train_config.beta_1, beta_2=train_config.beta_2)
  if train_config.mixed_precision == "mixed_float16":
    optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
  return optimizer


def build_trained_objects(model_config, loss_config, train_config, shape_a, shape_b,
                          options=None):
  """The compiled, built model and the tf.train.Checkpoint that holds everything a resume needs.

  Call inside the strategy scope. Returns (model, checkpoint, step variable).
  """
  model = variants.build_model(model_config, loss_config, options,
                               disc_steps=train_config.disc_steps, seed=train_config.seed)
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
  """Rebuilds the model of a run directory and restores a checkpoint (the latest, or `step`),
  optimizers included. Returns (model, configs dict, restored step)."""
  configs = load_configs(model_dir)
  model, checkpoint, step_var = build_trained_objects(
      configs["model"], configs["loss"], configs["train"], shape_a, shape_b, configs["options"])
  checkpoint.restore(checkpoint_path(model_dir, step)).assert_existing_objects_matched()
  return model, configs, int(step_var.numpy())


@contextlib.contextmanager
def dtype_policy(policy):
  """Layers built inside compute with the Keras dtype `policy` ("float32", "mixed_bfloat16",
  "mixed_float16"; None: leave the global policy alone); the previous one is restored after."""
  if policy is None:
    yield
    return
  previous = keras.config.dtype_policy()
  keras.config.set_dtype_policy(policy)
  try:
    yield
  finally:
    keras.config.set_dtype_policy(previous)


def restore_for_inference(model_dir, step=None, policy=None):
  """The run's model with the weights and batch-norm statistics of a checkpoint (the latest, or
  `step`), for translation, evaluation and export. The optimizers' slots (twice the weights again)
  are training state: neither built nor read. The model then runs `prepare_for_inference` (a run
  trained with a weight average translates with it). With `policy` (a Keras dtype policy) the
  networks compute in that precision, whatever the run was trained in; variables stay float32,
  so every checkpoint restores. Returns (model, configs dict, step).

  A run still training deletes old checkpoints as it writes new ones: if the latest one vanishes
  while it is read, the then-latest is read instead (up to 3 tries); the step returned says
  which. A requested `step` that vanishes is a FileNotFoundError.
  """
  configs = load_configs(model_dir)
  model_config = configs["model"]
  height = model_config.image_size
  width = model_config.image_width or height
  with dtype_policy(policy):
    model = variants.build_model(model_config, configs["loss"], configs["options"])
    model.build_for((height, width, model_config.channels_a),
                    (height, width, model_config.channels_b))
  for attempt in range(3):
    path = checkpoint_path(model_dir, step)
    try:
      tf.train.Checkpoint(model=model).restore(path).expect_partial(
      ).assert_existing_objects_matched()
      break
    except (tf.errors.NotFoundError, tf.errors.DataLossError) as e:
      if step is not None or attempt == 2:
        raise FileNotFoundError(f"{path} could not be read ({type(e).__name__}); a training "
                                "rotating its checkpoints may have deleted it") from None
  model.prepare_for_inference()
  return model, configs, int(path.rsplit("-", 1)[-1])


# ----- guarding a run directory -----


class RunDirError(RuntimeError):
  """The run directory cannot be used: unwritable, not a directory, or held by another run."""


def check_writable(model_dir):
  """Creates `model_dir` if needed and proves it writable, before anything expensive happens.

  RunDirError with one sentence otherwise (empty name, a regular file, read-only, no permission).
  """
  if not model_dir:
    raise RunDirError("--model_dir is empty: give the run directory, e.g. runs/my_run")
  if os.path.exists(model_dir) and not os.path.isdir(model_dir):
    raise RunDirError(f"--model_dir={model_dir} is a file, not a directory")
  probe = os.path.join(model_dir, f".write_test_{os.getpid()}")
  try:
    os.makedirs(model_dir, exist_ok=True)
    with open(probe, "w") as f:
      f.write("ok")
    os.remove(probe)
  except OSError as e:
    raise RunDirError(f"cannot write to --model_dir={model_dir}: {e.strerror or e} "
                      "(choose a writable directory)") from None


LOCK_FILENAME = ".lock"


def _alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # exists, owned by someone else
    return True
  return True


class RunLock:
  """One writer per run directory: `model_dir/.lock` holds the owner's pid, host and start time.

  Taken atomically (O_CREAT | O_EXCL) and released on exit. A lock left by a dead process on this
  host is stale and taken over (with a warning); a live owner, or one on another host, makes
  `acquire` raise RunDirError naming it, unless `force` (`--force_unlock`).
  """

  def __init__(self, model_dir, force=False):
    self.path = os.path.join(model_dir, LOCK_FILENAME)
    self.force = force
    self.held = False
    self.previous = None  # the owner taken over, for the caller's log line

  def _owner(self):
    try:
      with open(self.path) as f:
        return json.load(f)
    except (OSError, ValueError):
      return None

  def acquire(self):
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    for _ in range(3):
      try:
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
      except FileExistsError:
        owner = self._owner()
        stale = (owner is not None and owner.get("host") == record["host"] and
                 not _alive(int(owner.get("pid", -1))))
        if owner is None or stale or self.force:
          self.previous = owner
          with contextlib.suppress(FileNotFoundError):  # another process removed it first
            os.remove(self.path)
          continue
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(owner.get("started", 0)))
        raise RunDirError(
            f"{os.path.dirname(self.path)} is in use by another training (pid {owner['pid']} on "
            f"{owner['host']}, since {since}); wait for it, use another --model_dir, or pass "
            "--force_unlock if that process is gone") from None
      with os.fdopen(fd, "w") as f:
        json.dump(record, f)
      self.held = True
      return self
    raise RunDirError(f"could not take {self.path}: another process keeps recreating it")

  def release(self):
    if self.held and (self._owner() or {}).get("pid") == os.getpid():
      os.remove(self.path)
    self.held = False

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc):
    self.release()


def remove_stale_temporaries(model_dir):
  """Deletes `ckpt-N_temp/` folders a killed checkpoint write left in checkpoints/ (call while
  holding the run's lock). Returns their names."""
  directory = os.path.join(model_dir, CHECKPOINT_SUBDIR)
  if not os.path.isdir(directory):
    return []
  stale = [n for n in os.listdir(directory) if n.endswith("_temp")]
  for name in stale:
    shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
  return stale


def checkpoint_bytes(model):
  """Bytes of one checkpoint of `model` (weights, statistics, both optimizers' slots)."""
  variables = list(model.variables)
  for optimizer in (model.disc_optimizer, model.gen_optimizer):
    if optimizer is not None:
      variables += list(optimizer.variables)
  seen, total = set(), 0
  for v in variables:
    if id(v) not in seen:
      seen.add(id(v))
      total += int(np.prod(v.shape)) * tf.as_dtype(v.dtype).size
  return total
