"""The domain-adaptation task between digit sets (Appendix C, Tables 6-9)."""

import numpy as np
import tensorflow as tf

from unit_tf.core.pixels import to_float
from unit_tf.data import digits
from unit_tf.data import stream
from unit_tf.data.errors import DataError
from unit_tf.metrics import digits as digit_metrics
from unit_tf.tasks.base import Task


class DomainAdaptationTask(Task):
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
    self._translators = {}

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
      return (to_float(tf.gather(images_a, index_a)),
              to_float(tf.gather(images_b, index_b)), tf.gather(labels_a, index_a))

    ds = tf.data.Dataset.range(start_batch, np.iinfo(np.int64).max)
    ds = ds.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)

  def visualization_batch(self, n=8):
    return (to_float(tf.constant(self.test_a[:n])),
            to_float(tf.constant(self.test_b[:n])))

  def _classifier(self, model, domain):
    key = (id(model), domain)
    if key not in self._classifiers:
      shape = self.image_shape_a if domain == "a" else self.image_shape_b
      self._classifiers[key] = tf.function(
          lambda images: model.classify(to_float(images), domain),
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

  def _translator(self, model, direction):
    key = (id(model), direction)
    if key not in self._translators:
      shape = self.image_shape_a if direction == "a2b" else self.image_shape_b
      self._translators[key] = tf.function(
          lambda images: tf.cast(model.translate(images, direction), tf.float32),
          input_signature=[tf.TensorSpec([None] + list(shape), tf.float32)])
    return self._translators[key]

  def translation_metrics(self, model, cache_dir, target_train, max_examples=None,
                          classifier_epochs=3):
    """translation_accuracy_<dir>, classifier_fd_<dir>, classifier_accuracy_<domain> and
    count_<dir> (see unit_tf.metrics.digits) in both directions.

    The a2b metric needs a classifier of the *target* domain, trained on the target's labelled
    training images `target_train` = (uint8 images prepared like the task's, labels). The task
    itself never keeps those labels: they reach only this evaluation classifier (cached in
    `cache_dir`), never the model. b2a uses a classifier of the source training set."""
    target_images, target_labels = target_train
    if tuple(np.shape(target_images)[1:]) != tuple(self.image_shape_b):
      raise ValueError(f"target training images are {np.shape(target_images)[1:]}, the task's "
                       f"are {self.image_shape_b}")
    sets = {"a": (self.test_a, self.test_labels_a, self.train_a, self.train_labels_a),
            "b": (self.test_b, self.test_labels_b, target_images, target_labels)}
    results = {}
    for direction, source, target in (("a2b", "a", "b"), ("b2a", "b", "a")):
      test_images, test_labels = sets[source][:2]
      count = len(test_images) if max_examples is None else min(max_examples, len(test_images))
      classifier, _, _ = digit_metrics.cached_classifier(
          cache_dir, f"{self.names[target == 'b']}_{target}", sets[target][2], sets[target][3],
          epochs=classifier_epochs)
      scores = digit_metrics.translation_metrics(
          self._translator(model, direction), classifier, test_images[:count],
          test_labels[:count], sets[target][0], sets[target][1],
          batch_size=self.eval_batch_size)
      results[f"translation_accuracy_{direction}"] = scores["translation_accuracy"]
      results[f"classifier_fd_{direction}"] = scores["classifier_fd"]
      results[f"classifier_accuracy_{target}"] = scores["classifier_accuracy"]
      results[f"count_{direction}"] = count
    return results
