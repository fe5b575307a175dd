"""Stateless, resumable sampling: which examples batch i of a stream holds.

Every stream in unit_tf is a pure function of the batch index, so a resumed run sees exactly the
batches an uninterrupted one would have (no Dataset.shuffle state to save).
"""

import tensorflow as tf


def shuffled_indices(i, batch_size, n, stream_key):
  """Indices into n examples for batch `i` (an int64 scalar tensor) of a stream of epochs, each a
  fresh permutation keyed by (`stream_key`, epoch). Needs batch_size <= n."""
  positions = tf.cast(i, tf.int64) * batch_size + tf.range(batch_size, dtype=tf.int64)
  epochs, offsets = positions // n, positions % n
  stream_key = tf.cast(stream_key, tf.int64)
  # A batch spans at most two epochs (batch_size <= n): permute with both epochs' keys.
  first = epochs[0]
  shuffled = [tf.random.experimental.index_shuffle(offsets, tf.stack([stream_key, e]),
                                                   max_index=n - 1) for e in (first, first + 1)]
  return tf.where(epochs == first, shuffled[0], shuffled[1])
