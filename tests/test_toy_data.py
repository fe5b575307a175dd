"""The toy domains (colours, edges, disjoint halves), the stateless stream, and the metric."""

import numpy as np
import tensorflow as tf

from unit_tf import metrics
from unit_tf import tasks
from unit_tf.data import toy


def test_edge_map_of_a_square_is_its_ring():
  m = np.zeros((1, 8, 8), np.float32)
  m[0, 2:6, 2:6] = 1.0
  e = toy.edge_map(m)[0]
  # morphological gradient with a 3x3 window: the square's inner and outer one-pixel borders
  expected = np.zeros((8, 8), np.float32)
  expected[1:7, 1:7] = 1.0
  expected[3:5, 3:5] = 0.0
  np.testing.assert_array_equal(e, expected)


def test_pad_to_32_scales_and_centres():
  x = np.full((1, 28, 28), 255, np.uint8)
  p = toy.pad_to_32(x)
  assert p.shape == (1, 32, 32) and p[0, 2:30, 2:30].min() == 1.0
  assert p[0, :2].max() == 0.0 and p[0, :, 30:].max() == 0.0


def test_halves_are_disjoint_and_equal(mnist_arrays):
  domains = toy.ToyDomains(mnist_arrays)
  a, b = set(domains.train_indices_a), set(domains.train_indices_b)
  assert len(a) == len(b) == len(mnist_arrays["x_train"]) // 2
  assert not a & b
  # the split seed is fixed: a second construction gives the same halves
  np.testing.assert_array_equal(toy.ToyDomains(mnist_arrays).train_indices_a,
                                domains.train_indices_a)


def _channels_on(images):
  """Per image, which RGB channels carry ink (images in [-1, 1])."""
  return [tuple(np.flatnonzero((img > -1.0).any(axis=(0, 1)))) for img in images]


def test_domain_colours(mnist_arrays):
  domains = toy.ToyDomains(mnist_arrays)
  images_a, images_b = next(iter(domains.train_dataset(32, seed=0)))
  on_a, on_b = _channels_on(images_a.numpy()), _channels_on(images_b.numpy())
  assert set(on_a) <= {(0,), (1,), (2,)} and len(set(on_a)) > 1  # red, green, blue
  assert set(on_b) <= {(1, 2), (0, 2), (0, 1)} and len(set(on_b)) > 1  # cyan, magenta, yellow
  assert images_a.numpy().min() >= -1.0 and images_a.numpy().max() <= 1.0


def test_domain_b_is_edges_of_its_half(mnist_arrays):
  domains = toy.ToyDomains(mnist_arrays)
  digits = toy.pad_to_32(mnist_arrays["x_train"][domains.train_indices_b])
  np.testing.assert_allclose(domains.train_b / 255.0, toy.edge_map(digits), atol=1 / 255)


def test_stream_is_stateless_in_the_batch_index(mnist_arrays):
  domains = toy.ToyDomains(mnist_arrays)
  stream = iter(domains.train_dataset(24, seed=5))
  batches = [next(stream) for _ in range(4)]  # 96 images: crosses an epoch of 32
  resumed = next(iter(domains.train_dataset(24, seed=5, start_batch=3)))
  np.testing.assert_array_equal(batches[3][0].numpy(), resumed[0].numpy())
  np.testing.assert_array_equal(batches[3][1].numpy(), resumed[1].numpy())
  other_seed = next(iter(domains.train_dataset(24, seed=6)))
  assert not np.array_equal(batches[0][0].numpy(), other_seed[0].numpy())


def test_each_epoch_visits_every_image_once(mnist_arrays):
  domains = toy.ToyDomains(mnist_arrays)
  n = len(domains.train_a)
  images_a, _ = next(iter(domains.train_dataset(n, seed=0)))
  seen = tf.reduce_max(images_a, axis=-1).numpy()  # intensity in [-1, 1]
  expected = domains.train_a.astype(np.float32) / 255.0 * 2 - 1
  key = lambda arr: sorted(x.tobytes() for x in np.round(arr, 4))
  assert key(seen) == key(expected)


def test_metric_is_zero_for_ground_truth_and_large_for_identity(mnist_arrays):
  domains = toy.ToyDomains(mnist_arrays)
  images_a, images_b, truth_a2b, truth_b2a = domains.test_batch(0, 16)
  perfect = toy.colourize(truth_a2b, np.zeros(16, np.int32), toy.COLOURS_B)
  np.testing.assert_allclose(metrics.toy_distance(perfect, truth_a2b).numpy(), 0.0, atol=1e-5)
  identity = metrics.toy_distance(images_a, truth_a2b).numpy()
  assert identity.mean() > 3.0
  # by hand: one pixel off by 1 and one by 0.5 -> sqrt(1.25)
  truth = np.zeros((1, 2, 2), np.float32)
  translated = np.full((1, 2, 2, 3), -1.0, np.float32)
  translated[0, 0, 0, 1] = 1.0
  translated[0, 1, 1, 2] = 0.0
  np.testing.assert_allclose(metrics.toy_distance(translated, truth).numpy(), [np.sqrt(1.25)])


class _GroundTruthTranslator:
  """Knows the toy task's true translation: a->b is the edge map of the input's intensity;
  b->a looks the digit up from its edge map."""

  translation_directions = ("a2b", "b2a")

  def __init__(self, domains):
    self.digit_of_edges = {e.tobytes(): d for e, d in zip(domains.test_edges,
                                                         domains.test_digits)}

  def translate(self, images, direction):
    m = toy.intensity(images).numpy()
    if direction == "a2b":
      out = toy.edge_map(m)
      palette = toy.COLOURS_B
    else:
      keys = np.rint(m * 255).astype(np.uint8)
      out = np.stack([self.digit_of_edges[k.tobytes()] for k in keys]).astype(np.float32) / 255
      palette = toy.COLOURS_A
    return toy.colourize(out, np.zeros(len(out), np.int32), palette)


class _Identity:

  translation_directions = ("a2b", "b2a")

  def translate(self, images, direction):
    del direction
    return images


def test_task_evaluate_ground_truth_zero_identity_large(mnist_arrays):
  task = tasks.ToyTask(mnist_arrays, eval_batch_size=5)  # several batches, one partial
  task._translator = lambda model, direction: (  # pylint: disable=protected-access
      lambda images: model.translate(images, direction))
  perfect = task.evaluate(_GroundTruthTranslator(task.domains))
  assert perfect["toy_distance_a2b"] < 0.05 and perfect["toy_distance_b2a"] < 0.05
  identity = task.evaluate(_Identity())
  assert identity["toy_distance_a2b"] > 3.0 and identity["toy_distance_b2a"] > 3.0
  assert task.evaluate(_Identity(), max_examples=7).keys() == identity.keys()
  one_sided = _Identity()
  one_sided.translation_directions = ("b2a",)  # Table 5's one-sided rows translate one way
  assert task.evaluate(one_sided) == {"toy_distance_b2a": identity["toy_distance_b2a"]}
