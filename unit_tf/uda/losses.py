"""The domain-adaptation terms (Appendix C) as pure per-example functions (float32)."""

import tensorflow as tf


def _flat_sum(x):
  x = tf.cast(x, tf.float32)
  return tf.reduce_sum(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


def classification_loss(class_logits, labels):
  """Cross-entropy of a class head on labelled images (Appendix C, multi-task training):

  -log softmax(logits)[label], the softmax folded into the loss.
  """
  return tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=tf.cast(labels, tf.int32), logits=tf.cast(class_logits, tf.float32))


def correct_predictions(class_logits, labels):
  """1.0 where argmax(logits) == label, else 0.0 (per example; averaged it is the accuracy)."""
  predicted = tf.argmax(tf.cast(class_logits, tf.float32), axis=-1, output_type=tf.int32)
  return tf.cast(tf.equal(predicted, tf.cast(labels, tf.int32)), tf.float32)


def feature_matching_loss(features, target_features):
  """sum_j (f_j - f'_j)^2 per example: how far one discriminator's features of an image are from
  the other discriminator's features of its counterpart (the authors' domain-adaptation code:
  D_b's features of a translation a->b against D_a's features of the reconstruction a->a, both
  decoded from the same latent)."""
  diff = tf.cast(features, tf.float32) - tf.cast(target_features, tf.float32)
  return _flat_sum(tf.square(diff))
