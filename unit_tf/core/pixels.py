"""The one conversion between stored pixels and what the networks see."""

import tensorflow as tf


def to_float(images):
  """uint8 0..255 -> float32 [-1, 1], the range the networks are trained on."""
  return tf.cast(images, tf.float32) / 127.5 - 1.0


def to_uint8(images):
  """float [-1, 1] -> uint8, rounded to nearest."""
  scaled = tf.clip_by_value((tf.cast(images, tf.float32) + 1.0) * 127.5, 0.0, 255.0)
  return tf.cast(tf.round(scaled), tf.uint8)
