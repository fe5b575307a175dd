"""The NIPS 2017 UNIT networks (`--arch=nips`), the configuration of the authors' 2018 code release.

Written from the release's `configs/unit_edges2shoes_folder.yaml` and its layer list, with the
same parameter counts (11,140,483 per encoder + decoder, 8,271,171 per 3-scale discriminator at
dim 64, no sharing; `tests/test_nips.py` pins them):

  Encoder   reflect-pad + CONV-(dim,K7,S1), IN, ReLU; 2 x [CONV-(x2,K4,S2), IN, ReLU];
            4 residual blocks [CONV-K3, IN, ReLU, CONV-K3, IN] + identity  -> 4*dim x H/4 x W/4
  Decoder   4 residual blocks; 2 x [nearest upsample x2, CONV-(/2,K5,S1), LN, ReLU];
            CONV-(channels,K7,S1), TanH
  D (each of `num_scales` scales, the image average-pooled 3x3 stride 2 between scales)
            4 x [CONV-(64..512,K4,S2), LeakyReLU 0.2] (no norm), CONV-(1,K1,S1): a logit map

Every convolution reflect-pads (kernel - 1) // 2 on each side and runs "valid", with a bias; in
training its gradients are `core.convolution`'s (forward convolutions, on Eigen kernels).
The decoder's "upsample, 5x5 convolution" runs in an equivalent polyphase form (`upsample_conv5`:
9/25 of the multiply-adds, the same weights and outputs). IN is instance norm without affine
parameters (`GroupNormalization(groups=-1)`, epsilon 1e-5 as PyTorch's InstanceNorm2d; at batch 1
one fused kernel, `InstanceNormalization`). LN is
`ReleaseLayerNorm` (see there). Initialization as the release: He normal (fan-in, untruncated) in
the encoders/decoders, N(0, 0.02) in the discriminators, zero biases.

The latent: the encoder output is the mean; training adds unit-variance noise (the encoder
reports var = 1 so that the model's reparameterization `mu + sqrt(var) * eta` applies as is).

Sharing (absent in the release): `n_shared_enc` counts the encoder's units at the latent end
(the 4 residual blocks, then the stem of 3 convolutions as a fifth unit), `n_shared_gen` the
decoder's units from the latent on (4 residual blocks, then the upsampling head), `n_shared_dis`
the last layers of every discriminator scale. Shared units are the same Keras objects in both
domains, exactly as for the paper's presets (`unit_tf.core.nets`).
"""

import dataclasses
from typing import Optional

import keras
import tensorflow as tf
from keras import ops

from unit_tf.core import convolution
from unit_tf.core import layers as unit_layers
from unit_tf.core import nets as unit_networks
from unit_tf.nips.options import NipsOptions

INSTANCE_NORM_EPSILON = 1e-5  # PyTorch's InstanceNorm2d default, used by the release
LAYER_NORM_EPSILON = 1e-5


@dataclasses.dataclass(frozen=True)
class PadConv:
  """Spec: [nearest upsample x2], reflect pad (kernel - 1) // 2, conv "valid", norm, activation."""
  filters: int
  kernel: int
  stride: int = 1
  norm: str = "none"  # "instance", "layer" or "none"
  activation: Optional[str] = "relu"
  upsample: bool = False
  init: str = "kaiming"  # or "gaussian" (the release's discriminators)


@dataclasses.dataclass(frozen=True)
class Residual:
  """Spec: x + [PadConv-(K3), IN, ReLU, PadConv-(K3), IN](x)."""
  filters: int


def _initializer(name):
  if name == "kaiming":  # torch.nn.init.kaiming_normal_(a=0, mode="fan_in")
    return keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal")
  if name == "gaussian":
    return keras.initializers.RandomNormal(0.0, 0.02)
  raise ValueError(f"unknown init {name!r}")


