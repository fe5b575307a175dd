"""Unpaired natural images: image folders, list files and CelebA attribute domains.

Sources of one domain (`list_images`):
  a folder     every .jpg/.jpeg/.png/.bmp/.gif/.webp below it (recursively, sorted), e.g. trainA/
               of the CycleGAN/UNIT layout; other files are counted by extension in one warning;
               symlinked folders are followed, each real folder once (a loop is not followed, and
               a warning names the links);
  a list file  one image path per line (relative paths are relative to the list file's folder;
               blank lines and lines starting with '#' are skipped), as KAIST users keep them;
  a glob       (translate tool) e.g. 'photos/*.png'.
A missing source or one without images is a DataError before any training starts.

Bad files (`scan_files`, `inspect_image`): a file Pillow cannot identify, a format other than
JPEG/PNG/BMP/GIF/WebP, a palette BMP (TensorFlow decodes its palette indices, not colours), an
animated WebP (TensorFlow decodes its frames wrongly), an image above the pixel limit that is not
a JPEG, or a file TensorFlow fails to decode (truncated, corrupt) is dropped before training, with
one warning naming each file and the reason and a final count. The scan decodes every file once
with the decoder training uses (in a parallel tf.data pipeline); `verify=False` checks headers
only, and the stream then replaces a file that fails to decode (`ImageDomain.fallback_stream`).

Pixel limit (`max_pixels`, default DEFAULT_MAX_PIXELS): read from the header, so nothing is
decoded to apply it. A JPEG above it is decoded at 1/2, 1/4 or 1/8 of its size (the smallest
reduction that fits), bounding the memory of one decode; anything else above it is refused.

Decoding (`decode_image`): JPEG, PNG (8 or 16 bit), BMP, GIF (first frame), WebP; greyscale,
grey+alpha, RGB and RGBA all become the domain's channel count (alpha dropped, grey repeated to
RGB, RGB to luma for 1 channel), float32 in [-1, 1], turned upright as the EXIF orientation says
(unit_tf.data.exif).

Training stream (`ImageDomain.stream`, `paired_stream`): stateless in the position, like
unit_tf.data.toy. Image k of a domain's stream is file `index_shuffle(k mod n)` of epoch `k // n`;
its crop offset and flip are drawn from counter-based RNGs keyed by (seed, domain, k). So a run
resumed at step s sees exactly the batches an uninterrupted run sees there.
"""

import collections
import contextlib
import dataclasses
import glob
import os
from typing import Optional

from absl import logging
import numpy as np
import tensorflow as tf

from unit_tf.data import exif
from unit_tf.data.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
SUPPORTED_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP")
# Largest image decoded at full size (4096 x 4096, 16.8 megapixels: 200 MB as float32 RGB). A
# larger JPEG is decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling: memory and time shrink
# with it), a larger image of another format is refused; `max_pixels` raises the limit.
DEFAULT_MAX_PIXELS = 4096 * 4096
JPEG_SCALES = (1, 2, 4, 8)
MAX_INT64 = np.iinfo(np.int64).max


# ----- finding files -----

def _is_image(path):
  return path.lower().endswith(IMAGE_EXTENSIONS)


def _extension(name):
  return os.path.splitext(name)[1].lower() or "(none)"


def _folder_images(folder):
  """(image paths, Counter of the ignored files' extensions, [(symlink, real folder)] not
  followed because that real folder was already listed).

  Each real folder is listed once, under the first name a sorted walk reaches (plain folders of a
  level before symlinks), so a symlink loop (`sub/loop -> ..`) or two links to one folder never
  list an image twice.
  """
  found, ignored, repeats = [], collections.Counter(), []
  seen = {os.path.realpath(folder)}
  for root, dirs, files in os.walk(folder, followlinks=True):
    dirs.sort(key=lambda d: (os.path.islink(os.path.join(root, d)), d))
    keep = []
    for d in dirs:
      real = os.path.realpath(os.path.join(root, d))
      if real in seen:
        repeats.append((os.path.join(root, d), real))
      else:
        seen.add(real)
        keep.append(d)
    dirs[:] = sorted(keep)
    for f in sorted(files):
      if _is_image(f):
        found.append(os.path.join(root, f))
      else:
        ignored[_extension(f)] += 1
  return found, ignored, repeats


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


