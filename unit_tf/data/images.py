"""Unpaired natural images: image folders, list files and CelebA attribute domains.

Sources of one domain (`list_images`):
  a folder     every .jpg/.jpeg/.png/.bmp below it (recursively, sorted), e.g. trainA/ of the
               CycleGAN/UNIT layout;
  a list file  one image path per line (relative paths are relative to the list file's folder;
               blank lines and lines starting with '#' are skipped), as KAIST users keep them;
  a glob       (translate tool) e.g. 'photos/*.png'.
A missing source or one without images is a DataError before any training starts.

Bad files (`scan_images`): a file Pillow cannot identify, a format other than JPEG/PNG/BMP, a
palette BMP (TensorFlow decodes its palette indices, not colours) or a file TensorFlow fails to
decode (truncated, corrupt) is dropped before training, with one warning naming each file and the
reason and a final count. The scan decodes every file once with the decoder training uses (in a
parallel tf.data pipeline); `verify=False` checks headers only.

Decoding (`decode_image`): JPEG, PNG (8 or 16 bit), BMP, greyscale, grey+alpha, RGB and RGBA all
become the domain's channel count (alpha dropped, grey repeated to RGB, RGB to luma for 1 channel),
float32 in [-1, 1].

Training stream (`ImageDomain.stream`, `paired_stream`): stateless in the position, like
unit_tf.data.toy. Image k of a domain's stream is file `index_shuffle(k mod n)` of epoch `k // n`;
its crop offset and flip are drawn from counter-based RNGs keyed by (seed, domain, k). So a run
resumed at step s sees exactly the batches an uninterrupted run sees there.
"""

import dataclasses
import glob
import os
from typing import Optional

from absl import logging
import numpy as np
import tensorflow as tf

from unit_tf.data.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
SUPPORTED_FORMATS = ("JPEG", "PNG", "BMP")
MAX_INT64 = np.iinfo(np.int64).max


# ----- finding files -----

def _is_image(path):
  return path.lower().endswith(IMAGE_EXTENSIONS)


def _folder_images(folder):
  found = []
  for root, dirs, files in os.walk(folder, followlinks=True):
    dirs.sort()
    found.extend(os.path.join(root, f) for f in sorted(files) if _is_image(f))
  return found


def _list_file_images(path):
  base = os.path.dirname(os.path.abspath(path))
  out = []
  with open(path) as f:
    for line in f:
      line = line.strip()
      if not line or line.startswith("#"):
        continue
      out.append(line if os.path.isabs(line) else os.path.join(base, line))
  return out


