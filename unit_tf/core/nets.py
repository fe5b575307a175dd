"""The six UNIT networks built from declarative layer specs, with weight sharing by object identity.

This module knows no preset: each variant package writes its `Architecture`s (the paper's Tables 3
and 10 in `unit_tf.paper.networks`, for instance) and builds them here, or builds its own layers and
ties them the same way.

A network is a tuple of *units*; a unit is what the paper's tables count as one layer (the mu and
variance heads of Table 3 are one unit; a Table 10 encoder layer with its skip head is one unit). A
unit is a tuple of specs:

  Conv(filters, kernel, stride, ...)  one ConvBlock (CONV/DCONV, BN, activation)
  Dense(units, ...)                   one DenseBlock (flatten, FC, activation, dropout)
  Gaussian(channels)                  a VAE head tapping the current features: emits (mu, var) and
                                      passes the features on unchanged
  Skip()                              (generators) concatenates the next latent sample

Sharing (the paper's n_E, n_G, n_D, Table 4): the last `n_shared_enc` encoder units, the first
`n_shared_gen` generator units and the last `n_shared_dis` discriminator units are built once and the
same layer objects go into both domains' networks. Every network keeps them apart as `.private` and
`.shared` lists, so the UNIT model can run the shared part once on both domains' batches.

Spatial context (Section 4, `ModelConfig.spatial_context`): encoders and discriminators then start
with a `SpatialContext` layer that concatenates the y-image to their input (`xy_context`: the
encoders get x- and y-images); it holds no weights and is not part of any unit, so it changes
neither the sharing counts nor a preset's layer list.
"""

import dataclasses
from typing import Optional

import keras
from keras import ops

from unit_tf.core import layers as unit_layers


@dataclasses.dataclass(frozen=True)
class Conv:
  filters: int
  kernel: int
  stride: int = 1
  padding: str = "same"
  transpose: bool = False
  norm: bool = True
  activation: Optional[str] = "leaky_relu"
  pool: int = 0  # max pooling (kernel = stride = pool) after the activation; 0: none


@dataclasses.dataclass(frozen=True)
class Dense:
  """FC-(N): flattens its input, then a fully connected layer, activation and dropout."""

  units: int
  activation: Optional[str] = None
  dropout: float = 0.0


@dataclasses.dataclass(frozen=True)
class Gaussian:
  channels: int


@dataclasses.dataclass(frozen=True)
class Skip:
  """Generator spec: concatenate the next latent sample (a stochastic skip connection)."""


OUTPUT_CHANNELS = -1  # placeholder in a generator spec for the domain's channel count


@dataclasses.dataclass(frozen=True)
class Architecture:
  encoder: tuple
  generator: tuple
  discriminator: tuple
  image_multiple: int  # image height/width must be a multiple of this (or equal to it, see below)
  fixed_size: Optional[int] = None  # the preset only works at this size (fully connected layers)
  paper_sharing: tuple = (4, 3, 4)  # the paper's (n_E, n_G, n_D) for this network


def preset_architecture(presets, config):
  """The checked Architecture that `presets[config.arch](gen_filters, dis_filters)` makes."""
  return check_architecture(config, presets[config.arch](config.gen_filters, config.dis_filters))


def check_architecture(config, arch):
  """`arch` if a ModelConfig's image size and sharing counts fit it, else ValueError."""
  width = config.image_size if config.image_width is None else config.image_width
  if arch.fixed_size is not None and (config.image_size, width) != (arch.fixed_size,) * 2:
    raise ValueError(f"arch {config.arch!r} needs image_size={arch.fixed_size}, "
                     f"got {config.image_size}" +
                     ("" if config.image_width is None else f"x{config.image_width}"))
  for name, size in (("image_size", config.image_size), ("image_width", width)):
    if size <= 0 or size % arch.image_multiple:
      raise ValueError(f"arch {config.arch!r} needs {name} to be a multiple of "
                       f"{arch.image_multiple}, got {size}")
  counts = (("n_shared_enc", arch.encoder, config.n_shared_enc),
            ("n_shared_gen", arch.generator, config.n_shared_gen),
            ("n_shared_dis", arch.discriminator, config.n_shared_dis))
  for name, units, n in counts:
    if not 0 <= n <= len(units):
      raise ValueError(f"{name}={n} is out of range: arch {config.arch!r} has {len(units)} "
                       "layers there")
  if config.channels_a != config.channels_b:
    for name, units, n in counts:
      if n == len(units):
        raise ValueError(f"{name}={n} shares every layer, which needs channels_a == channels_b")
  return arch


KERAS_INIT = (lambda: "glorot_uniform", lambda: "zeros")


