"""Flag definitions shared by several tools (only tools/ parse flags)."""

import os

from absl import flags

FLAGS = flags.FLAGS


def define_data_flags():
  flags.DEFINE_string("data_path", None,
                      "Local Keras-format .npz (x_train, y_train, x_test, y_test) for MNIST; "
                      "e.g. ../shared/data/mnist.npz. Takes precedence over TFDS.")
  flags.DEFINE_string("tfds_data_dir", None,
                      "TFDS data dir holding a prepared 'mnist' (no download), e.g. "
                      "../shared/tensorflow_datasets. Default: TFDS' own dir, downloading.")


# = unit_tf.data.images.DEFAULT_MAX_PIXELS (tests/test_image_data.py checks), written out so that
# defining the flags does not import TensorFlow.
DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096


def define_image_flags():
  """Flags of image decoding shared by train.py / evaluate.py / benchmark.py (task images) and
  translate.py."""
  flags.DEFINE_integer("max_image_pixels", DEFAULT_MAX_IMAGE_PIXELS,
                       "Largest image (width x height) decoded at full size. A larger JPEG is "
                       "decoded at 1/2, 1/4 or 1/8 scale, whichever fits (with a warning); a "
                       "larger image of another format is skipped with a warning. Bounds the "
                       "memory one image takes (4096x4096 RGB: 200 MB as float32).",
                       lower_bound=1)


def load_task(data_path, tfds_data_dir):
  """The toy task from the data flags; data errors become a one-line exit message."""
  from unit_tf import tasks  # pylint: disable=g-import-not-at-top
  from unit_tf.data import mnist  # pylint: disable=g-import-not-at-top
  from unit_tf.data.errors import DataError  # pylint: disable=g-import-not-at-top
  try:
    return tasks.ToyTask(mnist.load_mnist(data_path=data_path, tfds_data_dir=tfds_data_dir))
  except DataError as e:
    raise SystemExit(f"error: {e}") from None


def define_uda_data_flags():
  """Data flags of --task=uda (train.py, evaluate.py)."""
  flags.DEFINE_enum("source", None, ["mnist", "usps", "svhn"], "Task uda: the labelled source "
                    "digit set (domain a).")
  flags.DEFINE_enum("target", None, ["mnist", "usps", "svhn"], "Task uda: the unlabelled target "
                    "digit set (domain b); its labels are read for the test set only.")
  flags.DEFINE_string("data_path_a", None, "Task uda: local data of the source: a Keras-format "
                      ".npz (x_train, y_train, x_test, y_test; e.g. ../shared/data/mnist.npz), "
                      "or for USPS a directory with zip.train.gz / zip.test.gz. Default: TFDS "
                      "(--tfds_data_dir) or, for USPS, the ESL web site.")
  flags.DEFINE_string("data_path_b", None, "Task uda: local data of the target (as "
                      "--data_path_a).")
  flags.DEFINE_enum("usps_split", None, ["esl", "random"], "Task uda, USPS: esl = the standard "
                    "7,291 / 2,007 split (default for training); random = all 9,298 digits split "
                    "4:1 with a fixed seed (7,438 / 1,860), as the paper describes for Table 7. "
                    "evaluate.py defaults to the split the run was trained with.")


def load_uda_task(source, target, data_path_a, data_path_b, tfds_data_dir, image_size,
                  channels_a, channels_b, usps_split="esl"):
  """The domain-adaptation task; data errors become a one-line exit message. `usps_split`
  applies to a USPS source or target ("esl" or "random")."""
  from unit_tf.data import digits  # pylint: disable=g-import-not-at-top
  from unit_tf.uda import task as uda_task  # pylint: disable=g-import-not-at-top
  from unit_tf.data.errors import DataError  # pylint: disable=g-import-not-at-top
  if not source or not target:
    raise SystemExit("error: --task=uda needs --source and --target (mnist, usps or svhn)")
  try:
    domains = []
    for name, path, flag in ((source, data_path_a, "--data_path_a"),
                             (target, data_path_b, "--data_path_b")):
      domain = digits.load_domain(name, path, tfds_data_dir, flag=flag)
      if name == "usps" and usps_split == "random":
        domain = digits.random_split(domain)
      domains.append(domain)
    return uda_task.DomainAdaptationTask(
        domains[0], domains[1], image_size, channels_a, channels_b, names=(source, target),
        usps_split=usps_split if "usps" in (source, target) else "esl")
  except DataError as e:
    raise SystemExit(f"error: {e}") from None


