"""The MNIST colour/edge toy task of Appendix B."""

import numpy as np
import tensorflow as tf

from unit_tf import metrics
from unit_tf.data import toy
from unit_tf.metrics import digits as digit_metrics
from unit_tf.tasks.base import Task


class ToyTask(Task):
  """The MNIST colour/edge toy task of Appendix B; metrics toy_distance_a2b / toy_distance_b2a."""

  image_shape_a = (toy.IMAGE_SIZE, toy.IMAGE_SIZE, 3)
  image_shape_b = (toy.IMAGE_SIZE, toy.IMAGE_SIZE, 3)

  def __init__(self, mnist, eval_batch_size=500):
    self.domains = toy.ToyDomains(mnist)
    self.eval_batch_size = eval_batch_size
    self._translators = {}

  def describe(self):
    return {"task": "toy"}

  def train_dataset(self, batch_size, seed, start_batch=0):
    return self.domains.train_dataset(batch_size, seed, start_batch)

  def visualization_batch(self, n=8):
    images_a, images_b, _, _ = self.domains.test_batch(0, n)
    return images_a, images_b

  def _translator(self, model, direction):
    key = (id(model), direction)
    if key not in self._translators:
      self._translators[key] = tf.function(
          lambda images: tf.cast(model.translate(images, direction), tf.float32),
          input_signature=[tf.TensorSpec([None, toy.IMAGE_SIZE, toy.IMAGE_SIZE, 3], tf.float32)])
    return self._translators[key]

  def evaluate(self, model, max_examples=None):
    """Mean toy distance of each direction the model translates over the first `max_examples`
    test digits (all if None); a direction it does not translate (Table 5's one-sided ablations)
    has no metric."""
    total = len(self.domains.test_digits)
    count = total if max_examples is None else min(max_examples, total)
    sums = {d: 0.0 for d in ("a2b", "b2a") if d in model.translation_directions}
    for start in range(0, count, self.eval_batch_size):
      stop = min(start + self.eval_batch_size, count)
      images_a, images_b, truth_a2b, truth_b2a = self.domains.test_batch(start, stop)
      for direction, images, truth in (("a2b", images_a, truth_a2b),
                                       ("b2a", images_b, truth_b2a)):
        if direction not in sums:
          continue
        translated = self._translator(model, direction)(tf.convert_to_tensor(images))
        sums[direction] += float(np.sum(metrics.toy_distance(translated, truth)))
    return {f"toy_distance_{d}": s / count for d, s in sums.items()}

  def translation_metrics(self, model, cache_dir, max_examples=None, classifier_epochs=3):
    """Does the digit survive translation (unit_tf.metrics.digits)? For each direction:
    translation_accuracy_<dir> (the target domain's classifier on the translated test digits),
    classifier_fd_<dir> (Frechet distance on its features, translations vs real target test
    images) and classifier_accuracy_<target> (that classifier on real target test images, the
    ceiling); count (test digits per direction). The classifiers are trained on each domain's
    training half once and cached in `cache_dir`."""
    total = len(self.domains.test_digits)
    count = total if max_examples is None else min(max_examples, total)
    images_a, images_b, _, _ = self.domains.test_batch(0, count)
    test = {"a": np.asarray(images_a), "b": np.asarray(images_b)}
    labels = self.domains.test_labels[:count]
    results = {"count": count}
    for direction, source, target in (("a2b", "a", "b"), ("b2a", "b", "a")):
      if direction not in model.translation_directions:
        continue
      train_images, train_labels = self.domains.classifier_training_set(target)
      classifier, _, _ = digit_metrics.cached_classifier(
          cache_dir, f"toy_{target}", train_images, train_labels, epochs=classifier_epochs)
      scores = digit_metrics.translation_metrics(
          self._translator(model, direction), classifier, test[source], labels, test[target],
          labels, batch_size=self.eval_batch_size)
      results[f"translation_accuracy_{direction}"] = scores["translation_accuracy"]
      results[f"classifier_fd_{direction}"] = scores["classifier_fd"]
      results[f"classifier_accuracy_{target}"] = scores["classifier_accuracy"]
    return results
