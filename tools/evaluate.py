"""Evaluates a trained run and prints one JSON object as the last line of output.

  python tools/evaluate.py --model_dir=runs/mnist_toy [--data_path=../shared/data/mnist.npz]
  python tools/evaluate.py --model_dir=runs/uda_mnist_usps --task=uda \
      [--data_path_a=../shared/data/mnist.npz --data_path_b=../shared/data/usps.npz]

Task toy: {"toy_distance_a2b": ..., "toy_distance_b2a": ..., "step": ...} on the MNIST test set.
Task uda: {"target_accuracy": ..., "source_accuracy": ..., "step": ...}: the target test set
classified by D_b's class head (D_a's for a --source_only baseline) and the source test set by
D_a's. The source and target sets come from the run's config.json; --source/--target override.
--task defaults to the task the run was trained on, and data flags not given (--data_path,
--tfds_data_dir, --data_path_a/--data_path_b, --source/--target) to the run's MODEL_DIR/flags.txt.
"""

# First: TF_ENABLE_ONEDNN_OPTS (runtime_env), then TensorFlow imported quietly (tool_env).
import runtime_env  # pylint: disable=unused-import
import tool_env
import json
import os

from absl import app
from absl import flags
from absl import logging

import flag_defs

FLAGS = flags.FLAGS

flags.DEFINE_string("model_dir", None, "Run directory written by tools/train.py.", required=True)
flags.DEFINE_integer("step", None, "Checkpoint step to evaluate (default: the latest).",
                     lower_bound=0)
flags.DEFINE_enum("task", None, ["toy", "uda"], "What to evaluate: toy = the Appendix B "
                  "metric; uda = domain-adaptation accuracy (Appendix C). Default: the task the "
                  "run was trained on (its config.json).")
flags.DEFINE_integer("eval_examples", None, "Evaluate on the first N test examples (default all).",
                     lower_bound=1)
flag_defs.define_data_flags()
flag_defs.define_uda_data_flags()


def _uda_task(configs):
  data = configs.get("data") or {}
  if data.get("task", "uda") != "uda":
    raise SystemExit(f"error: {FLAGS.model_dir} was trained on task {data.get('task')!r}, "
                     "not uda")
  model = configs["model"]
  return flag_defs.load_uda_task(FLAGS.source or data.get("source"),
                                 FLAGS.target or data.get("target"), FLAGS.data_path_a,
                                 FLAGS.data_path_b, FLAGS.tfds_data_dir, model.image_size,
                                 model.channels_a, model.channels_b,
                                 FLAGS.usps_split or data.get("usps_split", "esl"))


DATA_FLAGS = ("data_path", "tfds_data_dir", "data_path_a", "data_path_b", "source", "target")


def _recorded_flags(model_dir):
  """{name: value} of MODEL_DIR/flags.txt (the run's effective flags), {} without one."""
  path = os.path.join(model_dir, "flags.txt")
  if not os.path.exists(path):
    return {}
  recorded = {}
  with open(path) as f:
    for line in f:
      name, sep, value = line.strip().partition("=")
      if sep and name.startswith("--"):
        recorded[name[2:]] = value
  return recorded


def _use_the_runs_data_flags(model_dir):
  """Data flags not given here take the run's recorded values (where its data came from)."""
  recorded = _recorded_flags(model_dir)
  used = []
  for name in DATA_FLAGS:
    if not FLAGS[name].present and recorded.get(name):
      FLAGS[name].parse(recorded[name])
      used.append(f"--{name}={recorded[name]}")
  if used:
    logging.info("data as the run was trained: %s (from %s/flags.txt)", " ".join(used),
                 model_dir)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  _use_the_runs_data_flags(FLAGS.model_dir)
  from unit_tf import run_dir  # pylint: disable=g-import-not-at-top
  from unit_tf import variants  # pylint: disable=g-import-not-at-top
  try:
    configs = run_dir.load_configs(FLAGS.model_dir)
  except FileNotFoundError as e:
    raise SystemExit(f"error: {e}") from None
  if FLAGS.task is None:
    trained_on = (configs.get("data") or {}).get("task", "toy")
    if trained_on not in ("toy", "uda"):
      raise SystemExit(f"error: {FLAGS.model_dir} was trained on task {trained_on!r}; "
                       "tools/evaluate.py scores toy and uda runs (natural-image runs log "
                       "eval/cycle_l1_* in TensorBoard)")
    FLAGS.task = trained_on
  if FLAGS.task == "uda" and variants.variant_of(configs["model"].arch).name != "uda":
    raise SystemExit(f"error: {FLAGS.model_dir} has no class head (arch "
                     f"{configs['model'].arch!r}); --task=uda evaluates "
                     f"{' / '.join(sorted(variants.named('uda').presets))} runs")
  if FLAGS.task == "uda":
    task = _uda_task(configs)
  else:
    task = flag_defs.load_task(FLAGS.data_path, FLAGS.tfds_data_dir)
  try:
    model, _, step = run_dir.restore_for_inference(FLAGS.model_dir, step=FLAGS.step)
  except FileNotFoundError as e:
    raise SystemExit(f"error: {e}") from None
  results = task.evaluate(model, FLAGS.eval_examples)
  results["step"] = step
  print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
  tool_env.run(main)
