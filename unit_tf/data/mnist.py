"""MNIST (and any digit set in Keras' .npz layout) as numpy arrays.

Three sources, in this order of precedence:
  data_path      a local .npz with keys x_train, y_train, x_test, y_test (Keras' `mnist.npz` layout;
                 `../shared/data/mnist.npz` is one), images [N, H, W] uint8 0..255;
  tfds_data_dir  a TFDS data dir holding a prepared `mnist` (no download);
  neither        `tfds.load("mnist")`, which downloads. Without network that would hang for minutes,
                 so the download host is probed first and a clear error says how to provide data.
"""

import os
import socket

import numpy as np

from unit_tf.data.errors import DataError

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
TFDS_DOWNLOAD_HOST = ("storage.googleapis.com", 443)
HOW_TO_PROVIDE = ("pass --data_path=PATH/mnist.npz (a Keras-format .npz with x_train, y_train, "
                  "x_test, y_test) or --tfds_data_dir=DIR holding a prepared TFDS 'mnist'")


def load_npz(path, keys=NPZ_KEYS, how_to=HOW_TO_PROVIDE):
  """Loads a Keras-format digits .npz, checking keys, ranks and dtypes.

  Returns {key: array}: images as uint8 [N, H, W] (or [N, H, W, 3] for RGB sets such as SVHN),
  labels as int64 [N].
  """
  if not os.path.exists(path):
    raise DataError(f"{path} does not exist; {how_to}")
  try:
    with np.load(path) as data:
      arrays = {k: data[k] for k in data.files}
  except Exception as e:  # zipfile/pickle errors have unhelpful messages of their own
    raise DataError(f"{path} is not a readable .npz file ({type(e).__name__}: {e})") from e
  missing = [k for k in keys if k not in arrays]
  if missing:
    raise DataError(f"{path} lacks the keys {missing}; it has {sorted(arrays)}")
  out = {}
  for key in keys:
    value = arrays[key]
    if key.startswith("x_"):
      if value.ndim == 4 and value.shape[-1] == 1:
        value = value[..., 0]
      if not (value.ndim == 3 or (value.ndim == 4 and value.shape[-1] == 3)):
        raise DataError(f"{path}:{key} must be [N, H, W] (grey) or [N, H, W, 3] (RGB) images, "
                        f"got shape {value.shape}")
      if value.dtype != np.uint8:
        if value.size and (np.nanmin(value) < 0 or np.nanmax(value) > 255 or
                           np.isnan(value).any()):
          raise DataError(f"{path}:{key} must hold values in 0..255, got "
                          f"{np.nanmin(value)}..{np.nanmax(value)}")
        value = np.rint(value).astype(np.uint8)
    else:
      value = value.astype(np.int64).reshape(-1)
    out[key] = value
  for split in ("train", "test"):
    if len(out[f"x_{split}"]) != len(out[f"y_{split}"]):
      raise DataError(f"{path}: x_{split} and y_{split} have different lengths")
    if len(out[f"x_{split}"]) == 0:
      raise DataError(f"{path}: x_{split} is empty")
  return out


def _host_reachable(host, timeout=3.0):
  try:
    with socket.create_connection(host, timeout=timeout):
      return True
  except OSError:
    return False


def load_tfds(name="mnist", data_dir=None, download=None, how_to=HOW_TO_PROVIDE):
  """Loads a TFDS image classification set with train/test splits into the npz layout.

  `download=None` downloads only if the set is not prepared in `data_dir` and the TFDS download
  host answers; otherwise a DataError says how to provide the data.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  builder = tfds.builder(name, data_dir=data_dir)
  prepared = builder.is_prepared() if hasattr(builder, "is_prepared") else os.path.exists(
      builder.data_dir)
  if not prepared:
    if data_dir is not None and download is None:
      download = False
    if download is False:
      raise DataError(f"TFDS '{name}' is not prepared in {builder.data_dir}; {how_to}")
    if not _host_reachable(TFDS_DOWNLOAD_HOST):
      raise DataError(f"TFDS '{name}' is not prepared in {builder.data_dir} and the download "
                      f"host {TFDS_DOWNLOAD_HOST[0]} cannot be reached; {how_to}")
    builder.download_and_prepare()
  out = {}
  for split in ("train", "test"):
    data = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
    images = data["image"]
    out[f"x_{split}"] = images[..., 0] if images.shape[-1] == 1 else images
    out[f"y_{split}"] = data["label"].astype(np.int64)
  return out


def load_mnist(data_path=None, tfds_data_dir=None):
  """MNIST as {x_train, y_train, x_test, y_test}; see the module docstring for the sources."""
  if data_path:
    return load_npz(data_path)
  return load_tfds("mnist", data_dir=tfds_data_dir)
