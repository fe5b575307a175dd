"""Unpaired natural-image tasks: image folders or list files, and CelebA attribute domains."""

import tensorflow as tf

from unit_tf.data import celeba
from unit_tf.data import images as image_data
from unit_tf.metrics import quality
from unit_tf.tasks.base import Task


def _translator_for_shape(cache, model, direction, shape):
  """A tf.function translating [N, H, W, C] float images, traced once per model/direction/shape."""
  key = (id(model), direction, tuple(shape))
  if key not in cache:
    cache[key] = tf.function(  # float32 out whatever the compute precision
        lambda images: tf.cast(model.translate(images, direction), tf.float32),
        input_signature=[tf.TensorSpec([None] + list(shape), tf.float32)])
  return cache[key]


class UnpairedImageTask(Task):
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
    """Up to n test images of each domain, as many of each (the grid's rows must match)."""
    images_a = self.domains["test_a"].test_batch(n)
    images_b = self.domains["test_b"].test_batch(n)
    count = min(int(images_a.shape[0]), int(images_b.shape[0]))
    return images_a[:count], images_b[:count]

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


  def test_count(self, domain):
    return len(self.domains[f"test_{domain}"].paths)

  def quality_metrics(self, model, extractor, metrics=quality.METRICS, kid_subsets=100,
                      kid_subset_size=1000, max_examples=None):
    """{fid_a2b, kid_a2b, kid_std_a2b, count_translated_a2b, count_real_b, and b2a} over every
    test image (`max_examples` is ignored: FID and KID need the whole set; see
    unit_tf.metrics.quality), translated at the training crop size."""
    del max_examples
    results = {}
    for direction, source, target in (("a2b", "a", "b"), ("b2a", "b", "a")):
      shape = getattr(self, f"image_shape_{source}")

      def batches(domain):
        paths = self.domains[f"test_{domain}"].paths
        for start in range(0, len(paths), self.eval_batch_size):
          yield tf.stack([self.domains[f"test_{domain}"].load(p)
                          for p in paths[start:start + self.eval_batch_size]])

      scores = quality.translation_quality(
          _translator_for_shape(self._translators, model, direction, shape), batches(source),
          batches(target), extractor, metrics, kid_subsets, kid_subset_size)
      results.update(quality.named_by_direction(scores, direction, target))
    return results


class ImageFolderTask(UnpairedImageTask):
  """Unpaired image folders or list files (unit_tf.data.images)."""

  def __init__(self, sources, channels_a, channels_b, preprocessing, verify=True,
               max_pixels=image_data.DEFAULT_MAX_PIXELS):
    domains = image_data.load_domains(sources, channels_a, channels_b, preprocessing, verify,
                                      max_pixels=max_pixels)
    super().__init__(domains, preprocessing.height, preprocessing.width)

  def describe(self):
    return {"task": "images"}


class CelebATask(UnpairedImageTask):
  """CelebA faces with (domain a) and without (domain b) an attribute (unit_tf.data.celeba)."""

  def __init__(self, attribute, data_dir=None, preprocessing=None):
    preprocessing = preprocessing or image_data.Preprocessing(
        celeba.CROP_SIZE, celeba.CROP_SIZE, celeba.LOAD_SIZE)
    super().__init__(celeba.load_domains(attribute, data_dir, preprocessing),
                     preprocessing.height, preprocessing.width)
    self.attribute = attribute

  def describe(self):
    return {"task": "celeba", "attribute": self.attribute}

  def train_dataset(self, batch_size, seed, start_batch=0):
    return celeba.paired_stream(self.domains["train_a"], self.domains["train_b"], batch_size,
                                seed, start_batch)