def load_uda_target_train(target, data_path_b, tfds_data_dir, image_size, channels_b,
                          usps_split="esl"):
  """The target's labelled training digits (uint8 images prepared as the task's, labels), split
  as the run's task (`usps_split`), for the translation-accuracy classifier only: they never
  reach the model."""
  from unit_tf.data import digits  # pylint: disable=g-import-not-at-top
  from unit_tf.data.errors import DataError  # pylint: disable=g-import-not-at-top
  try:
    raw = digits.load_domain(target, data_path_b, tfds_data_dir, flag="--data_path_b")
  except DataError as e:
    raise SystemExit(f"error: {e}") from None
  if target == "usps" and usps_split == "random":
    raw = digits.random_split(raw)
  return digits.prepare(raw["x_train"], image_size, channels_b), raw["y_train"]


def define_quality_flags():
  """Flags of the quality metrics (evaluate.py; train.py's --eval_quality)."""
  flags.DEFINE_string("metrics_cache_dir", None, "Where evaluation classifiers are cached "
                      "(default MODEL_DIR/eval_cache).")
  flags.DEFINE_integer("classifier_epochs", 3, "Training epochs of each translation-accuracy "
                       "classifier.", lower_bound=1)
  flags.DEFINE_string("inception_weights", None, "The FID Inception network: a local "
                      "classify_image_graph_def.pb or the inception-2015-12-05.tgz holding it "
                      "(default: a copy cached in ~/.keras/unit_tf, else a download).")
  flags.DEFINE_integer("kid_subsets", 100, "KID: number of random subsets.", lower_bound=1)
  flags.DEFINE_integer("kid_subset_size", 1000, "KID: images per subset (each side needs at "
                       "least this many).", lower_bound=2)


def with_quality_metrics(task, metrics, model_dir, uda_target_train=None):
  """`task` evaluating also `metrics` (translation_accuracy for toy and uda; fid, kid for image
  folders and CelebA), for TensorBoard; weights, data and image counts are checked here, before
  training. `uda_target_train()` loads the target's labelled training digits (see
  load_uda_target_train) for a domain-adaptation task."""
  from unit_tf.uda import task as uda_task  # pylint: disable=g-import-not-at-top
  from unit_tf import tasks  # pylint: disable=g-import-not-at-top
  from unit_tf.metrics import inception  # pylint: disable=g-import-not-at-top
  from unit_tf.metrics import quality  # pylint: disable=g-import-not-at-top
  from unit_tf.tasks import quality as quality_task  # pylint: disable=g-import-not-at-top
  cache_dir = FLAGS.metrics_cache_dir or os.path.join(model_dir, "eval_cache")
  if isinstance(task, tasks.ToyTask) and list(metrics) == ["translation_accuracy"]:
    return quality_task.WithQualityMetrics(task, lambda model, n: task.translation_metrics(
        model, cache_dir, n, FLAGS.classifier_epochs))
  if (isinstance(task, uda_task.DomainAdaptationTask) and list(metrics) == ["translation_accuracy"]
      and uda_target_train is not None):
    target_train = uda_target_train()
    return quality_task.WithQualityMetrics(task, lambda model, n: task.translation_metrics(
        model, cache_dir, target_train, n, FLAGS.classifier_epochs))
  if isinstance(task, tasks.UnpairedImageTask) and set(metrics) <= set(quality.METRICS):
    try:
      for source, target in (("a", "b"), ("b", "a")):
        quality.check_counts(metrics, task.test_count(source), task.test_count(target),
                             FLAGS.kid_subset_size)
      extractor = inception.InceptionFeatures(inception.find_weights(FLAGS.inception_weights))
    except (ValueError, inception.MissingWeightsError) as e:
      raise SystemExit(f"error: {e}") from None
    return quality_task.WithQualityMetrics(task, lambda model, n: task.quality_metrics(
        model, extractor, metrics, FLAGS.kid_subsets, FLAGS.kid_subset_size, n))
  raise SystemExit(f"error: --eval_quality={','.join(metrics)} is not available for this task "
                   "(toy, uda: translation_accuracy; images / celeba: fid, kid)")