def _report_listing(what, ignored, repeats):
  if ignored:
    kinds = ", ".join(f"{ext}: {n}" for ext, n in sorted(ignored.items()))
    logging.warning("%s: ignored %d files by extension (%s); images are %s", what,
                    sum(ignored.values()), kinds, " ".join(IMAGE_EXTENSIONS))
  if repeats:
    shown = "; ".join(f"{link} -> {real}" for link, real in repeats[:3])
    logging.warning("%s: did not follow %d symlinked folders that lead to a folder already "
                    "listed (each real folder is listed once): %s%s", what, len(repeats), shown,
                    "; ..." if len(repeats) > 3 else "")


def list_images(source, what="images"):
  """The image paths of a folder, list file or glob pattern (see the module docstring).

  Files of a folder or pattern without an image extension are counted in one warning; symlinked
  folders are followed, each real folder once (a warning names the links not followed). Raises
  DataError if the source does not exist or holds no image path. Paths named in a list file are
  not checked here (`scan_images` reports missing ones).
  """
  ignored, repeats = collections.Counter(), []
  if os.path.isdir(source):
    paths, ignored, repeats = _folder_images(source)
    kind = "folder"
  elif os.path.isfile(source) and _is_image(source):
    paths, kind = [source], "file"
  elif os.path.isfile(source):
    paths, kind = _list_file_images(source), "list file"
  elif glob.has_magic(source):
    matches = sorted(p for p in glob.glob(source, recursive=True) if os.path.isfile(p))
    paths = [p for p in matches if _is_image(p)]
    ignored.update(_extension(p) for p in matches if not _is_image(p))
    kind = "pattern"
  else:
    raise DataError(f"{what}: {source} does not exist (expected a folder of images, a list file "
                    "with one image path per line, or a glob pattern)")
  _report_listing(what, ignored, repeats)
  if not paths:
    raise DataError(f"{what}: {kind} {source} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
  return paths


@dataclasses.dataclass(frozen=True)
class ImageFile:
  """A file that passed the header check: its path, format, stored size, decode scale (1, or
  2 / 4 / 8 for a JPEG above the pixel limit, decoded at that fraction of its size) and EXIF
  orientation (1..8, unit_tf.data.exif; 1 if it has none)."""

  path: str
  format: str
  width: int
  height: int
  scale: int = 1
  orientation: int = 1

  def decode_args(self):
    """Keyword arguments of `decode_image` for this file."""
    return {"scale": self.scale, "orientation": self.orientation, "webp": self.format == "WEBP"}


@contextlib.contextmanager
def _no_pillow_pixel_limit():
  """Pillow refuses to open images above its own limit (DecompressionBombError); ours applies
  instead, and only headers are read here."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  previous = Image.MAX_IMAGE_PIXELS
  Image.MAX_IMAGE_PIXELS = None
  try:
    yield
  finally:
    Image.MAX_IMAGE_PIXELS = previous


def decode_scale(image_format, width, height, max_pixels=DEFAULT_MAX_PIXELS):
  """1 if width x height fits `max_pixels`; for a JPEG the smallest of 2, 4, 8 whose reduced
  size fits; None if nothing fits."""
  for scale in JPEG_SCALES if image_format == "JPEG" else (1,):
    if -(-width // scale) * -(-height // scale) <= max_pixels:
      return scale
  return None


def _pillow_orientation(image):
  """The EXIF orientation Pillow read with the header (JPEG APP1, WebP EXIF, a PNG eXIf chunk
  before the image data), 1 if none; never decodes pixels."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  raw = image.info.get("exif")
  if not raw:
    return 1
  tags = Image.Exif()
  tags.load(raw)
  value = tags.get(exif.ORIENTATION_TAG, 1)
  return value if isinstance(value, int) and 1 <= value <= 8 else 1


def inspect_image(path, max_pixels=DEFAULT_MAX_PIXELS):
  """(ImageFile, None) for a file whose header Pillow accepts, else (None, why it is skipped).

  Reads the header only. Skipped: not an image, a format TensorFlow cannot decode (or, for
  animated WebP, decodes wrongly), a palette BMP, an empty image, or more pixels than
  `max_pixels` (JPEG: even at 1/8 scale).
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top
  try:
    with _no_pillow_pixel_limit(), Image.open(path) as image:
      image_format, (width, height) = image.format, image.size
      if image_format not in SUPPORTED_FORMATS:
        return None, f"unsupported format {image_format} (decoded: {', '.join(SUPPORTED_FORMATS)})"
      if image_format == "BMP" and image.mode == "P":
        return None, "palette BMP (TensorFlow decodes palette indices; save it as RGB)"
      if image_format == "WEBP" and getattr(image, "n_frames", 1) > 1:
        return None, ("animated WebP (TensorFlow decodes its frames wrongly; save the frame you "
                      "want as PNG)")
      if width < 1 or height < 1:
        return None, f"empty image {image.size}"
      try:
        orientation = _pillow_orientation(image)
      except Exception:  # a malformed EXIF block: the pixels are still usable, shown as stored
        orientation = 1
  except FileNotFoundError:
    return None, "file not found"
  except Exception as e:  # Pillow raises many types for bad files; all mean "skip it"
    return None, f"{type(e).__name__}: {e}"
  scale = decode_scale(image_format, width, height, max_pixels)
  if scale is None:
    how = " even at 1/8 scale" if image_format == "JPEG" else ""
    return None, (f"{width}x{height} = {width * height:,} pixels is above the limit of "
                  f"{max_pixels:,}{how} (--max_image_pixels raises it)")
  return ImageFile(path, image_format, width, height, scale, orientation), None


def header_problem(path, max_pixels=DEFAULT_MAX_PIXELS):
  """Why `path` is skipped before decoding (see `inspect_image`), or None."""
  return inspect_image(path, max_pixels)[1]


def _undecodable(files):
  """Indices of `files` (ImageFile) TensorFlow's decoder fails on, found with a parallel decode
  pass at each file's decode scale."""
  ds = tf.data.Dataset.from_tensor_slices((tf.range(len(files), dtype=tf.int64),
                                           tf.constant([f.path for f in files]),
                                           tf.constant([f.scale for f in files], tf.int32),
                                           tf.constant([f.format == "WEBP" for f in files])))
  ds = ds.map(lambda i, p, s, w: (i, tf.shape(decode_image(tf.io.read_file(p), 1, s, 1, w))[0]),
              num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
  ds = ds.ignore_errors()
  decoded = {int(i) for i, _ in ds.as_numpy_iterator()}
  return [i for i in range(len(files)) if i not in decoded]


def scan_files(paths, what="images", verify=True, max_pixels=DEFAULT_MAX_PIXELS):
  """Drops files that cannot be decoded, warning once per file and with a count.

  Returns an ImageFile for each good path, in their order; JPEGs above `max_pixels` get their
  reduced decode scale, with one warning counting them. Raises DataError if none is left.
  """
  bad = []
  good = []
  for path in paths:
    found, problem = inspect_image(path, max_pixels)
    if problem:
      bad.append((path, problem))
    else:
      good.append(found)
  if verify and good:
    broken = set(_undecodable(good))
    bad.extend((good[i].path, "TensorFlow cannot decode it (truncated or corrupt data)")
               for i in sorted(broken))
    good = [f for i, f in enumerate(good) if i not in broken]
  for path, problem in bad:
    logging.warning("skipping %s: %s", path, problem)
  if bad:
    logging.warning("%s: skipped %d of %d files that cannot be decoded or are too large", what,
                    len(bad), len(paths))
  reduced = [f for f in good if f.scale > 1]
  if reduced:
    logging.warning("%s: %d JPEGs above %s pixels are decoded at reduced scale (e.g. %s: "
                    "%dx%d at 1/%d); --max_image_pixels raises the limit", what, len(reduced),
                    f"{max_pixels:,}", reduced[0].path, reduced[0].width, reduced[0].height,
                    reduced[0].scale)
  if not good:
    raise DataError(f"{what}: none of the {len(paths)} files can be decoded "
                    f"(first: {bad[0][0]}: {bad[0][1]})")
  return good


def scan_images(paths, what="images", verify=True, max_pixels=DEFAULT_MAX_PIXELS):
  """The paths of `scan_files` (the good files, in their order)."""
  return [f.path for f in scan_files(paths, what, verify, max_pixels)]


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


def _decode_full(contents, webp):
  """float32 [H, W, native channels] in [0, 1]; 16-bit PNGs keep their precision. `webp`: a
  Python bool (one decoder in the graph) or a bool tensor (a tf.cond)."""

  def as_webp():  # TensorFlow decodes WebP to uint8 only
    return tf.image.convert_image_dtype(
        tf.io.decode_image(contents, channels=0, expand_animations=False), tf.float32)

  def other():
    return tf.io.decode_image(contents, channels=0, dtype=tf.float32, expand_animations=False)

  if isinstance(webp, bool):
    return as_webp() if webp else other()
  return tf.cond(webp, as_webp, other)


def _decode_jpeg_reduced(contents, scale):
  """A JPEG decoded at 1/scale of its size (scale 2, 4 or 8), float32 in [0, 1]."""
  branches = [lambda r=r: tf.io.decode_jpeg(contents, channels=0, ratio=r)
              for r in JPEG_SCALES[1:]]
  index = tf.where(tf.equal(scale, 2), 0, tf.where(tf.equal(scale, 4), 1, 2))
  return tf.image.convert_image_dtype(tf.switch_case(index, branches), tf.float32)


def decode_image(contents, channels, scale=1, orientation=None, webp=None):
  """Encoded JPEG/PNG/BMP/GIF/WebP bytes -> float32 [H, W, channels] in [-1, 1], turned upright
  as the file's EXIF orientation says, at native resolution.

  8-bit and 16-bit images both map their full range to [-1, 1]; a GIF gives its first frame.
  What the header check already knows about the file (`ImageFile.decode_args`) can be passed, as
  Python values (then the graph holds only what this file needs: a plain JPEG decodes exactly as
  `tf.io.decode_image` alone) or as tensors (one graph for many files):
    scale: > 1 decodes a JPEG at 1/scale of its size (2, 4 or 8, see `inspect_image`).
    orientation: 1..8; None reads it from the bytes (unit_tf.data.exif).
    webp: whether it is WebP (decoded to uint8, TensorFlow's only WebP type); None checks.
  """
  if webp is None:
    webp = exif.is_webp(contents)
  if isinstance(scale, int) and scale == 1:
    image = _decode_full(contents, webp)
  else:
    scale = tf.convert_to_tensor(scale, tf.int32)
    image = tf.cond(scale > 1, lambda: _decode_jpeg_reduced(contents, scale),
                    lambda: _decode_full(contents, webp))
  if orientation is None:
    orientation = exif.orientation(contents, webp)
  if not (isinstance(orientation, int) and orientation == 1):
    image = exif.apply_orientation(image, orientation)
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
  """One domain's files, channel count and preprocessing; a stateless stream over them.

  `files` (ImageFile of `scan_files`, one per path) says how each file decodes: JPEG scale, EXIF
  orientation, WebP. A property all files share is a constant of the graph, so a set of plain
  upright JPEGs decodes with `tf.io.decode_image` alone; without `files` every image is checked
  in the graph (orientation read from its bytes). `verified` says every file was decoded once
  before training (`scan_files(verify=True)`); without it the stream replaces a file that fails
  to decode, see `paired_stream`.
  """

  def __init__(self, paths, channels, preprocessing, name="a", files=None, verified=True):
    self.paths = list(paths)
    self.files = list(files) if files is not None else None
    if self.files is not None and [f.path for f in self.files] != self.paths:
      raise ValueError("`files` must describe `paths`, one ImageFile per path in order")
    self.channels = channels
    self.preprocessing = preprocessing
    self.name = name
    self.verified = verified
    self.skipped_at_decode = set()  # files found undecodable while streaming (verified=False)

  def load(self, path, position=None, key=None, decode_args=None):
    """One preprocessed image; random crop/flip keyed by (key, position) when both are given.
    `decode_args`: keyword arguments of `decode_image` (see `_decode_args`)."""
    p = self.preprocessing
    image = decode_image(tf.io.read_file(path), self.channels, **(decode_args or {}))
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

  def _decode_args(self):
    """A function file index (tensor) -> `decode_image` keyword arguments: Python constants for
    what every file shares, a lookup in a per-file table for the rest."""
    if self.files is None:
      return lambda index: {}
    columns = {}
    for name in ("scale", "orientation", "webp"):
      values = [f.decode_args()[name] for f in self.files]
      columns[name] = (values[0] if all(v == values[0] for v in values)
                       else tf.constant(values, tf.bool if name == "webp" else tf.int32))
    return lambda index: {name: tf.gather(v, index) if isinstance(v, tf.Tensor) else v
                          for name, v in columns.items()}

  def _key(self, seed, domain):
    # Separate counters for the order (key) and for crop/flip (key + 1, key + 2).
    return tf.constant((seed * 2 + domain) * 3, tf.int64)

  def _file_index(self, key, position, step=0):
    """The file of stream position `position` (`step` > 0: the step-th next file of the same
    epoch's order, the stand-ins of `fallback_stream`)."""
    n = len(self.paths)
    epoch, offset = position // n, (position + step) % n
    if n > 1:
      return tf.random.experimental.index_shuffle(offset, tf.stack([key, epoch]),
                                                  max_index=n - 1)
    return offset

  def stream(self, seed, domain):
    """A function position -> image of this domain's training stream (stateless)."""
    paths = tf.constant(self.paths)
    key = self._key(seed, domain)
    decode_args = self._decode_args()

    def image_at(position):
      index = self._file_index(key, position)
      return self.load(paths[index], position, key + 1, decode_args(index))

    return image_at

  def fallback_stream(self, seed, domain, tries=8):
    """A function position -> one-element dataset of the image at `position`, as `stream`; if
    that file fails to decode, the first of the next files of the epoch's order that decodes
    (with the same crop and flip), and a warning naming each failed file once, with the count.
    Stateless like `stream`. Fails naming the files if none of `tries` decodes."""
    paths = tf.constant(self.paths)
    key = self._key(seed, domain)
    decode_args = self._decode_args()
    tries = min(tries, len(self.paths))

    def report(failed):
      for path in failed.numpy():
        path = path.decode()
        if path not in self.skipped_at_decode:
          self.skipped_at_decode.add(path)
          logging.warning("skipping %s at decode time: TensorFlow cannot decode it (truncated "
                          "or corrupt data); its stream positions use the next file of the "
                          "epoch. Domain %s: %d files skipped so far (--verify_images finds "
                          "them before training)", path, self.name,
                          len(self.skipped_at_decode))
      return tf.constant(0, tf.int64)

    def dataset_at(position):
      indices = tf.stack([self._file_index(key, position, step) for step in range(tries)])
      candidates = tf.data.Dataset.from_tensor_slices((tf.range(tries), indices))
      loaded = candidates.map(lambda j, i: (j, self.load(paths[i], position, key + 1,
                                                         decode_args(i)))).ignore_errors()

      def none_decodes(j, i):
        del j, i
        failed = tf.debugging.Assert(False, [f"domain {self.name}: none of", tries,
                                             "consecutive files decodes:",
                                             tf.gather(paths, indices)], summarize=tries)
        with tf.control_dependencies([failed]):
          return tf.constant(tries), tf.zeros(
              [self.preprocessing.height, self.preprocessing.width, self.channels])

      last = candidates.take(1).map(none_decodes)

      def warn(j, image):
        logged = tf.cond(j > 0, lambda: tf.py_function(report, [tf.gather(paths, indices[:j])],
                                                        tf.int64),
                         lambda: tf.constant(0, tf.int64))
        with tf.control_dependencies([logged]):
          return tf.identity(image)

      return loaded.concatenate(last).take(1).map(warn)

    return dataset_at

  def test_batch(self, n):
    """The first n files, centre-cropped (deterministic), as one [n', H, W, C] tensor. Files
    that fail to decode (only possible if not `verified`) are left out with a warning."""
    images = []
    for i, path in enumerate(self.paths):
      if len(images) == n:
        break
      try:
        args = self.files[i].decode_args() if self.files is not None else None
        images.append(self.load(path, decode_args=args))
      except tf.errors.OpError:
        self.skipped_at_decode.add(path)
        logging.warning("skipping %s: TensorFlow cannot decode it (truncated or corrupt data)",
                        path)
    if not images:
      raise DataError(f"domain {self.name}: none of the first images can be decoded")
    return tf.stack(images)


def paired_stream(domain_a, domain_b, batch_size, seed, start_batch=0):
  """Infinite dataset of (images_a, images_b) batches, batch i identical whatever `start_batch`.

  Domains whose files were all decoded before training (`verified`) are read with one parallel
  map; otherwise each position goes through `ImageDomain.fallback_stream` (a parallel
  interleave, slower), so that a file that fails to decode is replaced, not fatal.
  """
  positions = tf.data.Dataset.range(start_batch * batch_size, MAX_INT64)
  if domain_a.verified and domain_b.verified:
    stream_a = domain_a.stream(seed, 0)
    stream_b = domain_b.stream(seed, 1)
    ds = positions.map(lambda k: (stream_a(k), stream_b(k)), num_parallel_calls=tf.data.AUTOTUNE,
                       deterministic=True)
  else:
    stream_a = domain_a.fallback_stream(seed, 0)
    stream_b = domain_b.fallback_stream(seed, 1)
    ds = positions.interleave(lambda k: tf.data.Dataset.zip((stream_a(k), stream_b(k))),
                              cycle_length=4, block_length=1,
                              num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
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


def load_domains(sources, channels_a, channels_b, preprocessing, verify=True,
                 max_pixels=DEFAULT_MAX_PIXELS):
  """Lists and scans every source. Returns {"train_a", "train_b", "test_a", "test_b"} domains;
  a missing test source falls back to the training images (for grids and evaluation only).
  `max_pixels`: see `inspect_image`."""
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
      files = scan_files(list_images(source, what), what, verify=verify, max_pixels=max_pixels)
      logging.info("%s: %d images", what, len(files))
      out[f"{split}_{d}"] = ImageDomain([f.path for f in files], channels, preprocessing, name=d,
                                        files=files, verified=verify)
  return out
