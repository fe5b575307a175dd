"""A run directory: its configs, its checkpoints, and the model rebuilt from them.

Layout (`model_dir`):
  config.json          the ModelConfig / LossConfig / TrainConfig, the variant's options and
                       the task's description of the run
  checkpoints/         tf.train.CheckpointManager: model, both optimizers, step, noise RNG state
  train/               TensorBoard events: losses, steps_per_sec, image grids, eval metrics
"""

import contextlib
import os

import keras
import tensorflow as tf

from unit_tf import config as unit_config
from unit_tf import variants

CHECKPOINT_SUBDIR = "checkpoints"
SUMMARY_SUBDIR = "train"


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
  so every checkpoint restores. Returns (model, configs dict, step)."""
  configs = load_configs(model_dir)
  model_config = configs["model"]
  path = checkpoint_path(model_dir, step)
  height = model_config.image_size
  width = model_config.image_width or height
  with dtype_policy(policy):
    model = variants.build_model(model_config, configs["loss"], configs["options"])
    model.build_for((height, width, model_config.channels_a),
                    (height, width, model_config.channels_b))
  tf.train.Checkpoint(model=model).restore(path).expect_partial().assert_existing_objects_matched()
  model.prepare_for_inference()
  return model, configs, int(path.rsplit("-", 1)[-1])
