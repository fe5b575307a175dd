"""Evaluation metrics.

Toy metric (Appendix B): translate each MNIST test digit and compare with the ground-truth
translation. intensity(x) = max over RGB of the translated image, mapped to [0, 1]; the distance of
one digit is || intensity(translated) - truth ||_2 over the 32x32 pixels; the metric is its mean
over the test digits, one number per direction. The paper does not state its pixel scale (its
Table 4 values are not on this [0, 1] scale), so compare our figures with each other, and the
paper's only by their ordering.
"""

import tensorflow as tf

from unit_tf.data.toy import intensity


def toy_distance(translated, truth):
  """Per-example || intensity(translated) - truth ||_2.

  Args:
    translated: [N, H, W, 3] images in [-1, 1].
    truth: [N, H, W] ground-truth intensities in [0, 1].
  Returns:
    [N] distances.
  """
  diff = intensity(translated) - tf.cast(truth, tf.float32)
  return tf.sqrt(tf.reduce_sum(tf.square(diff), axis=[1, 2]))