class ReleaseLayerNorm(keras.layers.Layer):
  """The release's layer norm: each example normalized over all of (H, W, C) together, then a
  per-channel affine transform.

  y = gamma_c * (x - mean) / (std + epsilon) + beta_c, with `std` the *unbiased* standard
  deviation over the example's H*W*C values and epsilon added to the standard deviation, not to
  the variance (unlike `keras.layers.LayerNormalization`). gamma starts uniform in [0, 1) and
  beta at 0, as the release. Computed in float32 under mixed precision.
  """

  def __init__(self, epsilon=LAYER_NORM_EPSILON, **kwargs):
    kwargs.setdefault("autocast", False)
    super().__init__(**kwargs)
    self.epsilon = epsilon

  def build(self, input_shape):
    channels = input_shape[-1]
    self.gamma = self.add_weight(shape=(channels,), initializer="random_uniform", name="gamma")
    self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta")

  def call(self, inputs):
    x = ops.cast(inputs, "float32")
    mean, variance = ops.moments(x, axes=[1, 2, 3], keepdims=True)
    count = ops.cast(ops.prod(ops.shape(x)[1:]), "float32")
    std = ops.sqrt(variance * count / (count - 1.0))
    y = (x - mean) / (std + self.epsilon) * self.gamma + self.beta
    return ops.cast(y, inputs.dtype)

  def get_config(self):
    config = super().get_config()
    config.update(epsilon=self.epsilon)
    return config


class InstanceNormalization(keras.layers.GroupNormalization):
  """Keras' GroupNormalization (build it with groups=-1, center=False, scale=False: instance
  norm, y = (x - mean) / sqrt(var + epsilon) per image and channel, biased variance), whose call
  on a batch of one image is one fused kernel (and one for its gradient) instead of a dozen
  elementwise ops and reductions in float32.

  With one image, the per-image-and-channel moments are batch norm's per-channel moments, so
  `FusedBatchNormV3` in training mode with unit scale and zero offset is the same function (the
  raw op: tf.nn's wrapper raises epsilon to 1.001e-5). Its statistics are computed in float32
  for bfloat16 / float16 inputs too, as GroupNormalization's are. Other batch sizes, and any
  other configuration, take GroupNormalization's own call. The NIPS configurations train at
  batch 1, as the release does.
  """

  def call(self, inputs):
    channels = inputs.shape[-1]
    if (inputs.shape.rank != 4 or inputs.shape[0] != 1 or self.groups != channels
        or self.center or self.scale
        or inputs.dtype not in (tf.float32, tf.bfloat16, tf.float16)):
      return super().call(inputs)
    y = tf.raw_ops.FusedBatchNormV3(
        x=inputs, scale=tf.ones([channels]), offset=tf.zeros([channels]), mean=tf.zeros([0]),
        variance=tf.zeros([0]), epsilon=self.epsilon, is_training=True)[0]
    return ops.cast(y, self.compute_dtype)


# Polyphase form of "nearest upsample x2, then a 5-tap convolution": output row 2i + p reads
# input rows i - 1, i, i + 1 through these sums of the 5 taps (phase p = 0, 1; rows d = -1, 0, 1).
_PHASE_TAPS = tf.constant([[[1, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 1]],
                           [[1, 0, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 0, 1, 1]]], tf.float32)


def _upsample(x):
  """Nearest-neighbour x2 (PyTorch's nn.Upsample(scale_factor=2))."""
  return ops.repeat(ops.repeat(x, 2, axis=1), 2, axis=2)


def _reflect(x, pad):
  return tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")


