"""Image grids for TensorBoard and side-by-side outputs."""

import os

import numpy as np
import tensorflow as tf


def to_unit_range(images):
  """[-1, 1] images -> [0, 1], with 1-channel images repeated to RGB so domains can share a grid."""
  images = (tf.cast(images, tf.float32) + 1.0) / 2.0
  images = tf.clip_by_value(images, 0.0, 1.0)
  if images.shape[-1] == 1:
    images = tf.repeat(images, 3, axis=-1)
  return images


def image_grid(rows):
  """Tiles rows of images ([N, H, W, C] in [-1, 1], equal N, H, W) into one [1, R*H, N*W, 3]."""
  tiles = [to_unit_range(r) for r in rows]
  lines = [tf.concat(tf.unstack(t, axis=0), axis=1) for t in tiles]
  return tf.concat(lines, axis=0)[None]


def translation_grid(model, images_a, images_b):
  """Rows a, aa (reconstruction), ab (translation), b, bb, ba for TensorBoard (latent means);
  without the ab or ba row for a model that does not translate that way (Table 5's one-sided
  ablations)."""
  rows = []
  for domain, images, direction in (("a", images_a, "a2b"), ("b", images_b, "b2a")):
    rows += [images, model.reconstruct(images, domain)]
    if direction in model.translation_directions:
      rows.append(model.translate(images, direction))
  return image_grid(rows)


def to_uint8(images):
  """[-1, 1] float images -> uint8 0..255 numpy."""
  x = (np.asarray(images, np.float32) + 1.0) * 127.5
  return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def write_png(path, grid):
  """Writes a [1, H, W, 3] grid in [0, 1] (image_grid's output) as a PNG, atomically."""
  pixels = tf.cast(tf.round(tf.clip_by_value(grid[0], 0.0, 1.0) * 255.0), tf.uint8)
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  tf.io.write_file(path + ".tmp", tf.io.encode_png(pixels))
  os.replace(path + ".tmp", path)