def list_images(source, what="images"):
  """The image paths of a folder, list file or glob pattern (see the module docstring).

  Raises DataError if the source does not exist or holds no image path. Paths named in a list
  file are not checked here (`scan_images` reports missing ones).
  """
  if os.path.isdir(source):
    paths = _folder_images(source)
    kind = "folder"
  elif os.path.isfile(source) and _is_image(source):
    paths, kind = [source], "file"
  elif os.path.isfile(source):
    paths, kind = _list_file_images(source), "list file"
  elif glob.has_magic(source):
    paths = sorted(p for p in glob.glob(source, recursive=True) if _is_image(p))
    kind = "pattern"
  else:
    raise DataError(f"{what}: {source} does not exist (expected a folder of images, a list file "
                    "with one image path per line, or a glob pattern)")
  if not paths:
    raise DataError(f"{what}: {kind} {source} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
  return paths


def header_problem(path):
  """Why Pillow rejects the header of `path`, or None."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  try:
    with Image.open(path) as image:
      if image.format not in SUPPORTED_FORMATS:
        return f"unsupported format {image.format}"
      if image.format == "BMP" and image.mode == "P":
        return "palette BMP (TensorFlow decodes palette indices; save it as RGB)"
      if image.size[0] < 1 or image.size[1] < 1:
        return f"empty image {image.size}"
  except FileNotFoundError:
    return "file not found"
  except Exception as e:  # Pillow raises many types for bad files; all mean "skip it"
    return f"{type(e).__name__}: {e}"
  return None


def _undecodable(paths):
  """Indices of `paths` TensorFlow's decoder fails on, found with a parallel decode pass."""
  ds = tf.data.Dataset.from_tensor_slices((tf.range(len(paths), dtype=tf.int64),
                                           tf.constant(paths)))
  ds = ds.map(lambda i, p: (i, tf.shape(decode_image(tf.io.read_file(p), 1))[0]),
              num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
  ds = ds.ignore_errors()
  decoded = {int(i) for i, _ in ds.as_numpy_iterator()}
  return [i for i in range(len(paths)) if i not in decoded]


def scan_images(paths, what="images", verify=True):
  """Drops files that cannot be decoded, warning once per file and with a count.

  Returns the good paths in their order; raises DataError if none is left.
  """
  bad = []
  good = []
  for path in paths:
    problem = header_problem(path)
    if problem:
      bad.append((path, problem))
    else:
      good.append(path)
  if verify and good:
    broken = set(_undecodable(good))
    bad.extend((good[i], "TensorFlow cannot decode it (truncated or corrupt data)")
               for i in sorted(broken))
    good = [p for i, p in enumerate(good) if i not in broken]
  for path, problem in bad:
    logging.warning("skipping %s: %s", path, problem)
  if bad:
    logging.warning("%s: skipped %d of %d files that cannot be decoded", what, len(bad),
                    len(paths))
  if not good:
    raise DataError(f"{what}: none of the {len(paths)} files can be decoded "
                    f"(first: {bad[0][0]}: {bad[0][1]})")
  return good


# ----- decoding and preprocessing -----

def to_channels(image, channels):
  """[H, W, 1|2|3|4] -> [H, W, channels]: alpha dropped, grey repeated, RGB to luma."""
  if channels not in (1, 3):
    raise ValueError(f"channels must be 1 or 3, got {channels}")
  native = tf.shape(image)[-1]

  def from_grey():
    grey = image[..., :1]
    return grey if channels == 1 else tf.repeat(grey, 3, axis=-1)

  def from_rgb():
    rgb = image[..., :3]
    return tf.image.rgb_to_grayscale(rgb) if channels == 1 else rgb

  out = tf.cond(native < 3, from_grey, from_rgb)
  out.set_shape([None, None, channels])
  return out


def decode_image(contents, channels):
  """Encoded JPEG/PNG/BMP bytes -> float32 [H, W, channels] in [-1, 1] at native resolution.

  8-bit and 16-bit images both map their full range to [-1, 1].
  """
  image = tf.io.decode_image(contents, channels=0, dtype=tf.float32, expand_animations=False)
  return to_channels(image, channels) * 2.0 - 1.0


def resize_to_cover(image, shorter_side, height, width):
  """Resizes (keeping the aspect ratio) so the shorter side is `shorter_side` (0: keep the size),
  then further up if needed so that a height x width crop fits."""
  shape = tf.cast(tf.shape(image)[:2], tf.float32)
  scale = tf.maximum(height / shape[0], width / shape[1])
  if shorter_side:
    scale = tf.maximum(scale, shorter_side / tf.reduce_min(shape))
  else:
    scale = tf.maximum(scale, 1.0)
  size = tf.cast(tf.math.ceil(shape * scale - 1e-3), tf.int32)
  size = tf.maximum(size, [height, width])
  return tf.cond(tf.reduce_all(size == tf.shape(image)[:2]), lambda: image,
                 lambda: tf.image.resize(image, size, antialias=True))


def center_crop(image, height, width):
  shape = tf.shape(image)
  top = (shape[0] - height) // 2
  left = (shape[1] - width) // 2
  return image[top:top + height, left:left + width, :]


@dataclasses.dataclass(frozen=True)
class Preprocessing:
  """How a decoded image becomes a training example.

  Attributes:
    height, width: the crop fed to the networks.
    load_size: shorter side after resizing, before the crop (0: no resize unless the image is
      smaller than the crop).
    random_crop: random crop position (False: centre crop).
    random_flip: random horizontal flip.
  """

  height: int
  width: int
  load_size: int = 0
  random_crop: bool = True
  random_flip: bool = True


class ImageDomain:
  """One domain's files, channel count and preprocessing; a stateless stream over them."""

  def __init__(self, paths, channels, preprocessing, name="a"):
    self.paths = list(paths)
    self.channels = channels
    self.preprocessing = preprocessing
    self.name = name

  def load(self, path, position=None, key=None):
    """One preprocessed image; random crop/flip keyed by (key, position) when both are given."""
    p = self.preprocessing
    image = decode_image(tf.io.read_file(path), self.channels)
    image = resize_to_cover(image, p.load_size, p.height, p.width)
    random = position is not None
    if random and p.random_crop:
      image = tf.image.stateless_random_crop(image, [p.height, p.width, self.channels],
                                             seed=tf.stack([key, position]))
    else:
      image = center_crop(image, p.height, p.width)
    if random and p.random_flip:
      image = tf.image.stateless_random_flip_left_right(image, seed=tf.stack([key + 1, position]))
    image.set_shape([p.height, p.width, self.channels])
    return image

  def stream(self, seed, domain):
    """A function position -> image of this domain's training stream (stateless)."""
    paths = tf.constant(self.paths)
    n = len(self.paths)
    # Separate counters for the order (key) and for crop/flip (key + 1, key + 2).
    key = tf.constant((seed * 2 + domain) * 3, tf.int64)

    def image_at(position):
      epoch, offset = position // n, position % n
      if n > 1:
        index = tf.random.experimental.index_shuffle(offset, tf.stack([key, epoch]),
                                                     max_index=n - 1)
      else:
        index = offset
      return self.load(paths[index], position, key + 1)

    return image_at

  def test_batch(self, n):
    """The first n files, centre-cropped (deterministic), as one [n', H, W, C] tensor."""
    return tf.stack([self.load(p) for p in self.paths[:n]])


def paired_stream(domain_a, domain_b, batch_size, seed, start_batch=0):
  """Infinite dataset of (images_a, images_b) batches, batch i identical whatever `start_batch`."""
  stream_a = domain_a.stream(seed, 0)
  stream_b = domain_b.stream(seed, 1)
  ds = tf.data.Dataset.range(start_batch * batch_size, MAX_INT64)
  ds = ds.map(lambda k: (stream_a(k), stream_b(k)), num_parallel_calls=tf.data.AUTOTUNE,
              deterministic=True)
  return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


# ----- the two ways of naming unpaired folders -----

@dataclasses.dataclass(frozen=True)
class Sources:
  """Where each domain's training and (optional) test images are."""

  train_a: str
  train_b: str
  test_a: Optional[str] = None
  test_b: Optional[str] = None


def folder_sources(data_path):
  """DATA/trainA, trainB (required), testA, testB (optional) as a Sources."""
  if not os.path.isdir(data_path):
    raise DataError(f"--data_path={data_path} is not a folder (expected trainA/ trainB/ testA/ "
                    "testB/ inside)")
  named = {}
  for name in ("trainA", "trainB", "testA", "testB"):
    path = os.path.join(data_path, name)
    if name.startswith("train") and not os.path.isdir(path):
      have = sorted(os.listdir(data_path))
      raise DataError(f"{path} does not exist: --data_path needs trainA/ and trainB/ (and "
                      f"optionally testA/ testB/); {data_path} has {have}")
    named[name] = path if os.path.isdir(path) else None
  return Sources(named["trainA"], named["trainB"], named["testA"], named["testB"])


def load_domains(sources, channels_a, channels_b, preprocessing, verify=True):
  """Lists and scans every source. Returns {"train_a", "train_b", "test_a", "test_b"} domains;
  a missing test source falls back to the training images (for grids and evaluation only)."""
  out = {}
  for split in ("train", "test"):
    for d, channels in (("a", channels_a), ("b", channels_b)):
      source = getattr(sources, f"{split}_{d}")
      if source is None:
        logging.warning("no test images for domain %s: grids and evaluation use its training "
                        "images", d)
        out[f"{split}_{d}"] = out[f"train_{d}"]
        continue
      what = f"domain {d} {split} images ({source})"
      paths = scan_images(list_images(source, what), what, verify=verify)
      logging.info("%s: %d images", what, len(paths))
      out[f"{split}_{d}"] = ImageDomain(paths, channels, preprocessing, name=d)
  return out
