"""The paper's MNIST toy domains (Appendix B), defined exactly so that results are comparable.

- Digits are padded from 28x28 to 32x32 (2 pixels each side), intensities m in [0, 1].
- The MNIST training set is split into two disjoint halves with the fixed seed SPLIT_SEED: domain a
  comes from the first half, domain b from the second.
- Domain a: m coloured red, green or blue (uniformly per image).
- Domain b: the edge map e = clip(dilate3x3(m) - erode3x3(m), 0, 1) (morphological gradient, 3x3
  square window) coloured cyan, magenta or yellow.
- Ground truth: a->b maps m to e; b->a maps e back to m (colour ignored, the paper's footnote 4).
Images fed to the networks are in [-1, 1].

The training pipeline is stateless: the k-th image of the stream is `index_shuffle(k mod n)` of
epoch `k // n` and its colour is drawn from a counter-based RNG keyed by k, so starting the stream
at any step gives exactly the batches an uninterrupted run would have seen there (exact resume).
"""

import numpy as np
import tensorflow as tf

from unit_tf.data import stream

SPLIT_SEED = 1703  # the paper's arXiv number; fixed so every run uses the same halves
TEST_COLOUR_SEED = 1704
IMAGE_SIZE = 32
COLOURS_A = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)  # red, green, blue
COLOURS_B = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], np.float32)  # cyan, magenta, yellow


def pad_to_32(digits):
  """[N, 28, 28] uint8 -> [N, 32, 32] float32 intensities in [0, 1]."""
  digits = np.asarray(digits)
  if digits.ndim != 3 or digits.shape[1:] != (28, 28):
    raise ValueError(f"expected [N, 28, 28] digits, got {digits.shape}")
  return np.pad(digits.astype(np.float32) / 255.0, ((0, 0), (2, 2), (2, 2)))


def edge_map(intensity):
  """clip(dilate3x3(m) - erode3x3(m), 0, 1) for [N, H, W] intensities (numpy in, numpy out)."""
  m = tf.convert_to_tensor(intensity, tf.float32)[..., None]
  dilated = tf.nn.max_pool2d(m, 3, 1, "SAME")
  eroded = -tf.nn.max_pool2d(-m, 3, 1, "SAME")
  return tf.clip_by_value(dilated - eroded, 0.0, 1.0)[..., 0].numpy()


def colourize(intensity, colour_ids, palette):
  """[N, H, W] intensities, [N] colour ids -> [N, H, W, 3] images in [-1, 1] (tf or numpy)."""
  colours = tf.gather(tf.constant(palette), colour_ids)
  rgb = tf.cast(intensity, tf.float32)[..., None] * colours[:, None, None, :]
  return rgb * 2.0 - 1.0


def intensity(images):
  """The metric's intensity: max over RGB of images in [-1, 1], mapped to [0, 1]."""
  return (tf.reduce_max(tf.cast(images, tf.float32), axis=-1) + 1.0) / 2.0


class ToyDomains:
  """The two training halves and the test set of the toy task.

  Args:
    mnist: {x_train, y_train, x_test, y_test} as `unit_tf.data.mnist` returns it.
  Attributes (uint8 [N, 32, 32], 0..255 scaled intensities):
    train_a: digits m of the first half; train_b: edge maps e of the second half;
    test_digits, test_edges: m and e of every test digit.
    train_labels_a, train_labels_b, test_labels: the digits' classes (for evaluation only:
      `classifier_training_set`; training never reads them).
  """

  def __init__(self, mnist):
    order = np.random.default_rng(SPLIT_SEED).permutation(len(mnist["x_train"]))
    half = len(order) // 2
    self.train_indices_a, self.train_indices_b = order[:half], order[half:2 * half]
    train = pad_to_32(mnist["x_train"])
    self.train_a = _to_uint8(train[self.train_indices_a])
    self.train_b = _to_uint8(edge_map(train[self.train_indices_b]))
    test = pad_to_32(mnist["x_test"])
    self.test_digits = _to_uint8(test)
    self.test_edges = _to_uint8(edge_map(test))
    rng = np.random.default_rng(TEST_COLOUR_SEED)
    self.test_colours_a = rng.integers(0, 3, len(test)).astype(np.int32)
    self.test_colours_b = rng.integers(0, 3, len(test)).astype(np.int32)
    labels = np.asarray(mnist["y_train"], np.int64)
    self.train_labels_a, self.train_labels_b = (labels[self.train_indices_a],
                                                labels[self.train_indices_b])
    self.test_labels = np.asarray(mnist["y_test"], np.int64)

  def classifier_training_set(self, domain):
    """(uint8 [N, 32, 32, 3] coloured training images of `domain` ("a" or "b"), labels [N]):
    each image in one colour of its domain's palette, drawn with a fixed seed."""
    intensities = (self.train_a if domain == "a" else self.train_b).astype(np.float32) / 255.0
    palette = COLOURS_A if domain == "a" else COLOURS_B
    colours = np.random.default_rng(TEST_COLOUR_SEED + 1).integers(0, 3, len(intensities))
    images = colourize(intensities, colours.astype(np.int32), palette).numpy()
    labels = self.train_labels_a if domain == "a" else self.train_labels_b
    return _to_uint8((images + 1.0) / 2.0), labels

  def test_batch(self, start, stop):
    """Test inputs and ground truths for digits [start, stop).

    Returns (images_a, images_b, truth_a2b, truth_b2a): inputs in [-1, 1], truths in [0, 1].
    """
    digits = self.test_digits[start:stop].astype(np.float32) / 255.0
    edges = self.test_edges[start:stop].astype(np.float32) / 255.0
    images_a = colourize(digits, self.test_colours_a[start:stop], COLOURS_A)
    images_b = colourize(edges, self.test_colours_b[start:stop], COLOURS_B)
    return images_a, images_b, edges, digits

  def train_dataset(self, batch_size, seed, start_batch=0):
    """Infinite dataset of (images_a, images_b), each [batch_size, 32, 32, 3] in [-1, 1].

    Batch i of the stream is the same for a given seed whatever `start_batch` is.
    """
    stream_a = _domain_stream(self.train_a, COLOURS_A, batch_size, seed, domain=0)
    stream_b = _domain_stream(self.train_b, COLOURS_B, batch_size, seed, domain=1)

    def make_batch(i):
      return stream_a(i), stream_b(i)

    ds = tf.data.Dataset.range(start_batch, np.iinfo(np.int64).max)
    ds = ds.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def _to_uint8(x):
  return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def _domain_stream(images_uint8, palette, batch_size, seed, domain):
  """A function batch_index -> [batch_size, H, W, 3] batch of one domain (stateless)."""
  images = tf.constant(images_uint8)
  n = len(images_uint8)
  if batch_size > n:
    raise ValueError(f"batch of {batch_size} is larger than the {n} training images of a domain")

  def batch(i):
    stream_key = tf.constant(seed * 2 + domain, tf.int64)
    indices = stream.shuffled_indices(i, batch_size, n, stream_key)
    picked = tf.cast(tf.gather(images, indices), tf.float32) / 255.0
    colour_ids = tf.random.stateless_uniform([batch_size], seed=tf.stack([stream_key, i]),
                                             maxval=3, dtype=tf.int32)
    return colourize(picked, colour_ids, palette)

  return batch
