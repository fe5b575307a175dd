"""Trains (or resumes) a UNIT model.

  python tools/train.py --flagfile=configs/mnist_toy.flags --model_dir=runs/toy
  python tools/train.py --flagfile=configs/day_night_amos.flags --model_dir=runs/day_night

Running again with the same --model_dir resumes from the latest checkpoint. The effective flags
are written to MODEL_DIR/flags.txt (usable as a --flagfile).
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging

import config_flags
import experiment_flags
import flag_defs

FLAGS = flags.FLAGS

# ----- run -----
flags.DEFINE_string("model_dir", None, "Run directory: checkpoints, TensorBoard events, config.",
                    required=True)
flags.DEFINE_enum("strategy", "auto", ["auto", "default", "mirrored", "multi_worker",
                                        "one_device"],
                  "tf.distribute strategy: auto = mirrored over the GPUs when there are several; "
                  "multi_worker reads TF_CONFIG. --batch_size is the global batch.")
flags.DEFINE_list("eval_quality", None, "Also log quality metrics every --eval_every steps: "
                  "translation_accuracy (toy), fid,kid (images, celeba; --inception_weights). "
                  "See tools/evaluate.py.")
flag_defs.define_quality_flags()
flags.DEFINE_integer("num_cpu_devices", 1, "Split the CPU into N logical devices (to run and test "
                     "the mirrored strategy without GPUs).", lower_bound=1)


def _write_effective_flags(model_dir):
  module = sys.modules[__name__]
  names = [f for f in FLAGS.get_key_flags_for_module(module)]
  names += FLAGS.get_key_flags_for_module(experiment_flags)
  names += FLAGS.get_key_flags_for_module(flag_defs)
  names += FLAGS.get_key_flags_for_module(config_flags)
  lines = [f.serialize() for f in names if f.value is not None]
  path = os.path.join(model_dir, "flags.txt")
  with open(path + ".tmp", "w") as f:
    f.write("\n".join(sorted(lines)) + "\n")
  os.replace(path + ".tmp", path)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from unit_tf import distribute  # pylint: disable=g-import-not-at-top
  from unit_tf import training  # pylint: disable=g-import-not-at-top

  try:  # devices and the cluster must be set up before TensorFlow runs anything
    strategy = distribute.make_strategy(FLAGS.strategy, FLAGS.num_cpu_devices)
  except ValueError as e:
    raise app.UsageError(str(e)) from None
  model_config, loss_config, train_config, options, (height, width) = experiment_flags.configs()
  if train_config.batch_size % strategy.num_replicas_in_sync:
    raise app.UsageError(f"--batch_size={train_config.batch_size} must be divisible by the "
                         f"{strategy.num_replicas_in_sync} replicas")
  os.makedirs(FLAGS.model_dir, exist_ok=True)
  task = experiment_flags.load_task(height, width)
  if FLAGS.eval_quality:
    task = flag_defs.with_quality_metrics(task, FLAGS.eval_quality, FLAGS.model_dir)
  if distribute.is_chief(strategy):
    _write_effective_flags(FLAGS.model_dir)
  try:
    logs = training.train(FLAGS.model_dir, task, model_config, loss_config, train_config,
                          strategy=strategy, options=options)
  except (training.NonFiniteLossError, ValueError) as e:
    raise SystemExit(f"error: {e}") from None
  logging.info("done: %s", logs)


if __name__ == "__main__":
  app.run(main)