def _make_layers(unit_specs, config, name, out_channels=None, init=None):
  kernel, bias = init or KERAS_INIT
  made = []
  for i, spec in enumerate(unit_specs):
    layer_name = f"{name}_{i}"
    if isinstance(spec, Conv):
      filters = out_channels if spec.filters == OUTPUT_CHANNELS else spec.filters
      made.append(unit_layers.ConvBlock(
          filters, spec.kernel, strides=spec.stride, padding=spec.padding,
          transpose=spec.transpose, norm=config.norm if spec.norm else "none",
          activation=spec.activation, leaky_slope=config.leaky_slope,
          bn_momentum=config.bn_momentum, sync_batch_norm=config.sync_batch_norm,
          pool=spec.pool, kernel_initializer=kernel(), bias_initializer=bias(),
          name=layer_name))
    elif isinstance(spec, Dense):
      made.append(unit_layers.DenseBlock(spec.units, activation=spec.activation,
                                         dropout=spec.dropout, kernel_initializer=kernel(),
                                         bias_initializer=bias(), name=layer_name))
    elif isinstance(spec, Gaussian):
      made.append(unit_layers.GaussianHead(spec.channels, kernel_initializer=init and kernel,
                                           name=layer_name))
    elif isinstance(spec, Skip):
      made.append(unit_layers.LatentConcat(name=layer_name))
    else:
      raise TypeError(f"unknown layer spec {spec!r}")
  return made


def build_units(units, config, prefix, out_channels=None, init=None):
  """The layers of `units` (prefix-named). `init`: (kernel, bias) factories, each call returning
  a new initializer (None: Keras' defaults). A new unseeded initializer per variable draws its own
  seed from the global one, so every variable gets its own reproducible draw (one seeded object
  shared by several layers would repeat the same draw in each)."""
  layers = []
  for i, unit in enumerate(units):
    layers.extend(_make_layers(unit, config, f"{prefix}{i + 1}", out_channels, init))
  return layers


def track(network, prefix, layers):
  """Names each layer as an attribute too. Keras 3 wraps list attributes in its own TrackedList,
  which tf.train.Checkpoint does not see: without this a checkpoint of the model would miss every
  layer (and their batch-norm statistics)."""
  for i, layer in enumerate(layers):
    setattr(network, f"{prefix}_{i}", layer)


def run_encoder_layers(layers, features, latents, slot, training=None):
  """Runs encoder layers in order; Gaussian heads append (mu, var) to `latents`."""
  for layer in layers:
    if isinstance(layer, unit_layers.GaussianHead):
      latents.append(layer(features))
    else:
      features = layer(features, slot=slot, training=training)
  return features


def run_generator_layers(layers, features, samples, position, slot, training=None):
  """Runs generator layers; each LatentConcat consumes `samples[position]` (deepest first).

  Returns (features, next position)."""
  for layer in layers:
    if isinstance(layer, unit_layers.LatentConcat):
      features = layer(features, samples[position])
      position += 1
    else:
      features = layer(features, slot=slot, training=training)
  return features, position


class Encoder(keras.Model):
  """E: image -> list of (mu, var), one per Gaussian head, shallowest first.

  `slot` is the batch-norm statistics slot of this encoder's domain (0 for a, 1 for b)."""

  def __init__(self, private, shared, slot, spatial_context=False, xy_context=False, **kwargs):
    super().__init__(**kwargs)
    self.private = list(private)
    self.shared = list(shared)
    self.slot = slot
    self.context = (unit_layers.SpatialContext(x_channel=xy_context, name="spatial_context")
                    if spatial_context or xy_context else None)
    track(self, "private", self.private)
    track(self, "shared", self.shared)

  def call(self, images, training=None):
    latents = []
    if self.context is not None:
      images = self.context(images)
    features = run_encoder_layers(self.private, images, latents, self.slot, training)
    run_encoder_layers(self.shared, features, latents, self.slot, training)
    return latents


class Generator(keras.Model):
  """G: list of latent samples (shallowest first, as the encoder emits them) -> image.

  The statistics slot is that of the domain the latent was encoded from: G_b decoding z_a (the
  a->b translation) uses slot 0. `decode_shared` and `decode_private` split the call so that the
  UNIT model computes the shared layers once per latent and feeds both generators' private layers.
  """

  def __init__(self, shared, private, **kwargs):
    super().__init__(**kwargs)
    self.shared = list(shared)
    self.private = list(private)
    track(self, "shared", self.shared)
    track(self, "private", self.private)

  def decode_shared(self, samples, slot, training=None):
    deepest_first = list(reversed(samples))
    features, position = run_generator_layers(self.shared, deepest_first[0], deepest_first, 1,
                                              slot, training)
    return features, position

  def decode_private(self, features, position, samples, slot, training=None):
    deepest_first = list(reversed(samples))
    features, _ = run_generator_layers(self.private, features, deepest_first, position, slot,
                                       training)
    return features

  def call(self, samples, slot=0, training=None):
    features, position = self.decode_shared(samples, slot, training)
    return self.decode_private(features, position, samples, slot, training)


