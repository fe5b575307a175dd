"""Full-resolution translation: pad to what the network accepts, crop back, never resize.

A fully convolutional preset accepts any height/width that is a multiple of its total stride
(`Architecture.image_multiple`); other sizes are reflect-padded at the bottom/right and the output
is cropped back to the input size. A preset with a fixed input size (the toy network's K8 "valid"
layer needs exactly 32x32) accepts only that size; anything else is an InvalidArgument error naming
the sizes, never a silent resize.
"""

import tensorflow as tf


def pad_to_multiple(images, multiple):
  """Reflect-pads [N, H, W, C] at the bottom and right to multiples of `multiple`.

  Returns (padded, height, width) with the original height and width as tensors.
  """
  shape = tf.shape(images)
  height, width = shape[1], shape[2]
  pad_h = (-height) % multiple
  pad_w = (-width) % multiple
  tf.debugging.assert_less(
      tf.maximum(pad_h - height, pad_w - width), 0,
      message=f"image too small to reflect-pad to a multiple of {multiple}")
  padded = tf.pad(images, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="REFLECT")
  return padded, height, width


def check_fixed_size(images, size):
  """Raises InvalidArgument unless images are [N, size, size, C]."""
  shape = tf.shape(images)
  tf.debugging.assert_equal(
      tf.stack([shape[1], shape[2]]), tf.constant([size, size]),
      message=f"this network takes {size}x{size} images only (it has a fixed-size layer)")
  return images
