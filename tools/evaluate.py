"""Evaluates a trained run and prints one JSON object as the last line of output.

  python tools/evaluate.py --model_dir=runs/mnist_toy [--data_path=../shared/data/mnist.npz]

Task toy: {"toy_distance_a2b": ..., "toy_distance_b2a": ..., "step": ...} on the MNIST test set.
"""

import json

from absl import app
from absl import flags

import flag_defs

FLAGS = flags.FLAGS

flags.DEFINE_string("model_dir", None, "Run directory written by tools/train.py.", required=True)
flags.DEFINE_integer("step", None, "Checkpoint step to evaluate (default: the latest).",
                     lower_bound=0)
flags.DEFINE_enum("task", "toy", ["toy"], "What to evaluate: toy = the Appendix B metric.")
flags.DEFINE_integer("eval_examples", None, "Evaluate on the first N test examples (default all).",
                     lower_bound=1)
flag_defs.define_data_flags()


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from unit_tf import training  # pylint: disable=g-import-not-at-top
  task = flag_defs.load_task(FLAGS.data_path, FLAGS.tfds_data_dir)
  try:
    model, _, step = training.restore_for_inference(FLAGS.model_dir, step=FLAGS.step)
  except FileNotFoundError as e:
    raise SystemExit(f"error: {e}") from None
  results = task.evaluate(model, FLAGS.eval_examples)
  results["step"] = step
  print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
  app.run(main)