def upsample_conv5(x, kernel, bias, use_forward_gradients=None):
  """conv5x5_valid(reflect_pad_2(upsample_x2(x))) + bias, computed without the upsampled image.

  The direct form spends 25 multiply-adds per output on a 4x larger image in which every value
  appears 4 times. Each of the 4 output phases (row parity p, column parity q) is instead a 3x3
  convolution of the input with kernel A_p W A_q^T (`_PHASE_TAPS`): one 3x3 convolution to
  4 * filters channels and a depth-to-space, 9 / 25 of the work. The trainable weight stays the
  5x5 kernel, so parameters, checkpoints and results are those of the direct form.

  Padding: the polyphase convolution reads the input edge-replicated by 1, which equals reflect
  padding of the upsampled image except in its outermost padded row / column (reflection reads
  the second input row there, replication the first). Only the first and last output rows and
  columns see that row, so they are recomputed exactly from thin strips of the direct form.
  """
  height, width = tf.shape(x)[1], tf.shape(x)[2]
  filters = kernel.shape[-1]
  kernel = tf.cast(kernel, x.dtype)
  bias = tf.cast(bias, x.dtype)
  taps = tf.cast(_PHASE_TAPS, x.dtype)
  phases = tf.einsum("pak,qbl,klio->abipqo", taps, taps, kernel)
  phases = tf.reshape(phases, [3, 3, kernel.shape[2], 4 * filters])
  replicated = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
  out = tf.nn.depth_to_space(convolution.conv2d_valid(
      replicated, phases, tf.tile(bias, [4]), use_forward_gradients=use_forward_gradients), 2)

  def direct(strip):
    return convolution.conv2d_valid(strip, kernel, bias,
                                    use_forward_gradients=use_forward_gradients)

  rows = _reflect(_upsample(x[:, :3]), 2)
  top = direct(rows[:, :5])
  rows = _reflect(_upsample(x[:, height - tf.minimum(height, 3):]), 2)
  bottom = direct(rows[:, -5:])
  cols = _reflect(_upsample(x[:, :, :3]), 2)
  left = direct(cols[:, :, :5])[:, 1:-1]
  cols = _reflect(_upsample(x[:, :, width - tf.minimum(width, 3):]), 2)
  right = direct(cols[:, :, -5:])[:, 1:-1]
  middle = tf.concat([left, out[:, 1:-1, 1:-1], right], axis=2)
  return tf.concat([top, middle, bottom], axis=1)


class PadConvBlock(keras.layers.Layer):
  """One `PadConv`: the release's convolution block. Accepts and ignores `slot` (no batch
  statistics here) so that the networks call it like the paper presets' blocks.

  With `upsample` and a 5x5 kernel the upsampling and convolution run as `upsample_conv5`
  (same function, 9/25 of the multiply-adds)."""

  def __init__(self, filters, kernel_size, strides=1, norm="none", activation="relu",
               upsample=False, init="kaiming", leaky_slope=0.2, **kwargs):
    super().__init__(**kwargs)
    self.filters = filters
    self.kernel_size = kernel_size
    self.strides = strides
    self.norm = norm
    self.activation = activation
    self.upsample = upsample
    self.init = init
    self.leaky_slope = leaky_slope
    self.pad = (kernel_size - 1) // 2
    self.conv = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="valid",
                                    kernel_initializer=_initializer(init), name="conv")
    if norm == "instance":
      self.normalization = InstanceNormalization(
          groups=-1, epsilon=INSTANCE_NORM_EPSILON, center=False, scale=False, name="in")
    elif norm == "layer":
      self.normalization = ReleaseLayerNorm(name="ln")
    elif norm == "none":
      self.normalization = None
    else:
      raise ValueError(f"unknown norm {norm!r}")
    self.act = unit_layers.activation_layer(activation, leaky_slope)

  def build(self, input_shape):
    self.conv.build((None, None, None, input_shape[-1]))  # padding happens in call
    self.built = True

  def call(self, inputs, slot=0, training=None):
    del slot  # no batch statistics
    # In training, the convolutions take core.convolution's gradients where it chooses them
    # (the same function; faster on TensorFlow's Eigen kernels); in inference TensorFlow's ops.
    forward_gradients = None if training else False
    if self.upsample and self.kernel_size == 5 and self.strides == 1:
      x = upsample_conv5(inputs, self.conv.kernel, self.conv.bias, forward_gradients)
    else:
      x = _upsample(inputs) if self.upsample else inputs
      x = _reflect(x, self.pad) if self.pad else x
      x = convolution.conv2d_valid(x, tf.cast(self.conv.kernel, x.dtype),
                                   tf.cast(self.conv.bias, x.dtype), self.strides,
                                   forward_gradients)
    if self.normalization is not None:
      x = self.normalization(x)
    if self.act is not None:
      x = self.act(x)
    return x

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
                  norm=self.norm, activation=self.activation, upsample=self.upsample,
                  init=self.init, leaky_slope=self.leaky_slope)
    return config


