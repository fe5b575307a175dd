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


def load_uda_task(source, target, data_path_a, data_path_b, tfds_data_dir, image_size,
                  channels_a, channels_b):
  """The domain-adaptation task; data errors become a one-line exit message."""
  from unit_tf.data import digits  # pylint: disable=g-import-not-at-top
  from unit_tf.uda import task as uda_task  # pylint: disable=g-import-not-at-top
  from unit_tf.data.errors import DataError  # pylint: disable=g-import-not-at-top
  if not source or not target:
    raise SystemExit("error: --task=uda needs --source and --target (mnist, usps or svhn)")
  try:
    return uda_task.DomainAdaptationTask(
        digits.load_domain(source, data_path_a, tfds_data_dir, flag="--data_path_a"),
        digits.load_domain(target, data_path_b, tfds_data_dir, flag="--data_path_b"),
        image_size, channels_a, channels_b, names=(source, target))
  except DataError as e:
    raise SystemExit(f"error: {e}") from None


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


def with_quality_metrics(task, metrics, model_dir):
  """`task` evaluating also `metrics` (translation_accuracy for toy; fid, kid for image folders
  and CelebA), for TensorBoard; weights and image counts are checked here, before training."""
  from unit_tf import tasks  # pylint: disable=g-import-not-at-top
  from unit_tf.metrics import inception  # pylint: disable=g-import-not-at-top
  from unit_tf.metrics import quality  # pylint: disable=g-import-not-at-top
  from unit_tf.tasks import quality as quality_task  # pylint: disable=g-import-not-at-top
  cache_dir = FLAGS.metrics_cache_dir or os.path.join(model_dir, "eval_cache")
  if isinstance(task, tasks.ToyTask) and list(metrics) == ["translation_accuracy"]:
    return quality_task.WithQualityMetrics(task, lambda model, n: task.translation_metrics(
        model, cache_dir, n, FLAGS.classifier_epochs))
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
                   "(toy: translation_accuracy; images / celeba: fid, kid)")
