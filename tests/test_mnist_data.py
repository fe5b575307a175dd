"""MNIST sources: the .npz loader's checks, the offline TFDS path, and the fail-fast message."""

import numpy as np
import pytest

from unit_tf.data import mnist
from unit_tf.data.errors import DataError
from conftest import shared_path, tiny_mnist


def test_npz_round_trip(tmp_path):
  path = tmp_path / "d.npz"
  np.savez(path, **tiny_mnist())
  data = mnist.load_npz(str(path))
  assert data["x_train"].shape == (64, 28, 28) and data["x_train"].dtype == np.uint8
  assert data["y_test"].dtype == np.int64


def test_npz_channel_axis_and_float_values_are_accepted(tmp_path):
  arrays = tiny_mnist()
  arrays["x_train"] = arrays["x_train"][..., None].astype(np.float32)
  path = tmp_path / "d.npz"
  np.savez(path, **arrays)
  data = mnist.load_npz(str(path))
  assert data["x_train"].shape == (64, 28, 28) and data["x_train"].dtype == np.uint8


@pytest.mark.parametrize("change,message", [
    (lambda a: a.pop("y_test"), "lacks the keys"),
    (lambda a: a.update(x_train=np.zeros((4, 28))), "must be \\[N, H, W\\]"),
    (lambda a: a.update(x_train=np.full((64, 28, 28), 300.0)), "values in 0..255"),
    (lambda a: a.update(y_train=np.zeros(3)), "different lengths"),
])
def test_npz_problems_are_named(tmp_path, change, message):
  arrays = tiny_mnist()
  change(arrays)
  path = tmp_path / "d.npz"
  np.savez(path, **arrays)
  with pytest.raises(DataError, match=message):
    mnist.load_npz(str(path))


def test_missing_and_corrupt_files(tmp_path):
  with pytest.raises(DataError, match="does not exist"):
    mnist.load_npz(str(tmp_path / "missing.npz"))
  bad = tmp_path / "bad.npz"
  bad.write_bytes(b"not a zip file")
  with pytest.raises(DataError, match="not a readable .npz"):
    mnist.load_npz(str(bad))


def test_unprepared_tfds_dir_fails_fast_with_instructions(tmp_path):
  with pytest.raises(DataError, match="--data_path"):
    mnist.load_mnist(tfds_data_dir=str(tmp_path))


def test_no_network_fails_fast(tmp_path, monkeypatch):
  monkeypatch.setattr(mnist, "_host_reachable", lambda host, timeout=3.0: False)
  with pytest.raises(DataError, match="cannot be reached"):
    mnist.load_tfds("mnist", data_dir=str(tmp_path), download=True)


@pytest.mark.shared_data
def test_offline_tfds_mnist_matches_the_npz():
  data = mnist.load_mnist(tfds_data_dir=shared_path("tensorflow_datasets"))
  npz = mnist.load_npz(shared_path("data", "mnist.npz"))
  assert data["x_train"].shape == (60000, 28, 28) and data["x_test"].shape == (10000, 28, 28)
  # same test set, possibly in another order
  assert np.array_equal(np.sort(data["x_test"].reshape(10000, -1).sum(1)),
                        np.sort(npz["x_test"].reshape(10000, -1).sum(1)))
  assert np.array_equal(np.bincount(data["y_test"]), np.bincount(npz["y_test"]))