class ResidualBlock(keras.layers.Layer):
  """x + conv-IN-ReLU-conv-IN(x), 3x3 convolutions keeping the width (the release's ResBlock)."""

  def __init__(self, filters, **kwargs):
    super().__init__(**kwargs)
    self.filters = filters
    self.conv1 = PadConvBlock(filters, 3, norm="instance", activation="relu", name="conv1")
    self.conv2 = PadConvBlock(filters, 3, norm="instance", activation=None, name="conv2")

  def call(self, inputs, slot=0, training=None):
    return inputs + self.conv2(self.conv1(inputs))

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters)
    return config


class AveragePoolDown(keras.layers.Layer):
  """The release's down-sampling between discriminator scales: 3x3 average pooling, stride 2,
  1 pixel of zero padding on every side that the average does not count (PyTorch's
  AvgPool2d(3, 2, padding=1, count_include_pad=False)); output ceil(H/2) x ceil(W/2)."""

  def call(self, inputs):
    padding = [[0, 0], [1, 1], [1, 1], [0, 0]]
    total = tf.nn.avg_pool2d(tf.pad(inputs, padding), 3, 2, "VALID")
    ones = tf.pad(tf.ones_like(inputs[:1, :, :, :1]), padding)
    return total / tf.nn.avg_pool2d(ones, 3, 2, "VALID")


