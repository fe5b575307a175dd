"""Tasks: what the training loop trains on and how it scores a model.

ToyTask (Appendix B, MNIST colour/edges), ImageFolderTask (unpaired folders or list files),
CelebATask (CelebA attribute domains) and DomainAdaptationTask (digits, Appendix C).

A task provides
  image_shape_a, image_shape_b          [H, W, C] of each domain
  train_dataset(batch_size, seed, start_batch) -> tf.data of (images_a, images_b[, labels_a]),
                                           stateless in the batch index so that a resumed run
                                           sees the batches an uninterrupted run would have
  visualization_batch(n) -> (images_a, images_b), fixed test images for TensorBoard grids
  evaluate(model, max_examples) -> {metric name: float}
  describe() (optional) -> dict recorded as the "data" section of the run's config.json
"""

import numpy as np
import tensorflow as tf

from unit_tf import metrics
from unit_tf.data import celeba
from unit_tf.data import digits
from unit_tf.data import images as image_data
from unit_tf.data import stream
from unit_tf.data import toy
from unit_tf.data.errors import DataError


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


class DomainAdaptationTask:
  """Unsupervised domain adaptation between digit sets (Appendix C, Tables 6-9).

  Domain a is the labelled *source*, domain b the unlabelled *target*. Training batches are
  (images_a, images_b, labels_a): the target's training labels are dropped when the task is built
  and never reach the model. Metrics: target_accuracy (the model's `classify(images, "b")` on the
  target test set, i.e. D_b's class head) and source_accuracy (D_a's head on the source test set).

  Args:
    source, target: {x_train, y_train, x_test, y_test} (unit_tf.data.digits.load_domain).
    image_size: both domains are resized to image_size x image_size (unit_tf.data.digits.prepare).
    channels_a, channels_b: channels of the source and target images.
    names: (source name, target name), recorded in the run's config.json.
    usps_split: which USPS split the arrays hold ("esl" or "random", see
      unit_tf.data.digits.random_split), recorded in config.json for evaluation.
  """

  def __init__(self, source, target, image_size=32, channels_a=1, channels_b=1,
               names=("source", "target"), eval_batch_size=500, usps_split="esl"):
    self.names = tuple(names)
    self.usps_split = usps_split  # recorded only: the caller has split the arrays already
    self.image_shape_a = (image_size, image_size, channels_a)
    self.image_shape_b = (image_size, image_size, channels_b)
    self.train_a = digits.prepare(source["x_train"], image_size, channels_a)
    self.train_labels_a = np.asarray(source["y_train"], np.int64)
    self.train_b = digits.prepare(target["x_train"], image_size, channels_b)
    self.test_a = digits.prepare(source["x_test"], image_size, channels_a)
    self.test_labels_a = np.asarray(source["y_test"], np.int64)
    self.test_b = digits.prepare(target["x_test"], image_size, channels_b)
    self.test_labels_b = np.asarray(target["y_test"], np.int64)
    for name, labels in (("source train", self.train_labels_a), ("source test",
                                                                 self.test_labels_a),
                         ("target test", self.test_labels_b)):
      if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{name} labels must be digits 0-9, got {labels.min()}..{labels.max()}")
    self.eval_batch_size = eval_batch_size
    self._classifiers = {}

  def describe(self):
    """What config.json records about the data (evaluate.py rebuilds the task from it)."""
    described = {"task": "uda", "source": self.names[0], "target": self.names[1],
                 "image_size": self.image_shape_a[0]}
    if self.usps_split != "esl":  # earlier runs' config.json have no key: the ESL split
      described["usps_split"] = self.usps_split
    return described

  def train_dataset(self, batch_size, seed, start_batch=0):
    """Infinite (images_a [B, S, S, Ca], images_b [B, S, S, Cb], labels_a [B]) in [-1, 1],
    stateless in the batch index."""
    for name, images in (("source", self.train_a), ("target", self.train_b)):
      if batch_size > len(images):
        raise ValueError(f"batch of {batch_size} is larger than the {len(images)} {name} "
                         "training images")
    images_a, labels_a = tf.constant(self.train_a), tf.constant(self.train_labels_a)
    images_b = tf.constant(self.train_b)

    def make_batch(i):
      index_a = stream.shuffled_indices(i, batch_size, len(self.train_a), seed * 2)
      index_b = stream.shuffled_indices(i, batch_size, len(self.train_b), seed * 2 + 1)
      return (_to_unit_range(tf.gather(images_a, index_a)),
              _to_unit_range(tf.gather(images_b, index_b)), tf.gather(labels_a, index_a))

    ds = tf.data.Dataset.range(start_batch, np.iinfo(np.int64).max)
    ds = ds.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)

  def visualization_batch(self, n=8):
    return (_to_unit_range(tf.constant(self.test_a[:n])),
            _to_unit_range(tf.constant(self.test_b[:n])))

  def _classifier(self, model, domain):
    key = (id(model), domain)
    if key not in self._classifiers:
      shape = self.image_shape_a if domain == "a" else self.image_shape_b
      self._classifiers[key] = tf.function(
          lambda images: model.classify(_to_unit_range(images), domain),
          input_signature=[tf.TensorSpec([None] + list(shape), tf.uint8)])
    return self._classifiers[key]

  def accuracy(self, model, domain, max_examples=None):
    """Fraction of test images of `domain` whose argmax class is the label."""
    images, labels = ((self.test_a, self.test_labels_a) if domain == "a" else
                      (self.test_b, self.test_labels_b))
    count = len(images) if max_examples is None else min(max_examples, len(images))
    correct = 0
    for start in range(0, count, self.eval_batch_size):
      stop = min(start + self.eval_batch_size, count)
      logits = self._classifier(model, domain)(tf.constant(images[start:stop]))
      correct += int(np.sum(np.argmax(logits.numpy(), axis=-1) == labels[start:stop]))
    return correct / max(count, 1)

  def evaluate(self, model, max_examples=None):
    """{"target_accuracy", "source_accuracy"} on the first `max_examples` test images (all if
    None) of each domain."""
    return {"target_accuracy": self.accuracy(model, "b", max_examples),
            "source_accuracy": self.accuracy(model, "a", max_examples)}


def _to_unit_range(images_uint8):
  return tf.cast(images_uint8, tf.float32) / 127.5 - 1.0
