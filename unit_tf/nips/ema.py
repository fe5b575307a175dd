"""Exponential moving average of weights (`TrainConfig.ema_decay`), checkpointed with the model.

Averaged generator weights give smoother translations than the last iterate (Yazici et al. 2019,
"The unusual effectiveness of averaging in GAN training"); users asked the UNIT release for it.
The shadow copies live in this layer, which the model holds as an attribute, so the model's
checkpoint saves and restores them; `run_dir.restore_for_inference` copies them into the weights
when the run trained with an average, so translate, evaluate and export use them.
"""

import keras
import tensorflow as tf


class WeightAverage(keras.layers.Layer):
  """shadow <- decay * shadow + (1 - decay) * weight after every update; shadow starts at the
  initial weight (no bias correction: with decay 0.999 the start is forgotten after a few
  thousand steps).

  `track(variables)` makes the shadows (eagerly, outside any tf.function), `update(variables)`
  runs in the train step, `copy_to_weights(variables)` overwrites the weights with the shadows.
  The averaged variables are passed in each time, not stored: a Keras layer would track them as
  its own.
  """

  def __init__(self, decay, **kwargs):
    super().__init__(trainable=False, **kwargs)
    if not 0.0 < decay < 1.0:
      raise ValueError(f"ema_decay must be in (0, 1), got {decay}")
    self.decay = decay
    self.shadows = []

  def track(self, variables):
    self.shadows = []
    for i, variable in enumerate(variables):
      # Every replica computes the same update; keep the first's.
      shadow = self.add_weight(shape=variable.shape, initializer="zeros", trainable=False,
                               aggregation="only_first_replica", name=f"shadow_{i}")
      shadow.assign(variable)
      self.shadows.append(shadow)
      # As attributes too: tf.train.Checkpoint does not see variables inside Keras 3 lists.
      setattr(self, f"shadow_{i}", shadow)
    self.built = True

  def _pairs(self, variables):
    variables = list(variables)
    if len(variables) != len(self.shadows):
      raise ValueError(f"{len(variables)} variables for {len(self.shadows)} shadows")
    return zip(self.shadows, variables)

  def update(self, variables):
    for shadow, variable in self._pairs(variables):
      shadow.assign(self.decay * shadow + (1.0 - self.decay) * tf.cast(variable, shadow.dtype))

  def copy_to_weights(self, variables):
    for shadow, variable in self._pairs(variables):
      variable.assign(shadow)

  def get_config(self):
    config = super().get_config()
    config.update(decay=self.decay)
    return config
