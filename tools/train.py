"""Trains (or resumes) a UNIT model.

  python tools/train.py --flagfile=configs/thermal_rgb.flags          # run dir runs/thermal_rgb
  python tools/train.py --flagfile=configs/mnist_toy.flags --model_dir=runs/toy

Without --model_dir the run directory is runs/<name of the first --flagfile> (runs/<task>_<arch>
without one), printed first. Running again with the same directory resumes from its latest
checkpoint. The effective flags are written to MODEL_DIR/flags.txt (usable as a --flagfile).

Exit status: 0 when done, and after SIGTERM (the step in progress finishes, is saved, and the
same command resumes); 130 after Ctrl-C (SIGINT), which also saves first; 1 with a one-line
error otherwise. One training per run directory: a second one is refused (MODEL_DIR/.lock names
the first) unless --force_unlock.
"""

# First: TF_ENABLE_ONEDNN_OPTS (runtime_env), then TensorFlow imported quietly (tool_env).
import runtime_env  # pylint: disable=unused-import
import tool_env
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
flags.DEFINE_string("model_dir", None, "Run directory: checkpoints, TensorBoard events, config. "
                    "Default: runs/<name of the first --flagfile>, or runs/<task>_<arch>.")
flags.DEFINE_bool("force_unlock", False, "Take over MODEL_DIR/.lock even if it names a live "
                  "process (only when you know that training is gone, e.g. on another host).")
# --helpshort lists the experiment's flags too, not only this file's
flags.adopt_module_key_flags(experiment_flags)
flags.adopt_module_key_flags(config_flags)
flags.adopt_module_key_flags(flag_defs)
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


def default_model_dir(argv):
  """runs/<stem of the first --flagfile in argv>, else runs/<task>_<arch>."""
  for i, arg in enumerate(argv):
    path = arg.split("=", 1)[1] if arg.startswith("--flagfile=") else (
        argv[i + 1] if arg == "--flagfile" and i + 1 < len(argv) else None)
    if path:
      return os.path.join("runs", os.path.splitext(os.path.basename(path))[0])
  return os.path.join("runs", f"{FLAGS.task}_{FLAGS.arch}")


def _write_effective_flags(model_dir):
  module = sys.modules[__name__]
  names = {f.name: f for f in FLAGS.get_key_flags_for_module(module)}
  for other in (experiment_flags, flag_defs, config_flags):
    names.update({f.name: f for f in FLAGS.get_key_flags_for_module(other)})
  lines = [f.serialize() for f in names.values() if f.value is not None and f.name not in (
      "force_unlock",)]
  path = os.path.join(model_dir, "flags.txt")
  with open(path + ".tmp", "w") as f:
    f.write("\n".join(sorted(lines)) + "\n")
  os.replace(path + ".tmp", path)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from unit_tf import distribute  # pylint: disable=g-import-not-at-top
  from unit_tf import run_dir  # pylint: disable=g-import-not-at-top
  from unit_tf import training  # pylint: disable=g-import-not-at-top

  model_dir = FLAGS.model_dir if FLAGS.model_dir is not None else default_model_dir(sys.argv[1:])

  try:  # devices and the cluster must be set up before TensorFlow runs anything
    strategy = distribute.make_strategy(FLAGS.strategy, FLAGS.num_cpu_devices)
  except ValueError as e:
    raise app.UsageError(str(e)) from None
  model_config, loss_config, train_config, options, (height, width) = experiment_flags.configs()
  if train_config.batch_size % strategy.num_replicas_in_sync:
    raise app.UsageError(f"--batch_size={train_config.batch_size} must be divisible by the "
                         f"{strategy.num_replicas_in_sync} replicas")
  chief = distribute.is_chief(strategy)
  resuming = os.path.exists(run_dir.checkpoint_state_path(model_dir))
  logging.info("run directory: %s (%s)", model_dir, "resuming" if resuming else "new run")
  lock = run_dir.RunLock(model_dir, force=FLAGS.force_unlock) if chief else None
  try:
    if chief:  # before the data is loaded: a busy or unwritable directory fails at once
      run_dir.check_writable(model_dir)
      lock.acquire()
      if lock.previous:
        logging.warning("took over %s from pid %s on %s", lock.path, lock.previous.get("pid"),
                        lock.previous.get("host"))
    task = experiment_flags.load_task(height, width)
    if FLAGS.eval_quality:
      task = flag_defs.with_quality_metrics(
          task, FLAGS.eval_quality, model_dir, uda_target_train=lambda: (
              flag_defs.load_uda_target_train(
                  FLAGS.target, FLAGS.data_path_b, FLAGS.tfds_data_dir, model_config.image_size,
                  model_config.channels_b, FLAGS.usps_split or "esl")))
    if chief:
      _write_effective_flags(model_dir)
    logs = training.train(model_dir, task, model_config, loss_config, train_config,
                          strategy=strategy, options=options, run_lock=lock)
  except training.TrainingInterrupted as e:
    logging.warning("%s: saved step %d and stopped; run the same command to resume",
                    e.signal_name, e.step)
    sys.exit(130 if e.signal_name == "SIGINT" else 0)
  except (training.NonFiniteLossError, training.CheckpointWriteError, run_dir.RunDirError,
          ValueError) as e:
    raise SystemExit(f"error: {e}") from None
  finally:
    if lock is not None:
      lock.release()
  logging.info("done: %s", logs)


if __name__ == "__main__":
  tool_env.run(main)
