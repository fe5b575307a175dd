"""A "valid" 2-D convolution whose gradients run as forward convolutions.

    y = conv_valid(x, W, stride s)                 y[n, p, o] = sum_{t, i} x[n, s p + t, i] W[t, i, o]
    dL/dx = conv_valid(pad_{k-1}(dy), W')          W'[t, o, i] = W[k - 1 - t, i, o]  (s = 1)
    dL/dW = conv_valid(x^T, dy^T)^T                x^T[i, (n, h), w, 0] = x[n, h, w, i],
                                                   dy^T[(n, h), w, 0, o] = dy[n, h, w, o]

(the filter gradient contracts over the batch and the output positions: a convolution of the
input, its channels taken as the batch and its examples stacked along the height, with dy as the
kernel, stacked the same way with k - 1 zero rows after each example, `_filter_gradient`).
A stride-2 convolution with an even kernel on an even-sized input is the stride-1 convolution of
`space_to_depth(x, 2)` with the kernel rearranged to (k/2, k/2, 4 i, o), so it gets the same
gradients.

Why: TensorFlow's Eigen kernels for `Conv2DBackpropInput` / `Conv2DBackpropFilter` are far slower
than its forward convolution for some shapes. Measured 2026-12-04 on a 2-core AMD EPYC (Zen 3,
AVX2 only, `TF_ENABLE_ONEDNN_OPTS=0`), the release network's last convolution (7x7, 64 -> 3) at
128x128: 139 ms for the input gradient against 4.5 ms as a forward convolution, 229 ms for the
filter gradient against 24 ms; a 3x3 256 -> 256 convolution at 64x64: 61 -> 41 ms and 85 -> 45
ms (README, "Speed on CPUs"); the batch stacking and the one-reversal flip below made the whole
NIPS step at 128 another 1.05x faster (in-process A/B, same CPU). The input gradient stays
TensorFlow's where its forward form is slower (few input channels, thin outputs). The values
are the same function (summation order aside: `tests/test_convolution.py` compares them with
TensorFlow's gradients).

`forward_gradients()` says whether to use it: with TensorFlow's Eigen kernels (oneDNN off), the
case measured. Everything else keeps TensorFlow's own gradients.
"""

import functools

import tensorflow as tf

# The input gradient as a forward convolution only where that was faster on Eigen (measured shapes
# in the module docstring): enough input channels and output positions.
_MIN_CHANNELS_FOR_INPUT_GRADIENT = 16
_MIN_SIZE_FOR_INPUT_GRADIENT = 16


@functools.lru_cache(maxsize=None)
def forward_gradients():
  """True when TensorFlow runs its Eigen convolution kernels (oneDNN off)."""
  from unit_tf import hardware  # pylint: disable=g-import-not-at-top
  return hardware.onednn_enabled() is False


def _filter_gradient(x, dy, rows):
  """dL/dW for a `rows`-tall kernel. The batch is stacked along the height, so that the input
  needs only a 2-D transpose (a 4-D `tf.transpose` to [i, h, w, n] is several times slower on
  Eigen: 6.7 against 1.3 ms at 1 x 128 x 128 x 64): x^T is [i, n h, w, 1] and dy^T is
  [n (h' + rows - 1) - (rows - 1), w', 1, o], each example's dy followed by rows - 1 zero rows,
  so that at every tap offset example m's dy rows meet example m's x rows only."""
  shape = tf.shape(x)
  n, height, width, channels = shape[0], shape[1], shape[2], shape[3]
  x_t = tf.reshape(tf.transpose(tf.reshape(x, [-1, channels])), [channels, n * height, width, 1])
  dy_shape = tf.shape(dy)
  if x.shape[0] == 1:  # one example (the NIPS step's batch): no gap, no copy
    gapped = tf.reshape(dy, [dy_shape[1], dy_shape[2], 1, dy_shape[3]])
  else:
    gapped = tf.pad(dy, [[0, 0], [0, rows - 1], [0, 0], [0, 0]])
    gapped = tf.reshape(gapped, [n * height, dy_shape[2], 1, dy_shape[3]])
    gapped = gapped[:n * height - (rows - 1)]
  # [i, n h, w, 1] (*) [n h - rows + 1, w', 1, o] -> [i, rows, k, o] -> [rows, k, i, o]
  return tf.transpose(tf.nn.conv2d(x_t, gapped, 1, "VALID"), [1, 2, 0, 3])


