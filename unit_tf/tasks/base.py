"""The task protocol: what the training loop trains on and how it scores a model."""

import abc


class Task(abc.ABC):
  """A task provides (every member is required):

    image_shape_a, image_shape_b          [H, W, C] of each domain (attributes)
    train_dataset(batch_size, seed, start_batch) -> tf.data of (images_a, images_b, *extras),
                                           stateless in the batch index so that a resumed run
                                           sees the batches an uninterrupted run would have;
                                           extras (e.g. source labels) go to the model's
                                           train_step as they are
    visualization_batch(n) -> (images_a, images_b), fixed test images for TensorBoard grids
    evaluate(model, max_examples) -> {metric name: float}
    describe() -> dict recorded as the "data" section of the run's config.json (its "task" key
                                           names the task; evaluate.py rebuilds it from there)
  """

  image_shape_a = None
  image_shape_b = None

  @abc.abstractmethod
  def train_dataset(self, batch_size, seed, start_batch=0):
    """The infinite, stateless training stream (see the class docstring)."""

  @abc.abstractmethod
  def visualization_batch(self, n=8):
    """(images_a, images_b): n fixed test images of each domain, in [-1, 1]."""

  @abc.abstractmethod
  def evaluate(self, model, max_examples=None):
    """{metric name: float} of `model` on the task's test data."""

  @abc.abstractmethod
  def describe(self):
    """What config.json records about the data ({"task": name, ...})."""
