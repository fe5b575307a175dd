"""Keras layers the UNIT networks are assembled from.

Each layer is a self-contained building block (constructor stores its arguments, sublayers are made in
the constructor, `get_config` round-trips). Weight sharing never happens inside a layer: it happens by
passing the same layer object to both domains' networks (see `unit_tf.networks`).
"""

import keras
import tensorflow as tf
from keras import ops


def activation_layer(name, leaky_slope):
  """The Keras activation layer for a spec's activation name (None: no activation)."""
  if name is None or name == "linear":
    return None
  if name == "leaky_relu":
    return keras.layers.LeakyReLU(negative_slope=leaky_slope)
  if name in ("tanh", "relu", "sigmoid"):
    return keras.layers.Activation(name)
  if name == "prelu":  # one slope for the whole layer starting at 0.25, as PyTorch's nn.PReLU()
    return keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25),
                              shared_axes=[1], name="prelu")
  raise ValueError(f"unknown activation {name!r}")


class DomainBatchNorm(keras.layers.Layer):
  """Batch normalization with one gamma/beta and a separate set of moving statistics per domain.

  Why (the choice the weight-sharing constraint forces on us): the paper ties the *weights* of the
  high-level layers. Gamma and beta are weights, so a shared block shares them. Batch statistics
  are not weights; they describe the population a layer sees, and the populations differ by the
  domain the input image came from (a thermal and an RGB image give different activations until
  training aligns them). So every call names a `slot`, the domain its input was drawn from:
  training normalizes each call's batch by its own statistics (the two domains never mix in a
  batch, so a domain-b loss sends no gradient into domain a's private layers through the batch
  statistics), and the moving averages of that slot are updated. At inference the a->b translator
  uses slot a all the way through (E_a, the shared layers, G_b), exactly the statistics its
  training path had. One slot (`num_slots=1`) is ordinary batch norm.

  With `synchronized=True` the batch moments are all-reduced across the replicas of a
  tf.distribute strategy, so the moving statistics stay identical on every replica.
  """

  def __init__(self, num_slots=2, momentum=0.9, epsilon=1e-5, synchronized=False, **kwargs):
    # Statistics and the affine transform are computed in float32 under mixed precision.
    kwargs.setdefault("autocast", False)
    super().__init__(**kwargs)
    self.num_slots = num_slots
    self.momentum = momentum
    self.epsilon = epsilon
    self.synchronized = synchronized

  def build(self, input_shape):
    channels = input_shape[-1]
    self.gamma = self.add_weight(shape=(channels,), initializer="ones", name="gamma")
    self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta")
    self.moving_means = [
        self.add_weight(shape=(channels,), initializer="zeros", trainable=False,
                        name=f"moving_mean_{s}") for s in range(self.num_slots)]
    self.moving_variances = [
        self.add_weight(shape=(channels,), initializer="ones", trainable=False,
                        name=f"moving_variance_{s}") for s in range(self.num_slots)]
    # Also as attributes: tf.train.Checkpoint does not see variables inside Keras 3 lists.
    for s in range(self.num_slots):
      setattr(self, f"moving_mean_{s}", self.moving_means[s])
      setattr(self, f"moving_variance_{s}", self.moving_variances[s])

  def _batch_moments(self, x):
    axes = list(range(len(x.shape) - 1))
    if self._synchronizing():
      ctx = tf.distribute.get_replica_context()
      count = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), tf.float32)
      local = tf.concat([tf.reduce_sum(x, axes), tf.reduce_sum(tf.square(x), axes),
                         tf.reshape(count, [1])], axis=0)
      total = ctx.all_reduce(tf.distribute.ReduceOp.SUM, local)
      c = x.shape[-1]
      mean = total[:c] / total[-1]
      variance = total[c:2 * c] / total[-1] - tf.square(mean)
      return mean, tf.maximum(variance, 0.0)
    return ops.moments(x, axes)

  def call(self, inputs, slot=0, training=None):
    if not 0 <= slot < self.num_slots:
      raise ValueError(f"slot {slot} out of range for {self.num_slots} slots")
    x = ops.cast(inputs, "float32")
    if training and len(x.shape) == 4 and not self._synchronizing():
      # One fused kernel (and one for its gradient) instead of a dozen elementwise ops and
      # reductions: the same function, y = (x - mean) * rsqrt(variance + epsilon) * gamma + beta
      # with the batch's biased moments. The raw op, because tf.nn's wrapper raises epsilon to
      # 1.001e-5; its batch_variance output is Bessel-corrected, so the moving average is fed
      # the biased variance, as below.
      y, mean, variance = tf.raw_ops.FusedBatchNormV3(
          x=x, scale=self.gamma, offset=self.beta, mean=tf.zeros_like(self.gamma),
          variance=tf.ones_like(self.gamma), epsilon=self.epsilon, is_training=True)[:3]
      count = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), tf.float32)
      self._update_moving(slot, mean, variance * (count - 1.0) / tf.maximum(count, 1.0))
    else:
      if training:
        mean, variance = self._batch_moments(x)
        self._update_moving(slot, mean, variance)
      else:
        mean, variance = self.moving_means[slot], self.moving_variances[slot]
      y = (x - mean) * ops.rsqrt(variance + self.epsilon) * self.gamma + self.beta
    return ops.cast(y, inputs.dtype)

  def _synchronizing(self):
    if not self.synchronized:
      return False
    ctx = tf.distribute.get_replica_context()
    return ctx is not None and ctx.num_replicas_in_sync > 1

  def _update_moving(self, slot, mean, variance):
    m = self.momentum
    self.moving_means[slot].assign(self.moving_means[slot] * m + mean * (1.0 - m))
    self.moving_variances[slot].assign(self.moving_variances[slot] * m + variance * (1.0 - m))

  def get_config(self):
    config = super().get_config()
    config.update(num_slots=self.num_slots, momentum=self.momentum, epsilon=self.epsilon,
                  synchronized=self.synchronized)
    return config


