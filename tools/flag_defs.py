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
