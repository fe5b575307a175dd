"""Evaluates a trained run and prints one JSON object as the last line of output.

  python tools/evaluate.py --model_dir=runs/mnist_toy [--data_path=../shared/data/mnist.npz]
  python tools/evaluate.py --model_dir=runs/uda_mnist_usps --task=uda \
      [--data_path_a=../shared/data/mnist.npz --data_path_b=../shared/data/usps.npz]

Task toy: {"toy_distance_a2b": ..., "toy_distance_b2a": ..., "step": ...} on the MNIST test set.
Task uda: {"target_accuracy": ..., "source_accuracy": ..., "step": ...}: the target test set
classified by D_b's class head (D_a's for a --source_only baseline) and the source test set by
D_a's. The source and target sets come from the run's config.json; --source/--target override.
"""

import json

from absl import app
from absl import flags

import flag_defs

FLAGS = flags.FLAGS

flags.DEFINE_string("model_dir", None, "Run directory written by tools/train.py.", required=True)
flags.DEFINE_integer("step", None, "Checkpoint step to evaluate (default: the latest).",
                     lower_bound=0)
flags.DEFINE_enum("task", "toy", ["toy", "uda"], "What to evaluate: toy = the Appendix B "
                  "metric; uda = domain-adaptation accuracy (Appendix C).")
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


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from unit_tf import config as unit_config  # pylint: disable=g-import-not-at-top
  from unit_tf import training  # pylint: disable=g-import-not-at-top
  try:
    configs = unit_config.load_configs(FLAGS.model_dir)
  except FileNotFoundError as e:
    raise SystemExit(f"error: {e}") from None
  if FLAGS.task == "uda":
    task = _uda_task(configs)
  else:
    task = flag_defs.load_task(FLAGS.data_path, FLAGS.tfds_data_dir)
  try:
    model, _, step = training.restore_for_inference(FLAGS.model_dir, step=FLAGS.step)
  except FileNotFoundError as e:
    raise SystemExit(f"error: {e}") from None
  if FLAGS.task == "uda" and not model.discriminator_a.classifier:
    raise SystemExit(f"error: {FLAGS.model_dir} has no class head (arch "
                     f"{configs['model'].arch!r}); --task=uda evaluates digits_lenet / "
                     "digits_svhn runs")
  results = task.evaluate(model, FLAGS.eval_examples)
  results["step"] = step
  print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
  app.run(main)
