"""Adam as one fused kernel per variable.

Keras' Adam updates each variable with about ten elementwise ops (two moment updates, a square
root, a division, three assignments), each a pass over the variable's memory; for the largest
preset's networks without sharing (38.8 M float32 parameters, 155 MB; its test pins the
counts) that is about ten passes over 155 MB, plus the moments, per update on a CPU.
TensorFlow's `ResourceApplyAdam` does the same update in one pass:

  lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
  m <- m + (g - m) * (1 - beta_1)
  v <- v + (g^2 - v) * (1 - beta_2)
  w <- w - lr_t * m / (sqrt(v) + epsilon)

which is exactly the formula of `keras.optimizers.Adam.update_step` (epsilon added after the
bias correction folded into lr_t), with one rounding difference: the kernel forms 1 - beta_2 from
beta_2 rounded to float32, Keras from the Python float, so at beta_2 = 0.999 the second moment's
step is 1.3e-5 relative smaller (the nearest float32 is 0.99900001); for a beta_2 that is a
float32 already the two agree to float32 rounding (tests/test_optimizers.py). The slots are Keras'
own (`_momentums`, `_velocities`), so checkpoints are unchanged. Anything the kernel does not
cover (amsgrad, sparse gradients, a backend other than TensorFlow, non-float32 variables) takes
Keras' update.
"""

import keras
import tensorflow as tf


class FusedAdam(keras.optimizers.Adam):
  """keras.optimizers.Adam whose dense float32 updates are one ResourceApplyAdam each."""

  def update_step(self, gradient, variable, learning_rate):
    if (self.amsgrad or keras.backend.backend() != "tensorflow"
        or isinstance(gradient, tf.IndexedSlices) or variable.dtype != tf.float32):
      return super().update_step(gradient, variable, learning_rate)
    dtype = variable.dtype
    index = self._get_variable_index(variable)
    step = tf.cast(self.iterations + 1, dtype)
    beta_1 = tf.cast(self.beta_1, dtype)
    beta_2 = tf.cast(self.beta_2, dtype)
    return tf.raw_ops.ResourceApplyAdam(
        var=variable.handle, m=self._momentums[index].handle, v=self._velocities[index].handle,
        beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
        lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
        epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype))
