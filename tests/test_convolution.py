"""core.convolution: the valid convolution with forward-convolution gradients is TensorFlow's
convolution, forward and backward (input and filter gradients), on every path it takes."""

import numpy as np
import pytest
import tensorflow as tf

from unit_tf import hardware
from unit_tf.core import convolution

CASES = [  # (input shape, kernel shape, stride): the paths of conv2d_valid
    ((1, 22, 22, 16), (7, 7, 16, 3), 1),   # input gradient as a forward convolution
    ((2, 12, 12, 3), (7, 7, 3, 8), 1),     # few input channels: TensorFlow's input gradient
    ((1, 5, 20, 16), (5, 5, 16, 8), 1),    # a thin strip: TensorFlow's input gradient
    ((2, 18, 18, 4), (4, 4, 4, 8), 2),     # stride 2 through space_to_depth
    ((1, 19, 19, 4), (4, 4, 4, 8), 2),     # odd size: TensorFlow's strided convolution
    ((3, 20, 20, 16), (3, 3, 16, 4), 1),   # a batch of 3 stacked in the filter gradient
    ((2, 21, 17, 5), (3, 3, 5, 4), 1),     # a batch of 2, a rectangular image
]


@pytest.mark.parametrize("x_shape,k_shape,stride", CASES)
def test_forward_gradients_are_tensorflows(x_shape, k_shape, stride):
  rng = np.random.default_rng(0)
  x = tf.constant(rng.normal(size=x_shape), tf.float32)
  kernel = tf.constant(rng.normal(size=k_shape) * 0.1, tf.float32)
  bias = tf.constant(rng.normal(size=k_shape[-1:]), tf.float32)
  weights = tf.constant(rng.normal(size=x_shape[:1] + tuple(  # a dy for each example
      (s - k_shape[0]) // stride + 1 for s in x_shape[1:3]) + (k_shape[3],)), tf.float32)

  def value_and_grads(fn):
    with tf.GradientTape() as tape:
      tape.watch([x, kernel, bias])
      y = fn(x, kernel, bias)
      loss = tf.reduce_sum(y * weights)  # a loss whose dy is not constant
    return [y] + tape.gradient(loss, [x, kernel, bias])

  ours = value_and_grads(
      lambda a, b, c: convolution.conv2d_valid(a, b, c, stride, use_forward_gradients=True))
  theirs = value_and_grads(lambda a, b, c: tf.nn.bias_add(tf.nn.conv2d(a, b, stride, "VALID"), c))
  names = ("output", "input gradient", "filter gradient", "bias gradient")
  for name, a, b in zip(names, ours, theirs):
    assert a.shape == b.shape, name
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4, err_msg=name)


def test_space_to_depth_kernel_is_the_strided_convolution():
  rng = np.random.default_rng(1)
  x = tf.constant(rng.normal(size=(1, 10, 10, 3)), tf.float32)
  kernel = tf.constant(rng.normal(size=(4, 4, 3, 5)), tf.float32)
  direct = tf.nn.conv2d(x, kernel, 2, "VALID")
  blocked = tf.nn.conv2d(tf.nn.space_to_depth(x, 2), convolution._space_to_depth_kernel(kernel),
                         1, "VALID")
  np.testing.assert_allclose(blocked.numpy(), direct.numpy(), rtol=1e-5, atol=1e-5)


def test_without_a_bias_and_on_tensorflows_path():
  x = tf.random.normal([1, 9, 9, 2], seed=2)
  kernel = tf.random.normal([3, 3, 2, 4], seed=3)
  for use in (True, False):
    np.testing.assert_allclose(
        convolution.conv2d_valid(x, kernel, use_forward_gradients=use).numpy(),
        tf.nn.conv2d(x, kernel, 1, "VALID").numpy(), rtol=1e-5, atol=1e-5)


def test_used_exactly_with_eigen_kernels():
  assert convolution.forward_gradients() == (hardware.onednn_enabled() is False)