def _flipped(kernel):
  """W'[t, o, i] = W[k - 1 - t, i, o]: both spatial flips as one reversal of the flattened taps
  (a [::-1, ::-1] slice took 7.0 ms for a 3x3 256 -> 256 kernel on Eigen, this 1.6 ms)."""
  rows, cols, cin, cout = kernel.shape
  taps = tf.reverse(tf.reshape(kernel, [rows * cols, cin, cout]), [0])
  return tf.reshape(tf.transpose(taps, [0, 2, 1]), [rows, cols, cout, cin])


def _input_gradient(x, kernel, dy):
  rows, cols = kernel.shape[0], kernel.shape[1]
  if (kernel.shape[2] >= _MIN_CHANNELS_FOR_INPUT_GRADIENT
      and dy.shape[1] is not None and dy.shape[2] is not None
      and min(dy.shape[1], dy.shape[2]) >= _MIN_SIZE_FOR_INPUT_GRADIENT):
    flipped = _flipped(kernel)
    padded = tf.pad(dy, [[0, 0], [rows - 1, rows - 1], [cols - 1, cols - 1], [0, 0]])
    return tf.nn.conv2d(padded, flipped, 1, "VALID")
  return tf.raw_ops.Conv2DBackpropInput(input_sizes=tf.shape(x), filter=kernel, out_backprop=dy,
                                        strides=[1, 1, 1, 1], padding="VALID")


@tf.custom_gradient
def _conv_stride1(x, kernel, bias):
  # the bias inside, so that TensorFlow can still fuse convolution and bias into one kernel
  y = tf.nn.bias_add(tf.nn.conv2d(x, kernel, 1, "VALID"), bias)

  def grad(dy):
    return (_input_gradient(x, kernel, dy), _filter_gradient(x, dy, kernel.shape[0]),
            tf.reduce_sum(dy, axis=[0, 1, 2]))

  return y, grad


def _space_to_depth_kernel(kernel):
  """(k, k, i, o) -> (k/2, k/2, 4 i, o) for the stride-1 convolution of space_to_depth(x, 2):
  tap (2 a + r, 2 b + c) of input channel i goes to tap (a, b) of channel (2 r + c) * i_count + i
  (space_to_depth's channel order)."""
  k, _, cin, cout = kernel.shape
  kernel = tf.reshape(kernel, [k // 2, 2, k // 2, 2, cin, cout])
  kernel = tf.transpose(kernel, [0, 2, 1, 3, 4, 5])
  return tf.reshape(kernel, [k // 2, k // 2, 4 * cin, cout])


def conv2d_valid(x, kernel, bias=None, strides=1, use_forward_gradients=None):
  """tf.nn.conv2d(x, kernel, strides, "VALID") [+ bias] (NHWC, square strides 1 or 2), with the
  gradients above when `use_forward_gradients` (default: `forward_gradients()`) and the shapes
  allow; TensorFlow's own ops otherwise."""
  if use_forward_gradients is None:
    use_forward_gradients = forward_gradients()
  k = kernel.shape[0]
  height, width = x.shape[1], x.shape[2]
  if use_forward_gradients and x.shape.rank == 4:
    zero = tf.zeros([kernel.shape[-1]], x.dtype) if bias is None else bias
    if strides == 1:
      return _conv_stride1(x, kernel, zero)
    if (strides == 2 and k == kernel.shape[1] and k % 2 == 0 and height is not None
        and width is not None and height % 2 == 0 and width % 2 == 0):
      return _conv_stride1(tf.nn.space_to_depth(x, 2), _space_to_depth_kernel(kernel), zero)
  y = tf.nn.conv2d(x, kernel, strides, "VALID")
  return y if bias is None else tf.nn.bias_add(y, bias)
