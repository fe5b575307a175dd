"""Flag definitions shared by several tools (only tools/ parse flags)."""

from absl import flags


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
  flags.DEFINE_enum("usps_split", None, ["esl", "random"], "Task uda, USPS: esl = the standard "
                    "7,291 / 2,007 split (default for training); random = all 9,298 digits split "
                    "4:1 with a fixed seed (7,438 / 1,860), as the paper describes for Table 7. "
                    "evaluate.py defaults to the split the run was trained with.")


def load_uda_task(source, target, data_path_a, data_path_b, tfds_data_dir, image_size,
                  channels_a, channels_b, usps_split="esl"):
  """The domain-adaptation task; data errors become a one-line exit message. `usps_split`
  applies to a USPS source or target ("esl" or "random")."""
  from unit_tf import tasks  # pylint: disable=g-import-not-at-top
  from unit_tf.data import digits  # pylint: disable=g-import-not-at-top
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
    return tasks.DomainAdaptationTask(
        domains[0], domains[1], image_size, channels_a, channels_b, names=(source, target),
        usps_split=usps_split if "usps" in (source, target) else "esl")
  except DataError as e:
    raise SystemExit(f"error: {e}") from None
