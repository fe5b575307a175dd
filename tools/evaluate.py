"""Evaluates a trained run and prints one JSON object as the last line of output.

  python tools/evaluate.py --model_dir=runs/mnist_toy [--data_path=../shared/data/mnist.npz]
  python tools/evaluate.py --model_dir=runs/uda_mnist_usps --task=uda \
      [--data_path_a=../shared/data/mnist.npz --data_path_b=../shared/data/usps.npz]

Task toy: {"toy_distance_a2b": ..., "toy_distance_b2a": ..., "step": ...} on the MNIST test set.
Task uda: {"target_accuracy": ..., "source_accuracy": ..., "step": ...}: the target test set
classified by D_b's class head (D_a's for a --source_only baseline) and the source test set by
D_a's. The source and target sets come from the run's config.json; --source/--target override.
Task images: {"fid_a2b", "kid_a2b", "kid_std_a2b", "count_translated_a2b", "count_real_b", and
the same for b2a}: translations of domain a's test images against real domain-b test images
(--test_domain_a / --test_domain_b folders or list files, or --data_path=DIR with testA/ testB/),
in features of the FID Inception network (--inception_weights).

--metrics picks what is computed (default: the task's own metric; fid,kid for images):
  toy:    toy, translation_accuracy
  uda:    accuracy, translation_accuracy
  images: fid, kid
translation_accuracy trains a small classifier per domain once (cached in
--metrics_cache_dir, default MODEL_DIR/eval_cache) and reports the target classifier's accuracy
on translated source test digits, a Frechet distance on its features (classifier_fd_*) and the
classifier's own accuracy on real target test digits (classifier_accuracy_*).

--task defaults to the task the run was trained on, and data flags not given (--data_path,
--tfds_data_dir, --data_path_a/--data_path_b, --source/--target, --test_domain_a/--test_domain_b)
to the run's MODEL_DIR/flags.txt.
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
flags.DEFINE_enum("task", None, ["toy", "uda", "images"], "What to evaluate: toy = the "
                  "Appendix B metric; uda = domain-adaptation accuracy (Appendix C); images = "
                  "FID / KID of translations against real test images. Default: the task the "
                  "run was trained on (its config.json).")
flags.DEFINE_list("metrics", None, "Metrics to compute (see the module docstring); default: toy "
                  "for --task=toy, accuracy for uda, fid,kid for images.")
flags.DEFINE_string("test_domain_a", None, "Task images: domain a's test images, a folder or a "
                    "list file (instead of --data_path=DIR with testA/).")
flags.DEFINE_string("test_domain_b", None, "Task images: domain b's test images.")
flags.DEFINE_integer("load_size", None, "Task images: shorter side after resizing, before the "
                     "centre crop to the model's size (default: the model's image size).",
                     lower_bound=0)
flags.DEFINE_integer("batch_size", 16, "Task images: images per translation batch.",
                     lower_bound=1)
flags.DEFINE_integer("eval_examples", None, "Evaluate on the first N test examples (default all).",
                     lower_bound=1)
flag_defs.define_data_flags()
flag_defs.define_uda_data_flags()
flag_defs.define_quality_flags()


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


DATA_FLAGS = ("data_path", "tfds_data_dir", "data_path_a", "data_path_b", "source", "target",
              "test_domain_a", "test_domain_b")


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


_METRICS = {"toy": ("toy", "translation_accuracy"), "uda": ("accuracy", "translation_accuracy"),
            "images": ("fid", "kid")}
_DEFAULT_METRICS = {"toy": ["toy"], "uda": ["accuracy"], "images": ["fid", "kid"]}


def _metrics():
  chosen = FLAGS.metrics or _DEFAULT_METRICS[FLAGS.task]
  unknown = [m for m in chosen if m not in _METRICS[FLAGS.task]]
  if unknown or not chosen:
    raise app.UsageError(f"--metrics={','.join(chosen)}: --task={FLAGS.task} computes "
                         f"{', '.join(_METRICS[FLAGS.task])}")
  return chosen


def _uda_target_train(configs):
  """The target's labelled training digits, split as the run was, for the evaluation classifier
  only."""
  data, model = configs.get("data") or {}, configs["model"]
  return flag_defs.load_uda_target_train(
      FLAGS.target or data.get("target"), FLAGS.data_path_b, FLAGS.tfds_data_dir,
      model.image_size, model.channels_b, FLAGS.usps_split or data.get("usps_split", "esl"))


def _progress_logger(direction, totals, every_seconds=15.0):
  """progress(stage, done) for quality.translation_quality: one log line at most every
  `every_seconds`, and one when a stage is complete."""
  import time  # pylint: disable=g-import-not-at-top
  state = {"last": time.monotonic(), "start": time.monotonic()}

  def progress(stage, done):
    now = time.monotonic()
    if done < totals[stage] and now - state["last"] < every_seconds:
      return
    state["last"] = now
    what = (f"{direction}: translated and featurized" if stage == "translated" else
            f"{direction}: featurized real target")
    logging.info("%s %d/%d images (%.0f s)", what, done, totals[stage], now - state["start"])

  return progress


def _image_quality(model, configs, metrics):
  """FID / KID in both directions (see the module docstring)."""
  import os  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from unit_tf.data import images as image_data  # pylint: disable=g-import-not-at-top
  from unit_tf.data.errors import DataError  # pylint: disable=g-import-not-at-top
  from unit_tf.metrics import inception  # pylint: disable=g-import-not-at-top
  from unit_tf.metrics import quality  # pylint: disable=g-import-not-at-top
  model_config = configs["model"]
  height = model_config.image_size
  width = model_config.image_width or height
  sources = {"a": FLAGS.test_domain_a, "b": FLAGS.test_domain_b}
  for d, folder in (("a", "testA"), ("b", "testB")):
    if sources[d] is None and FLAGS.data_path and os.path.isdir(FLAGS.data_path):
      sources[d] = os.path.join(FLAGS.data_path, folder)
    if sources[d] is None:
      raise app.UsageError("--task=images needs --test_domain_a and --test_domain_b (folders or "
                           "list files) or --data_path=DIR with testA/ and testB/")
  preprocessing = image_data.Preprocessing(
      height, width, height if FLAGS.load_size is None else FLAGS.load_size,
      random_crop=False, random_flip=False)
  domains = {}
  try:
    for d, channels in (("a", model_config.channels_a), ("b", model_config.channels_b)):
      what = f"domain {d} test images ({sources[d]})"
      paths = image_data.scan_images(image_data.list_images(sources[d], what), what)
      domains[d] = image_data.ImageDomain(paths, channels, preprocessing, name=d)
    for source, target in (("a", "b"), ("b", "a")):
      quality.check_counts(metrics, len(domains[source].paths), len(domains[target].paths),
                           FLAGS.kid_subset_size)
    extractor = inception.InceptionFeatures(inception.find_weights(FLAGS.inception_weights))
  except (DataError, ValueError, inception.MissingWeightsError) as e:
    raise SystemExit(f"error: {e}") from None

  def batches(domain):
    ds = tf.data.Dataset.from_tensor_slices(domain.paths).map(domain.load)
    return ds.batch(FLAGS.batch_size).prefetch(2)

  results = {}
  for direction, source, target in (("a2b", "a", "b"), ("b2a", "b", "a")):
    if direction not in model.translation_directions:
      continue
    translate = tf.function(lambda x, d=direction: model.translate(x, d))
    totals = {"translated": len(domains[source].paths), "real": len(domains[target].paths)}
    scores = quality.translation_quality(translate, batches(domains[source]),
                                         batches(domains[target]), extractor, metrics,
                                         FLAGS.kid_subsets, FLAGS.kid_subset_size,
                                         progress=_progress_logger(direction, totals))
    results.update(quality.named_by_direction(scores, direction, target))
  return results


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
    if trained_on not in ("toy", "uda", "images"):
      raise SystemExit(f"error: {FLAGS.model_dir} was trained on task {trained_on!r}; give "
                       "--task=images with --test_domain_a/--test_domain_b to score it")
    FLAGS.task = trained_on
  if FLAGS.task == "uda" and variants.variant_of(configs["model"].arch).name != "uda":
    raise SystemExit(f"error: {FLAGS.model_dir} has no class head (arch "
                     f"{configs['model'].arch!r}); --task=uda evaluates "
                     f"{' / '.join(sorted(variants.named('uda').presets))} runs")
  metrics = _metrics()
  if FLAGS.task == "images":
    task = None
  elif FLAGS.task == "uda":
    task = _uda_task(configs)
  else:
    task = flag_defs.load_task(FLAGS.data_path, FLAGS.tfds_data_dir)
  try:
    model, _, step = run_dir.restore_for_inference(FLAGS.model_dir, step=FLAGS.step)
  except FileNotFoundError as e:
    raise SystemExit(f"error: {e}") from None
  cache_dir = FLAGS.metrics_cache_dir or os.path.join(FLAGS.model_dir, "eval_cache")
  results = {}
  if FLAGS.task == "images":
    results.update(_image_quality(model, configs, metrics))
  if {"toy", "accuracy"} & set(metrics):
    results.update(task.evaluate(model, FLAGS.eval_examples))
  if "translation_accuracy" in metrics:
    if FLAGS.task == "uda":
      results.update(task.translation_metrics(model, cache_dir, _uda_target_train(configs),
                                              FLAGS.eval_examples, FLAGS.classifier_epochs))
    else:
      results.update(task.translation_metrics(model, cache_dir, FLAGS.eval_examples,
                                              FLAGS.classifier_epochs))
  results["step"] = step
  print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
  tool_env.run(main)
