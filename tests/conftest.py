"""Shared fixtures: tiny generated data, tiny model configs, the optional ../shared data."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import fcntl  # pylint: disable=g-import-not-at-top
import shutil  # pylint: disable=g-import-not-at-top
import subprocess  # pylint: disable=g-import-not-at-top
import sys  # pylint: disable=g-import-not-at-top

import numpy as np  # pylint: disable=g-import-not-at-top
import pytest  # pylint: disable=g-import-not-at-top

from unit_tf.config import ModelConfig  # pylint: disable=g-import-not-at-top

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared")


def tiny_mnist(n_train=64, n_test=16, seed=0):
  """MNIST-shaped random blobs: {x_train, y_train, x_test, y_test}, uint8 [N, 28, 28]."""
  rng = np.random.default_rng(seed)

  def digits(n):
    x = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
      top, left = rng.integers(4, 14, 2)
      h, w = rng.integers(6, 12, 2)
      x[i, top:top + h, left:left + w] = 255
    return x

  return {"x_train": digits(n_train), "y_train": rng.integers(0, 10, n_train),
          "x_test": digits(n_test), "y_test": rng.integers(0, 10, n_test)}


def tiny_usps(n_train=32, n_test=8, seed=1):
  """USPS-shaped blobs (16x16 crops of tiny_mnist)."""
  return {k: (v[:, 6:22, 6:22] if k.startswith("x_") else v)
          for k, v in tiny_mnist(n_train, n_test, seed).items()}


def write_tiny_digit_sets(directory):
  """(mnist.npz, usps.npz) paths of tiny MNIST / USPS stand-ins written into `directory`."""
  mnist_path, usps_path = directory / "mnist.npz", directory / "usps.npz"
  np.savez(mnist_path, **tiny_mnist(n_train=32, n_test=8))
  np.savez(usps_path, **tiny_usps())
  return mnist_path, usps_path


@pytest.fixture
def mnist_arrays():
  return tiny_mnist()


@pytest.fixture
def tiny_npz(tmp_path):
  path = tmp_path / "tiny_mnist.npz"
  np.savez(path, **tiny_mnist())
  return str(path)


@pytest.fixture
def tiny_config():
  return ModelConfig(gen_filters=8, dis_filters=8)


def shared_path(*parts):
  """Path under ../shared, or skip the test with the reason."""
  path = os.path.join(SHARED, *parts)
  if not os.path.exists(path):
    pytest.skip(f"needs {path} (the offline data sets beside the repository); absent here")
  return path


def built_once(tmp_path_factory, name, build):
  """The directory `build(path)` fills, built once per test session and shared by the
  pytest-xdist workers: a module-scoped fixture alone is built in every worker that runs one of
  its tests (and pytest-xdist's loadgroup, which would keep them on one worker, does not group
  under pytest 9.2). The first worker to come builds it under a lock; the others wait and reuse
  it. A failed build leaves no marker, so the next worker builds it again (and fails the same)."""
  root = tmp_path_factory.getbasetemp()
  if os.environ.get("PYTEST_XDIST_WORKER"):
    root = root.parent  # the session's directory, shared by its workers
  path = os.path.join(str(root), name)
  with open(path + ".lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
    if not os.path.exists(os.path.join(path, ".built")):
      shutil.rmtree(path, ignore_errors=True)
      os.makedirs(path)
      build(path)
      with open(os.path.join(path, ".built"), "w") as marker:
        marker.write(f"built by pid {os.getpid()}\n")
  return path


TOOL_ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1")


def run_tool(tool, *args, check=True, timeout=1800, env=None):
  """Runs tools/<tool> in a subprocess from the repository root (`env`: variables to add); with
  `check`, a non-zero exit fails the test with the end of its stderr."""
  proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", tool), *args],
                        capture_output=True, text=True, cwd=REPO, env=dict(TOOL_ENV, **(env or {})), timeout=timeout,
                        check=False)
  if check and proc.returncode != 0:
    raise AssertionError(f"{tool} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
  return proc
