"""Digit domains for unsupervised domain adaptation (Appendix C): MNIST, USPS, SVHN.

Each domain loads into the Keras .npz layout ({x_train, y_train, x_test, y_test}, images uint8)
from, in this order:
  path           a local Keras-format .npz (any of the three; `../shared/data/mnist.npz` and
                 `usps.npz` are such files), or for USPS a directory holding the standard
                 `zip.train.gz` / `zip.test.gz` files (or one of those files itself);
  tfds_data_dir  a TFDS data dir with the set prepared (`mnist`, `svhn_cropped`), no download;
  neither        TFDS (MNIST, SVHN) or the ESL web site (USPS) download, after a reachability
                 probe, so that an offline machine gets a clear error instead of a hang.

`prepare` unifies a task's domains: every image is resized (bilinear, antialiased) to
`size` x `size` and converted to the domain's channel count (grey -> RGB repeats the channel,
RGB -> grey takes the luma).
"""

import gzip
import os

import numpy as np
import tensorflow as tf

from unit_tf.data import mnist
from unit_tf.data.errors import DataError

NAMES = ("mnist", "usps", "svhn")
TFDS_NAMES = {"mnist": "mnist", "svhn": "svhn_cropped"}
USPS_FILES = ("zip.train.gz", "zip.test.gz")
USPS_URL = "https://hastie.su.domains/ElemStatLearn/datasets/"  # The Elements of Stat. Learning
USPS_HOST = ("hastie.su.domains", 443)
USPS_PIXELS = 16


def _how_to(name, flag):
  extra = (" or a directory with zip.train.gz and zip.test.gz" if name == "usps" else
           " or --tfds_data_dir=DIR holding a prepared TFDS "
           f"'{TFDS_NAMES.get(name, name)}'")
  return f"pass {flag}=PATH (a Keras-format .npz with x_train, y_train, x_test, y_test){extra}"


def parse_usps_zip(path):
  """Reads one ESL USPS file: each line is a label then 256 grey values in [-1, 1] (gzip or
  plain text). Returns (images uint8 [N, 16, 16], labels int64 [N]); -1 (paper) -> 0, 1 (ink)
  -> 255, as MNIST stores white digits on black."""
  opener = gzip.open if path.endswith(".gz") else open
  images, labels = [], []
  try:
    with opener(path, "rt") as f:
      for number, line in enumerate(f, 1):
        fields = line.split()
        if not fields:
          continue
        if len(fields) != 1 + USPS_PIXELS * USPS_PIXELS:
          raise DataError(f"{path}:{number}: expected a label and {USPS_PIXELS ** 2} values, got "
                          f"{len(fields)} fields")
        try:
          values = np.asarray(fields, dtype=np.float64)
        except ValueError as e:
          raise DataError(f"{path}:{number}: not a number ({e})") from None
        label, pixels = values[0], values[1:]
        if label != int(label) or not 0 <= label <= 9:
          raise DataError(f"{path}:{number}: label {fields[0]} is not a digit 0-9")
        if not np.all(np.isfinite(pixels)) or pixels.min() < -1.0001 or pixels.max() > 1.0001:
          raise DataError(f"{path}:{number}: grey values must lie in [-1, 1]")
        labels.append(int(label))
        images.append(pixels.reshape(USPS_PIXELS, USPS_PIXELS))
  except (OSError, EOFError, UnicodeDecodeError) as e:
    raise DataError(f"{path} is not a readable USPS file ({type(e).__name__}: {e})") from e
  if not images:
    raise DataError(f"{path} holds no images")
  x = np.rint((np.clip(np.stack(images), -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)
  return x, np.asarray(labels, np.int64)


def _usps_from_directory(directory):
  out = {}
  for split, filename in zip(("train", "test"), USPS_FILES):
    path = os.path.join(directory, filename)
    if not os.path.exists(path) and os.path.exists(path[:-3]):
      path = path[:-3]  # an uncompressed copy
    if not os.path.exists(path):
      raise DataError(f"{directory} lacks {filename}; {_how_to('usps', '--data_path')}")
    out[f"x_{split}"], out[f"y_{split}"] = parse_usps_zip(path)
  return out


def _download_usps(cache_dir=None):
  import keras  # pylint: disable=g-import-not-at-top
  if not mnist._host_reachable(USPS_HOST):  # pylint: disable=protected-access
    raise DataError(f"USPS is not available locally and {USPS_HOST[0]} cannot be reached; "
                    f"{_how_to('usps', '--data_path')}")
  paths = [keras.utils.get_file(filename, USPS_URL + filename, cache_dir=cache_dir,
                                cache_subdir="usps") for filename in USPS_FILES]
  return _usps_from_directory(os.path.dirname(paths[0]))


def load_domain(name, path=None, tfds_data_dir=None, flag="--data_path"):
  """One digit set in the npz layout; see the module docstring for the sources. `flag` names the
  command-line flag in error messages."""
  if name not in NAMES:
    raise DataError(f"unknown digit set {name!r}; known: {', '.join(NAMES)}")
  how_to = _how_to(name, flag)
  if path:
    if name == "usps" and os.path.isdir(path):
      return _usps_from_directory(path)
    if name == "usps" and path.endswith((".gz", ".train", ".test")):
      return _usps_from_directory(os.path.dirname(path) or ".")
    return mnist.load_npz(path, how_to=how_to)
  if name == "usps":
    return _download_usps()
  return mnist.load_tfds(TFDS_NAMES[name], data_dir=tfds_data_dir, how_to=how_to)


USPS_SPLITS = ("esl", "random")


def random_split(domain, train_fraction=0.8, seed=0):
  """All training and test digits of `domain` pooled and split again at random, `train_fraction`
  for training (a fixed seed, so every run and evaluation sees the same split).

  For USPS this is the split the UNIT paper describes for Table 7 ("randomly split into 4:1" over
  all 9,298 digits: 7,438 / 1,860, the sizes of the authors' CoGAN configs), an easier test set
  than the standard ESL split (7,291 / 2,007) that `load_domain` returns.
  """
  images = np.concatenate([domain["x_train"], domain["x_test"]])
  labels = np.concatenate([domain["y_train"], domain["y_test"]])
  order = np.random.default_rng(seed).permutation(len(images))
  cut = int(round(train_fraction * len(images)))
  return {"x_train": images[order[:cut]], "y_train": labels[order[:cut]],
          "x_test": images[order[cut:]], "y_test": labels[order[cut:]]}


def prepare(images, size, channels, batch=4096):
  """uint8 [N, H, W] or [N, H, W, 3] -> uint8 [N, size, size, channels] (see module docstring)."""
  images = np.asarray(images)
  if images.ndim == 3:
    images = images[..., None]
  out = []
  for start in range(0, len(images), batch):
    x = tf.convert_to_tensor(images[start:start + batch], tf.float32)
    if x.shape[1:3] != (size, size):
      x = tf.image.resize(x, (size, size), method="bilinear", antialias=True)
    if channels == 3 and x.shape[-1] == 1:
      x = tf.repeat(x, 3, axis=-1)
    elif channels == 1 and x.shape[-1] == 3:
      x = tf.image.rgb_to_grayscale(x)
    out.append(np.rint(np.clip(x.numpy(), 0.0, 255.0)).astype(np.uint8))
  return np.concatenate(out) if out else np.zeros((0, size, size, channels), np.uint8)