def architecture(gen_filters=64, dis_filters=64, n_downsample=2, n_res=4):
  """The `Architecture` of the release's edges2shoes / summer2winter configuration (dim 64)."""
  f, d = gen_filters, dis_filters
  latent = f * 2 ** n_downsample
  stem = (PadConv(f, 7, norm="instance"),) + tuple(
      PadConv(f * 2 ** (i + 1), 4, 2, norm="instance") for i in range(n_downsample))
  encoder = (stem,) + ((Residual(latent),),) * n_res
  head = tuple(PadConv(latent // 2 ** (i + 1), 5, norm="layer", upsample=True)
               for i in range(n_downsample))
  head += (PadConv(unit_networks.OUTPUT_CHANNELS, 7, activation="tanh"),)
  generator = ((Residual(latent),),) * n_res + (head,)
  discriminator = tuple((PadConv(d * 2 ** i, 4, 2, activation="leaky_relu", init="gaussian"),)
                        for i in range(4))
  discriminator += ((PadConv(1, 1, activation=None, init="gaussian"),),)
  return unit_networks.Architecture(encoder, generator, discriminator,
                                    image_multiple=2 ** n_downsample, fixed_size=None,
                                    paper_sharing=(1, 1, 0))


def _make(unit, config, name, out_channels=None):
  made = []
  for i, spec in enumerate(unit):
    layer_name = f"{name}_{i}"
    if isinstance(spec, Residual):
      made.append(ResidualBlock(spec.filters, name=layer_name))
    elif isinstance(spec, PadConv):
      filters = out_channels if spec.filters == unit_networks.OUTPUT_CHANNELS else spec.filters
      made.append(PadConvBlock(filters, spec.kernel, spec.stride, norm=spec.norm,
                               activation=spec.activation, upsample=spec.upsample,
                               init=spec.init, leaky_slope=config.leaky_slope, name=layer_name))
    else:
      raise TypeError(f"unknown layer spec {spec!r}")
  return made


def _build_units(units, config, prefix, out_channels=None):
  return [layer for i, unit in enumerate(units)
          for layer in _make(unit, config, f"{prefix}{i + 1}", out_channels)]


class Encoder(unit_networks.Encoder):
  """E: image -> [(mu, var)] with one latent, var = 1 (the release's unit-variance noise)."""

  def call(self, images, training=None):
    features = images if self.context is None else self.context(images)
    for layer in self.private + self.shared:
      features = layer(features, slot=self.slot, training=training)
    return [(features, ops.ones_like(features))]


class MultiScaleDiscriminator(keras.Model):
  """D: image -> list of logit maps [batch, h_s, w_s, 1], one per scale (full resolution first).

  `scales[s]` = (private layers, shared layers) of scale s; `slot` is accepted and ignored."""

  def __init__(self, scales, spatial_context=False, **kwargs):
    super().__init__(**kwargs)
    self.private = [layer for private, _ in scales for layer in private]
    self.shared = [layer for _, shared in scales for layer in shared]
    self._scales = [list(private) + list(shared) for private, shared in scales]
    self.context = unit_layers.SpatialContext(name="spatial_context") if spatial_context else None
    self.downsample = AveragePoolDown(name="downsample")
    unit_networks.track(self, "private", self.private)
    unit_networks.track(self, "shared", self.shared)

  def call(self, images, slot=0, training=None):
    x = images if self.context is None else self.context(images)
    outputs = []
    for s, layers in enumerate(self._scales):
      if s:
        x = self.downsample(x)
      features = x
      for layer in layers:
        features = layer(features, slot=slot, training=training)
      outputs.append(features)
    return outputs


def check_config(config, options=NipsOptions()):
  """The Architecture of a "nips" ModelConfig; ValueError if the discriminator's coarsest scale
  would be too small to reflect-pad (its 4th convolution needs at least 2x2 input)."""
  arch = unit_networks.check_architecture(config, architecture(config.gen_filters,
                                                               config.dis_filters))
  if options.num_scales < 1:
    raise ValueError(f"num_scales must be >= 1, got {options.num_scales}")
  smallest = 16 * 2 ** (options.num_scales - 1)
  width = config.image_width or config.image_size
  if min(config.image_size, width) < smallest:
    raise ValueError(f"arch 'nips' with num_scales={options.num_scales} needs training images of "
                     f"at least {smallest}x{smallest}, got {config.image_size}x{width} (lower "
                     "num_scales for small images)")
  return arch


def build_networks(config, options=NipsOptions()):
  """The six networks of a ModelConfig with arch "nips", shared units tied by identity."""
  arch = check_config(config, options)
  num_scales = options.num_scales
  cut = len(arch.encoder) - config.n_shared_enc
  enc_shared = _build_units(arch.encoder[cut:], config, f"enc_shared_L{cut}_")
  encoders = [Encoder(_build_units(arch.encoder[:cut], config, f"enc_{d}_L"), enc_shared,
                      slot=slot, spatial_context=config.spatial_context,
                      xy_context=config.xy_context, name=f"encoder_{d}")
              for slot, d in enumerate("ab")]

  n_gen = config.n_shared_gen
  gen_shared = _build_units(arch.generator[:n_gen], config, "gen_shared_L")
  generators = [unit_networks.Generator(
      gen_shared, _build_units(arch.generator[n_gen:], config, f"gen_{d}_L{n_gen}_",
                               out_channels=channels), name=f"generator_{d}")
                for d, channels in (("a", config.channels_a), ("b", config.channels_b))]

  cut = len(arch.discriminator) - config.n_shared_dis
  dis_shared = [_build_units(arch.discriminator[cut:], config, f"dis_shared_S{s}_L{cut}_")
                for s in range(num_scales)]
  discriminators = [MultiScaleDiscriminator(
      [(_build_units(arch.discriminator[:cut], config, f"dis_{d}_S{s}_L"), dis_shared[s])
       for s in range(num_scales)], spatial_context=config.spatial_context,
      name=f"discriminator_{d}") for d in "ab"]
  return unit_networks.Networks(encoders[0], encoders[1], generators[0], generators[1],
                                discriminators[0], discriminators[1])