class Discriminator(keras.Model):
  """D: image -> real/fake logits map [batch, h, w, 1] (sigmoid folded into the loss).

  `slot` is the domain the image was drawn from (real images and reconstructions: this D's own
  domain; translations: the other one). `features` is the input of the last unit and `head` the
  last unit, so that a variant can read the features the real/fake output reads.
  """

  def __init__(self, private, shared, spatial_context=False, **kwargs):
    super().__init__(**kwargs)
    self.private = list(private)
    self.shared = list(shared)
    self.context = unit_layers.SpatialContext(name="spatial_context") if spatial_context else None
    track(self, "private", self.private)
    track(self, "shared", self.shared)

  def build(self, input_shape):
    # Sublayers create their weights on first call (UNIT.build_for makes that call eagerly).
    del input_shape
    self.built = True

  def features(self, images, slot=0, training=None, dropout=True):
    """The input of the last unit; `dropout=False` leaves the dense layers' dropout out even in
    training."""
    features = images if self.context is None else self.context(images)
    for layer in (self.private + self.shared)[:-1]:
      if not dropout and isinstance(layer, unit_layers.DenseBlock):
        features = layer(features, slot=slot, training=training, dropout=False)
      else:
        features = layer(features, slot=slot, training=training)
    return features

  def head(self, features, slot=0, training=None):
    """The real/fake logits from `features`."""
    return (self.private + self.shared)[-1](features, slot=slot, training=training)

  def call(self, images, slot=0, training=None):
    return self.head(self.features(images, slot, training), slot, training)


@dataclasses.dataclass
class Networks:
  encoder_a: Encoder
  encoder_b: Encoder
  generator_a: Generator
  generator_b: Generator
  discriminator_a: keras.Model
  discriminator_b: keras.Model


def split_shared_last(units, n_shared):
  cut = len(units) - n_shared
  return units[:cut], units[cut:]


def build_networks(config, arch, make_discriminator=None, generator_init=None,
                   discriminator_init=None):
  """Builds the six networks of `arch` (an Architecture checked against the ModelConfig) with the
  configured layers shared by identity.

  `make_discriminator(domain, build_private, shared layers, name)` builds each discriminator
  (default: `Discriminator`); `build_private()` makes that domain's private layers. A variant that
  adds a head around the discriminator passes its own (layers are made in the order the calls
  make them, which fixes their random initial weights for a seed). `generator_init` (encoders
  and generators) and `discriminator_init` are `build_units` initializer factories.
  """
  check_architecture(config, arch)
  enc_private_units, enc_shared_units = split_shared_last(arch.encoder, config.n_shared_enc)
  enc_shared = build_units(enc_shared_units, config,
                           f"enc_shared_L{len(enc_private_units)}_", init=generator_init)
  encoders = [Encoder(build_units(enc_private_units, config, f"enc_{d}_L", init=generator_init),
                      enc_shared,
                      slot=slot, spatial_context=config.spatial_context,
                      xy_context=config.xy_context, name=f"encoder_{d}")
              for slot, d in enumerate("ab")]

  gen_shared_units = arch.generator[:config.n_shared_gen]
  gen_private_units = arch.generator[config.n_shared_gen:]
  gen_shared = build_units(gen_shared_units, config, "gen_shared_L", init=generator_init)
  generators = []
  for d, channels in (("a", config.channels_a), ("b", config.channels_b)):
    private = build_units(gen_private_units, config, f"gen_{d}_L{config.n_shared_gen}_",
                          out_channels=channels, init=generator_init)
    generators.append(Generator(gen_shared, private, name=f"generator_{d}"))

  dis_private_units, dis_shared_units = split_shared_last(arch.discriminator,
                                                          config.n_shared_dis)
  dis_shared = build_units(dis_shared_units, config, f"dis_shared_L{len(dis_private_units)}_",
                           init=discriminator_init)
  if make_discriminator is None:
    def make_discriminator(d, build_private, shared, name):
      del d
      return Discriminator(build_private(), shared, spatial_context=config.spatial_context,
                           name=name)
  discriminators = [
      make_discriminator(d, lambda d=d: build_units(dis_private_units, config, f"dis_{d}_L",
                                                    init=discriminator_init),
                         dis_shared, f"discriminator_{d}") for d in "ab"]
  return Networks(encoders[0], encoders[1], generators[0], generators[1], discriminators[0],
                  discriminators[1])


def unique_variables(*variable_lists):
  """Concatenates variable lists, keeping each variable object once (by identity).

  Keras 3 variables cannot be compared with `==` (it builds a tensor), and shared layers put the same
  variable in both domains' lists: without this, a shared weight would get two optimizer updates.
  """
  seen = set()
  out = []
  for variables in variable_lists:
    for v in variables:
      if id(v) not in seen:
        seen.add(id(v))
        out.append(v)
  return out


def latent_shapes(encoder, image_shape):
  """Shapes (without batch) of the latents an encoder emits for images of `image_shape`."""
  latents = encoder(ops.zeros((1,) + tuple(image_shape)), training=False)
  return [tuple(mu.shape[1:]) for mu, _ in latents]