class ConvBlock(keras.layers.Layer):
  """Convolution (or transposed convolution), optional batch norm, optional activation.

  This is one "layer" in the paper's tables, e.g. `CONV-(N64,K5,S2), BN, LeakyReLU`. `slot` names
  the domain the input image was drawn from (see DomainBatchNorm).
  """

  def __init__(self, filters, kernel_size, strides=1, padding="same", transpose=False,
               norm="batch", activation="leaky_relu", leaky_slope=0.2, bn_momentum=0.9,
               sync_batch_norm=False, num_slots=2, pool=0, kernel_initializer="glorot_uniform",
               bias_initializer="zeros", **kwargs):
    super().__init__(**kwargs)
    self.pool = pool
    self.filters = filters
    self.kernel_size = kernel_size
    self.strides = strides
    self.padding = padding
    self.transpose = transpose
    self.norm = norm
    self.activation = activation
    self.leaky_slope = leaky_slope
    self.bn_momentum = bn_momentum
    self.sync_batch_norm = sync_batch_norm
    self.num_slots = num_slots
    conv_cls = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
    self.conv = conv_cls(filters, kernel_size, strides=strides, padding=padding,
                         use_bias=norm != "batch", kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer, name="conv")
    if norm == "batch":
      self.bn = DomainBatchNorm(num_slots=num_slots, momentum=bn_momentum,
                                synchronized=sync_batch_norm, name="bn")
    elif norm in (None, "none"):
      self.bn = None
    else:
      raise ValueError(f"unknown norm {norm!r}")
    self.act = activation_layer(activation, leaky_slope)
    self.pooling = keras.layers.MaxPooling2D(pool, name="pool") if pool else None

  def call(self, inputs, slot=0, training=None):
    x = self.conv(inputs)
    if self.bn is not None:
      x = self.bn(x, slot=slot, training=training)
    if self.act is not None:
      x = self.act(x)
    if self.pooling is not None:
      x = self.pooling(x)
    return x

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
                  padding=self.padding, transpose=self.transpose, norm=self.norm,
                  activation=self.activation, leaky_slope=self.leaky_slope,
                  bn_momentum=self.bn_momentum, sync_batch_norm=self.sync_batch_norm,
                  num_slots=self.num_slots, pool=self.pool)
    return config


