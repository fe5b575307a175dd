"""Tasks: what the training loop trains on and how it scores a model.

ToyTask (Appendix B, MNIST colour/edges), ImageFolderTask (unpaired folders or list files) and
CelebATask (CelebA attribute domains).

A task provides
  image_shape_a, image_shape_b          [H, W, C] of each domain
  train_dataset(batch_size, seed, start_batch) -> tf.data of (images_a, images_b), stateless in
                                           the batch index so that a resumed run sees the batches
                                           an uninterrupted run would have
  visualization_batch(n) -> (images_a, images_b), fixed test images for TensorBoard grids
  evaluate(model, max_examples) -> {metric name: float}
"""

import numpy as np
import tensorflow as tf

from unit_tf import metrics
from unit_tf.data import celeba
from unit_tf.data import images as image_data
from unit_tf.data import toy


class ToyTask:
  """The MNIST colour/edge toy task of Appendix B; metrics toy_distance_a2b / toy_distance_b2a."""

  image_shape_a = (toy.IMAGE_SIZE, toy.IMAGE_SIZE, 3)
  image_shape_b = (toy.IMAGE_SIZE, toy.IMAGE_SIZE, 3)

  def __init__(self, mnist, eval_batch_size=500):
    self.domains = toy.ToyDomains(mnist)
    self.eval_batch_size = eval_batch_size
    self._translators = {}

  def train_dataset(self, batch_size, seed, start_batch=0):
    return self.domains.train_dataset(batch_size, seed, start_batch)

  def visualization_batch(self, n=8):
    images_a, images_b, _, _ = self.domains.test_batch(0, n)
    return images_a, images_b

  def _translator(self, model, direction):
    key = (id(model), direction)
    if key not in self._translators:
      self._translators[key] = tf.function(
          lambda images: model.translate(images, direction),
          input_signature=[tf.TensorSpec([None, toy.IMAGE_SIZE, toy.IMAGE_SIZE, 3], tf.float32)])
    return self._translators[key]

  def evaluate(self, model, max_examples=None):
    """Mean toy distance of each direction over the first `max_examples` test digits (all if
    None)."""
    total = len(self.domains.test_digits)
    count = total if max_examples is None else min(max_examples, total)
    sums = {"a2b": 0.0, "b2a": 0.0}
    for start in range(0, count, self.eval_batch_size):
      stop = min(start + self.eval_batch_size, count)
      images_a, images_b, truth_a2b, truth_b2a = self.domains.test_batch(start, stop)
      for direction, images, truth in (("a2b", images_a, truth_a2b),
                                       ("b2a", images_b, truth_b2a)):
        translated = self._translator(model, direction)(tf.convert_to_tensor(images))
        sums[direction] += float(np.sum(metrics.toy_distance(translated, truth)))
    return {f"toy_distance_{d}": s / count for d, s in sums.items()}


def _translator_for_shape(cache, model, direction, shape):
  """A tf.function translating [N, H, W, C] float images, traced once per model/direction/shape."""
  key = (id(model), direction, tuple(shape))
  if key not in cache:
    cache[key] = tf.function(lambda images: model.translate(images, direction),
                             input_signature=[tf.TensorSpec([None] + list(shape), tf.float32)])
  return cache[key]


class UnpairedImageTask:
  """Two domains of unpaired natural images (ImageFolderTask, CelebATask share this).

  `domains` is {"train_a", "train_b", "test_a", "test_b"} objects with `channels` and
  `test_batch(n)` (unit_tf.data.images.ImageDomain or unit_tf.data.celeba.CelebADomain). The
  metric is cheap: the mean absolute cycle error |x - x_aba| (a->b->a, and b->a->b) on the first
  test images, in [-1, 1] units; it needs no ground truth, which unpaired data lacks.
  """

  def __init__(self, domains, height, width, eval_batch_size=4):
    self.domains = domains
    self.image_shape_a = (height, width, domains["train_a"].channels)
    self.image_shape_b = (height, width, domains["train_b"].channels)
    self.eval_batch_size = eval_batch_size
    self._translators = {}

  def train_dataset(self, batch_size, seed, start_batch=0):
    return image_data.paired_stream(self.domains["train_a"], self.domains["train_b"], batch_size,
                                    seed, start_batch)

  def visualization_batch(self, n=8):
    return self.domains["test_a"].test_batch(n), self.domains["test_b"].test_batch(n)

  def evaluate(self, model, max_examples=None):
    """{"cycle_l1_a": mean |x_a - x_aba|, "cycle_l1_b": mean |x_b - x_bab|} over the first
    `max_examples` test images of each domain (default 16)."""
    count = 16 if max_examples is None else max_examples
    results = {}
    for d, there, back in (("a", "a2b", "b2a"), ("b", "b2a", "a2b")):
      images = self.domains[f"test_{d}"].test_batch(count)
      shape = getattr(self, f"image_shape_{d}")
      other = self.image_shape_b if d == "a" else self.image_shape_a
      total, seen = 0.0, 0
      for start in range(0, int(images.shape[0]), self.eval_batch_size):
        batch = images[start:start + self.eval_batch_size]
        translated = _translator_for_shape(self._translators, model, there, shape)(batch)
        cycled = _translator_for_shape(self._translators, model, back, other)(translated)
        total += float(tf.reduce_sum(tf.reduce_mean(tf.abs(batch - cycled), axis=[1, 2, 3])))
        seen += int(batch.shape[0])
      results[f"cycle_l1_{d}"] = total / max(seen, 1)
    return results


class ImageFolderTask(UnpairedImageTask):
  """Unpaired image folders or list files (unit_tf.data.images)."""

  def __init__(self, sources, channels_a, channels_b, preprocessing, verify=True):
    domains = image_data.load_domains(sources, channels_a, channels_b, preprocessing, verify)
    super().__init__(domains, preprocessing.height, preprocessing.width)


class CelebATask(UnpairedImageTask):
  """CelebA faces with (domain a) and without (domain b) an attribute (unit_tf.data.celeba)."""

  def __init__(self, attribute, data_dir=None, preprocessing=None):
    preprocessing = preprocessing or image_data.Preprocessing(
        celeba.CROP_SIZE, celeba.CROP_SIZE, celeba.LOAD_SIZE)
    super().__init__(celeba.load_domains(attribute, data_dir, preprocessing),
                     preprocessing.height, preprocessing.width)

  def train_dataset(self, batch_size, seed, start_batch=0):
    return celeba.paired_stream(self.domains["train_a"], self.domains["train_b"], batch_size,
                                seed, start_batch)
