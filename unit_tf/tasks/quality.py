"""A task whose evaluation adds quality metrics (FID / KID, translation accuracy) to its own, so
that the training loop logs them to TensorBoard (`eval/<key>`) every eval_every steps."""

from unit_tf.tasks.base import Task


class WithQualityMetrics(Task):
  """`task` unchanged, except that evaluate() returns task.evaluate(...) merged with
  extra(model, max_examples), a {metric name: float} function (e.g. a bound
  `ToyTask.translation_metrics` or `UnpairedImageTask.quality_metrics`)."""

  def __init__(self, task, extra):
    self.task = task
    self.extra = extra
    self.image_shape_a = task.image_shape_a
    self.image_shape_b = task.image_shape_b

  def train_dataset(self, batch_size, seed, start_batch=0):
    return self.task.train_dataset(batch_size, seed, start_batch)

  def visualization_batch(self, n=8):
    return self.task.visualization_batch(n)

  def evaluate(self, model, max_examples=None):
    results = dict(self.task.evaluate(model, max_examples))
    results.update(self.extra(model, max_examples))
    return results

  def describe(self):
    return self.task.describe()
