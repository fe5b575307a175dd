"""A semantic metric for digit tasks that needs no download: does the digit survive translation?

A small classifier (`build_classifier`: two 3x3 conv + max-pool stages, a 128-unit feature layer,
10 logits) is trained once on each domain's labelled *training* images and cached
(`cached_classifier`, keyed by a hash of the images, labels and settings). Then, for a direction
a -> b:

  translation_accuracy = mean_i [ argmax C_b(translate(x_i)) == y_i ]   over source test images
  classifier_fd        = Frechet distance (unit_tf.metrics.distances) between C_b's feature-layer
                         activations of the translations and of real domain-b test images

C_b is domain b's classifier; `classifier_accuracy` (C_b on real b test images) is its ceiling.
These classifiers are evaluation instruments only: they never train or steer the UNIT model (for
domain adaptation the target's training labels reach them and nothing else).
"""

import hashlib
import json
import os

import keras
import numpy as np
import tensorflow as tf

from unit_tf.metrics import distances

VERSION = 1  # part of the cache key: bump when the architecture or training changes
FEATURES = "features"


def build_classifier(image_shape, seed=0):
  """keras.Model: float [N, H, W, C] in [-1, 1] -> [N, 10] logits; its layer FEATURES gives the
  128-d features."""
  init = lambda i: keras.initializers.GlorotUniform(seed=seed * 10 + i)  # pylint: disable=unnecessary-lambda-assignment
  inputs = keras.Input(image_shape)
  x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", kernel_initializer=init(0))(
      inputs)
  x = keras.layers.MaxPooling2D()(x)
  x = keras.layers.Conv2D(64, 3, padding="same", activation="relu", kernel_initializer=init(1))(x)
  x = keras.layers.MaxPooling2D()(x)
  x = keras.layers.Flatten()(x)
  x = keras.layers.Dense(128, activation="relu", kernel_initializer=init(2), name=FEATURES)(x)
  logits = keras.layers.Dense(10, kernel_initializer=init(3))(x)
  return keras.Model(inputs, logits, name="digit_classifier")


def _as_float(images):
  """uint8 0..255 or float [-1, 1] -> float32 [-1, 1]."""
  images = np.asarray(images)
  if images.dtype == np.uint8:
    return images.astype(np.float32) / 127.5 - 1.0
  return images.astype(np.float32)


def train_classifier(images, labels, epochs=3, batch_size=128, seed=0):
  """A classifier trained with Adam (1e-3) on (images [N, H, W, C] uint8 or [-1, 1] float, labels
  [N] in 0..9) for `epochs` passes in a seeded order. Returns the keras.Model."""
  images, labels = np.asarray(images), np.asarray(labels, np.int64)
  if len(images) != len(labels) or not len(images):
    raise ValueError(f"{len(images)} images and {len(labels)} labels")
  model = build_classifier(images.shape[1:], seed)
  model.compile(optimizer=keras.optimizers.Adam(1e-3),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  rng = np.random.default_rng(seed)
  order = np.concatenate([rng.permutation(len(images)) for _ in range(epochs)])
  x, y = tf.constant(images), tf.constant(labels)
  ds = tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
  ds = ds.map(lambda i: (_to_float_tensor(tf.gather(x, i)), tf.gather(y, i)))
  model.fit(ds, epochs=1, verbose=0, shuffle=False)
  return model


def _to_float_tensor(images):
  if images.dtype == tf.uint8:
    return tf.cast(images, tf.float32) / 127.5 - 1.0
  return tf.cast(images, tf.float32)


def cache_key(images, labels, epochs, seed):
  """Hex digest identifying a classifier's training data and settings."""
  digest = hashlib.sha256()
  images = np.ascontiguousarray(images)
  for part in (str((VERSION, images.shape, str(images.dtype), epochs, seed)).encode(),
               images.tobytes(), np.asarray(labels, np.int64).tobytes()):
    digest.update(part)
  return digest.hexdigest()[:16]


def cached_classifier(cache_dir, name, images, labels, epochs=3, seed=0):
  """The classifier of `train_classifier(images, labels, epochs, seed)`, trained only when
  `cache_dir` has none for exactly this data (file digit_classifier_<name>_<key>.weights.h5).
  Returns (model, path of the weights, whether it was trained now)."""
  key = cache_key(images, labels, epochs, seed)
  path = os.path.join(cache_dir, f"digit_classifier_{name}_{key}.weights.h5")
  if os.path.exists(path):
    model = build_classifier(np.asarray(images).shape[1:], seed)
    model.load_weights(path)
    return model, path, False
  model = train_classifier(images, labels, epochs=epochs, seed=seed)
  os.makedirs(cache_dir, exist_ok=True)
  staging = path[:-len(".weights.h5")] + f".tmp{os.getpid()}.weights.h5"
  model.save_weights(staging)
  os.replace(staging, path)
  with open(path[:-len(".weights.h5")] + ".json", "w") as f:
    json.dump({"name": name, "images": int(len(images)), "epochs": epochs, "seed": seed}, f)
  return model, path, True


def _batches(images, batch_size):
  for start in range(0, len(images), batch_size):
    yield images[start:start + batch_size]


def predict(classifier, images, batch_size=500):
  """(logits [N, 10], features [N, 128]) of images (uint8 or float [-1, 1])."""
  both = keras.Model(classifier.inputs,
                     [classifier.output, classifier.get_layer(FEATURES).output])
  logits, features = [], []
  for batch in _batches(np.asarray(images), batch_size):
    out_logits, out_features = both(_to_float_tensor(tf.constant(batch)), training=False)
    logits.append(out_logits.numpy())
    features.append(out_features.numpy())
  return np.concatenate(logits), np.concatenate(features).astype(np.float64)


def accuracy(logits, labels):
  """Fraction of rows whose argmax is the label."""
  return float(np.mean(np.argmax(logits, axis=-1) == np.asarray(labels)))


def translation_metrics(translate, classifier, source_images, source_labels, target_images,
                        target_labels=None, batch_size=500):
  """{"translation_accuracy", "classifier_fd", "count"} of one direction, and
  "classifier_accuracy" (the classifier on the real target images) when `target_labels` are given.

  Args:
    translate: float [n, H, W, Cs] in [-1, 1] -> [n, H, W, Ct] (a direction of the model).
    classifier: the *target* domain's classifier.
    source_images, source_labels: source test images (uint8 or float [-1, 1]) and their digits.
    target_images: real target test images, for the Frechet distance.
    target_labels: their digits, to report the classifier's own accuracy (the ceiling).
  """
  translated = np.concatenate([
      np.asarray(translate(_to_float_tensor(tf.constant(batch))), np.float32)
      for batch in _batches(np.asarray(source_images), batch_size)])
  logits, features = predict(classifier, translated, batch_size)
  real_logits, real_features = predict(classifier, target_images, batch_size)
  out = {"translation_accuracy": accuracy(logits, source_labels),
         "classifier_fd": distances.frechet_distance(features, real_features),
         "count": int(len(translated))}
  if target_labels is not None:
    out["classifier_accuracy"] = accuracy(real_logits, target_labels)
  return out
