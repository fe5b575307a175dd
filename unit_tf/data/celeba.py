"""CelebA attribute domains (Section 5, "Face images"): domain a = faces with the attribute,
domain b = faces without it, from `tfds.load("celeb_a")`.

Preprocessing as the paper: images resized to 132x132 and a random 128x128 region sampled (plus a
random horizontal flip); test images are centre-cropped.

Stream: each domain's records (encoded JPEG bytes; decoding happens after selection) are shuffled
per epoch within windows of SHUFFLE_BUFFER records, statelessly keyed by (seed, domain, epoch,
window); position k of the stream is record
k mod n of epoch k // n, and its crop and flip are keyed by k. A resumed run at position p starts at
epoch p // n and skips p mod n encoded records (no decoding), so it sees exactly the batches an
uninterrupted run would. Counting a domain's records reads the attribute column once at start.
"""

import tensorflow as tf

from unit_tf.data import images as image_data
from unit_tf.data.errors import DataError

LOAD_SIZE = 132
CROP_SIZE = 128
SHUFFLE_BUFFER = 10000
HOW_TO_PROVIDE = ("prepare it once with `tfds build celeb_a --data_dir=DIR` (TFDS downloads the "
                  "aligned images from Google Drive; if that fails, place img_align_celeba.zip "
                  "and the list files in DIR/downloads/manual) and pass --tfds_data_dir=DIR")


def _load_split(split, data_dir):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    return tfds.load("celeb_a", split=split, data_dir=data_dir, download=False,
                     shuffle_files=False, decoders={"image": tfds.decode.SkipDecoding()})
  except (AssertionError, FileNotFoundError, ValueError) as e:
    raise DataError(f"TFDS 'celeb_a' ({split}) is not available in "
                    f"{data_dir or 'the default TFDS data dir'} ({type(e).__name__}: "
                    f"{str(e).splitlines()[0][:200]}); {HOW_TO_PROVIDE}") from e


class CelebADomain:
  """The records of one split with (`with_attribute`) or without the attribute."""

  channels = 3

  def __init__(self, records, attribute, with_attribute, preprocessing):
    self.records = records.filter(
        lambda ex: tf.equal(ex["attributes"][attribute], with_attribute)).map(
            lambda ex: ex["image"])
    self.count = int(self.records.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
    name = f"{attribute}={with_attribute}"
    if self.count == 0:
      raise DataError(f"celeb_a has no image with {name}")
    self.preprocessing = preprocessing

  def _load(self, contents, position=None, key=None):
    p = self.preprocessing
    # TFDS stores CelebA's images as JPEG, never WebP; the EXIF orientation is read from the bytes.
    image = image_data.decode_image(contents, self.channels, webp=False)
    image = tf.image.resize(image, [p.load_size, p.load_size], antialias=True)
    if position is None or not p.random_crop:
      image = image_data.center_crop(image, p.height, p.width)
    else:
      image = tf.image.stateless_random_crop(image, [p.height, p.width, self.channels],
                                             seed=tf.stack([key, position]))
    if position is not None and p.random_flip:
      image = tf.image.stateless_random_flip_left_right(image, seed=tf.stack([key + 1, position]))
    image.set_shape([p.height, p.width, self.channels])
    return image

  def positions_dataset(self, seed, domain, start):
    """(position, image) from `start` on (see the module docstring)."""
    n = self.count
    key = (seed * 2 + domain) * 3
    records = self.records

    def epoch(e):
      # Stateless windowed shuffle: Dataset.shuffle takes no tensor seed (with the global seed 0
      # that training sets, TF compares the seed tensor as a bool).
      def permuted(w, window):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(tf.shape(window)[0]), seed=tf.stack([key * 1000003 + e, w]))
        return tf.data.Dataset.from_tensor_slices(tf.gather(window, order))

      return records.batch(SHUFFLE_BUFFER).enumerate().flat_map(permuted)

    ds = tf.data.Dataset.range(start // n, image_data.MAX_INT64).flat_map(epoch)
    ds = ds.skip(start % n).enumerate(start)
    return ds.map(lambda k, contents: self._load(contents, k, tf.constant(key + 1, tf.int64)),
                  num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

  def test_batch(self, n):
    return tf.stack([self._load(c) for c in self.records.take(n)])


def load_domains(attribute, data_dir=None, preprocessing=None):
  """{"train_a", "train_b", "test_a", "test_b"}: CelebA train/test faces with and without
  `attribute` (e.g. "Blond_Hair", "Smiling", "Goatee", "Eyeglasses")."""
  preprocessing = preprocessing or image_data.Preprocessing(CROP_SIZE, CROP_SIZE, LOAD_SIZE)
  out = {}
  for split in ("train", "test"):
    records = _load_split(split, data_dir)
    known = sorted(records.element_spec["attributes"])
    if attribute not in known:
      raise DataError(f"unknown CelebA attribute {attribute!r}; known: {', '.join(known)}")
    out[f"{split}_a"] = CelebADomain(records, attribute, True, preprocessing)
    out[f"{split}_b"] = CelebADomain(records, attribute, False, preprocessing)
  return out


def paired_stream(domain_a, domain_b, batch_size, seed, start_batch=0):
  """Infinite (images_a, images_b) batches; batch i is the same whatever `start_batch` is."""
  start = start_batch * batch_size
  ds = tf.data.Dataset.zip(domain_a.positions_dataset(seed, 0, start),
                           domain_b.positions_dataset(seed, 1, start))
  return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