class DenseBlock(keras.layers.Layer):
  """`FC-(N), activation, Dropout` of the paper's tables: flattens a feature map first.

  Accepts `slot` like the other blocks (it has no batch statistics)."""

  def __init__(self, units, activation=None, dropout=0.0, kernel_initializer="glorot_uniform",
               bias_initializer="zeros", **kwargs):
    super().__init__(**kwargs)
    self.units = units
    self.activation = activation
    self.dropout = dropout
    self.flatten = keras.layers.Flatten(name="flatten")
    self.dense = keras.layers.Dense(units, kernel_initializer=kernel_initializer,
                                    bias_initializer=bias_initializer, name="dense")
    self.act = activation_layer(activation, 0.0)
    # A named generator (checkpointed with the layer, stable variable path), not keras' Dropout
    # layer, whose auto-named generator gets a different path in every model built.
    self.dropout_seed = (keras.random.SeedGenerator(name=f"{self.name}_dropout_seed")
                         if dropout else None)
    if dropout:  # as an attribute: tf.train.Checkpoint does not follow the generator object
      self.dropout_seed_state = self.dropout_seed.state

  def call(self, inputs, slot=0, training=None, dropout=True):
    """`dropout=False` leaves dropout out even in training (e.g. features compared across
    discriminators, which independent dropout masks would keep apart)."""
    del slot
    x = self.dense(self.flatten(inputs))
    if self.act is not None:
      x = self.act(x)
    if self.dropout and training and dropout:
      x = keras.random.dropout(x, self.dropout, seed=self.dropout_seed)
    return x

  def get_config(self):
    config = super().get_config()
    config.update(units=self.units, activation=self.activation, dropout=self.dropout)
    return config


class GaussianHead(keras.layers.Layer):
  """The VAE posterior q(z|x) = N(mu, diag(var)) from a feature map (Section 3).

  `CONV-(N,K1,S1)` gives the mean; `CONV-(N,K1,S1), Soft-plus` gives the variance, floored at
  `min_variance` so that log(var) in the KL term stays finite. Returns `(mu, var)`.
  """

  def __init__(self, channels, min_variance=1e-6, kernel_initializer=None, **kwargs):
    """`kernel_initializer`: None (Keras' default) or a zero-argument function returning a new
    initializer, called once per kernel so that mu and var get their own draws."""
    super().__init__(**kwargs)
    self.channels = channels
    self.min_variance = min_variance
    make = kernel_initializer or (lambda: "glorot_uniform")
    self.mu = keras.layers.Conv2D(channels, 1, kernel_initializer=make(), name="mu")
    self.var = keras.layers.Conv2D(channels, 1, kernel_initializer=make(), name="var")

  def call(self, inputs):
    mu = self.mu(inputs)
    var = ops.softplus(self.var(inputs)) + self.min_variance
    return mu, var

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels, min_variance=self.min_variance)
    return config


class LatentConcat(keras.layers.Layer):
  """A stochastic skip connection into a generator layer (Section 4): concatenates the next latent
  sample to the features along the channel axis. Holds no weights."""

  def call(self, features, latent):
    return ops.concatenate([features, ops.cast(latent, features.dtype)], axis=-1)


class SpatialContext(keras.layers.Layer):
  """The y-image of Section 4 ("Spatial Context"), concatenated to the input along the channels.

  Pixel values are the normalized row coordinate: -1 on the top row, +1 on the bottom row, linear
  in between, the same in every column. It is computed from the tensor it is given, so a network
  that holds this layer needs no extra input at translation or export time. When
  `UNIT.translate` reflect-pads an image to the network's multiple, the y-image spans the padded
  canvas (the bottom row of the original image then sits at most `multiple - 1` rows above +1).
  Holds no weights; accepts `slot`/`training` so that networks can call it like their other
  layers.

  With `x_channel=True` an x-image (-1 left column .. +1 right column) is added before the
  y-image: the two coordinate channels the authors' SVHN -> MNIST code gives its encoders.
  """

  def __init__(self, x_channel=False, **kwargs):
    super().__init__(**kwargs)
    self.x_channel = x_channel

  def call(self, inputs, slot=0, training=None):
    del slot, training  # no weights, no statistics
    shape = tf.shape(inputs)
    plane = tf.stack([shape[0], shape[1], shape[2], 1])
    rows = tf.linspace(tf.constant(-1.0, tf.float32), 1.0, shape[1])
    images = [tf.broadcast_to(tf.reshape(rows, [1, -1, 1, 1]), plane)]
    if self.x_channel:
      columns = tf.linspace(tf.constant(-1.0, tf.float32), 1.0, shape[2])
      images.insert(0, tf.broadcast_to(tf.reshape(columns, [1, 1, -1, 1]), plane))
    return tf.concat([inputs] + [tf.cast(x, inputs.dtype) for x in images], axis=-1)

  def compute_output_shape(self, input_shape):
    extra = 2 if self.x_channel else 1
    return tuple(input_shape[:-1]) + (
        None if input_shape[-1] is None else input_shape[-1] + extra,)

  def get_config(self):
    config = super().get_config()
    config.update(x_channel=self.x_channel)
    return config
