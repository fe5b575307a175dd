"""The six UNIT networks, built from declarative layer specs, with weight sharing by object identity.

A network is a tuple of *units*; a unit is what the paper's tables count as one layer (the mu and
variance heads of Table 3 are one unit; a Table 10 encoder layer with its skip head is one unit). A
unit is a tuple of specs:

  Conv(filters, kernel, stride, ...)  one ConvBlock (CONV/DCONV, BN, activation)
  Gaussian(channels)                  a VAE head tapping the current features: emits (mu, var) and
                                      passes the features on unchanged
  Skip()                              (generators) concatenates the next latent sample

Sharing (the paper's n_E, n_G, n_D, Table 4): the last `n_shared_enc` encoder units, the first
`n_shared_gen` generator units and the last `n_shared_dis` discriminator units are built once and the
same layer objects go into both domains' networks. Every network keeps them apart as `.private` and
`.shared` lists, so the UNIT model can run the shared part once on both domains' batches.

Spatial context (Section 4, `ModelConfig.spatial_context`): encoders and discriminators then start
with a `SpatialContext` layer that concatenates the y-image to their input (`xy_context`: the
encoders get x- and y-images, as the authors' SVHN -> MNIST code); it holds no weights and
is not part of any unit, so it changes neither the sharing counts nor a preset's layer list.
"""

import dataclasses
from typing import Optional

import keras
from keras import ops

from unit_tf import layers as unit_layers


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
  # A class head (domain adaptation, Tables 6 and 8): units applied to the features the last
  # discriminator unit reads; shared between the domains whenever that last unit is.
  classifier: tuple = ()


def table3(gen_filters=32, dis_filters=32):
  """The paper's toy network (Appendix B, Table 3) for 32x32 images.

  The Table 3 layer list has no padding rule; ours: K5 S2 convolutions pad "same" (32->16->8), the
  K8 S1 layer is "valid" (8->1), so the latent is 1x1x(8f); the first K4 S2 DCONV is "valid" (1->4),
  the next three "same" (4->8->16->32); the discriminator's last K2 conv pads "same" on its 1x1 input.
  The discriminator's sigmoid is folded into the loss (logits out, sigmoid cross-entropy).
  """
  f, d = gen_filters, dis_filters
  encoder = (
      (Conv(f, 5, 2),),
      (Conv(2 * f, 5, 2),),
      (Conv(4 * f, 8, 1, padding="valid"),),
      (Conv(8 * f, 1, 1),),
      (Gaussian(8 * f),),
  )
  generator = (
      (Conv(8 * f, 4, 2, padding="valid", transpose=True),),
      (Conv(4 * f, 4, 2, transpose=True),),
      (Conv(2 * f, 4, 2, transpose=True),),
      (Conv(f, 4, 2, transpose=True),),
      (Conv(OUTPUT_CHANNELS, 1, 1, transpose=True, norm=False, activation="tanh"),),
  )
  discriminator = (
      (Conv(d, 5, 2),),
      (Conv(2 * d, 5, 2),),
      (Conv(4 * d, 8, 1, padding="valid"),),
      (Conv(8 * d, 1, 1),),
      (Conv(1, 2, 1, norm=False, activation=None),),
  )
  return Architecture(encoder, generator, discriminator, image_multiple=32, fixed_size=32)


def table10(gen_filters=64, dis_filters=64):
  """The paper's natural-image network (Section 4, Appendix D, Table 10), fully convolutional.

  Encoder: five CONV-(K5,S2), BN, LeakyReLU layers (64-128-256-512-1024 filters at 64); layers 3-5
  are shared and each carries a stochastic skip connection, a Gaussian head (mean CONV-K1 and
  softplus-variance CONV-K1) of twice the layer's width. Generator: DCONV layers 1-4 shared,
  1024-512-256-128 filters with kernels 6, 5, 5, 6 (stride 2), then DCONV-(64,K6,S2) and the
  output DCONV-(N3 or N1, K1, S1), TanH. Discriminator: five CONV-(K5,S2), BN, LeakyReLU layers and
  a CONV-(K5,S2) logit layer, layers 3-6 shared (sigmoid folded into the loss).

  Table 10's "Input" column contradicts the text; we follow the text (Section 4: skip connections
  "are applied to all the layers where the weights are shared", none from the unshared first
  layers) and the resolutions, which fixes every row but one:
    - mu_1/sigma_1 (N256) reads "Output from Encoder Layer 2", an unshared layer: dropped. The
      other rows are kept as written: mu_2 (N512) from layer 3, mu_3 (N1024) from layer 4, mu_4
      (N2048) from layer 5, so K = 3 skips, one per shared encoder layer.
    - Each sample goes to the generator layer whose input has its resolution (H/32 for layer 5's,
      H/16 for layer 4's, H/8 for layer 3's): z_4 is generator layer 1's input, z_3 is
      concatenated to layer 2's input, z_2 to layer 3's. Generator layer 4 reads "z_1 + Output
      from Generator Layer 2"; with z_1 gone its input is generator layer 3's output (H/4; layer 2's
      output is H/8 and could not feed it).
    - Discriminator layer 6 is listed as N2048 with a sigmoid; a real/fake probability needs one
      channel, so it is CONV-(N1,K5,S2): a patch map of logits.
    - Generator layer 6 gives no kernel or stride; K1 S1 as Table 3's output layer (the five
      stride-2 DCONVs already undo the encoder's 32x downsampling).
  Padding: every CONV and DCONV pads "same", so a K5 S2 convolution maps H to H/2 and a stride-2
  DCONV of any kernel maps H to 2H exactly (Keras' output size for "same" is input * stride); with
  H and W multiples of 32 every skip sample meets a generator feature map of its own size. Other
  sizes are reflect-padded and cropped back by `UNIT.translate` (unit_tf.sizing). The
  discriminator's six stride-2 layers give a ceil(H/64) x ceil(W/64) logit map.
  Widths scale with `gen_filters` / `dis_filters` (64 in the paper; tests use 4).
  """
  f, d = gen_filters, dis_filters
  encoder = (
      (Conv(f, 5, 2),),
      (Conv(2 * f, 5, 2),),
      (Conv(4 * f, 5, 2), Gaussian(8 * f)),
      (Conv(8 * f, 5, 2), Gaussian(16 * f)),
      (Conv(16 * f, 5, 2), Gaussian(32 * f)),
  )
  generator = (
      (Conv(16 * f, 6, 2, transpose=True),),
      (Skip(), Conv(8 * f, 5, 2, transpose=True)),
      (Skip(), Conv(4 * f, 5, 2, transpose=True)),
      (Conv(2 * f, 6, 2, transpose=True),),
      (Conv(f, 6, 2, transpose=True),),
      (Conv(OUTPUT_CHANNELS, 1, 1, transpose=True, norm=False, activation="tanh"),),
  )
  discriminator = (
      (Conv(d, 5, 2),),
      (Conv(2 * d, 5, 2),),
      (Conv(4 * d, 5, 2),),
      (Conv(8 * d, 5, 2),),
      (Conv(16 * d, 5, 2),),
      (Conv(1, 5, 2, norm=False, activation=None),),
  )
  return Architecture(encoder, generator, discriminator, image_multiple=32, fixed_size=None,
                      paper_sharing=(3, 4, 4))


def table6(gen_filters=32, dis_filters=20, lenet_style="paper"):
  """Domain adaptation MNIST <-> USPS (Appendix C): Table 3's encoders and generators with the
  LeNet discriminator of Table 6, which has a real/fake head (4a) and a 10-way class head (4b).

    1   CONV-(N20,K5,S1), MaxPooling-(K2,S2)   private
    2   CONV-(N50,K5,S1), MaxPooling-(K2,S2)   shared
    3   FC-(N500), ReLU, Dropout               shared
    4a  FC-(N1), Sigmoid                       shared (the sigmoid is folded into the loss)
    4b  FC-(N10), Softmax                      shared (the softmax is folded into the loss)

  Choices the table leaves open: the convolutions are "valid" (LeNet: 32 -> 28 -> 14 -> 10 -> 5)
  and followed by a ReLU (the table names none; the authors' code has one), dropout 0.5, no
  batch norm. Widths scale with `dis_filters` as 1 : 5/2 : 25 (20, 50, 500 at the paper's 20).

  `lenet_style="authors"` is the LeNet of the authors' MNIST <-> USPS code (CoGAN,
  cogan_pytorch/src/net_cogan_mnist2usps.py): no activation after the convolutions (conv, max
  pooling), a PReLU after FC500 and no dropout.
  """
  if lenet_style not in LENET_STYLES:
    raise ValueError(f"lenet_style must be one of {LENET_STYLES}, got {lenet_style!r}")
  authors = lenet_style == "authors"
  conv_act = None if authors else "relu"
  base = table3(gen_filters)
  d = dis_filters
  discriminator = (
      (Conv(d, 5, 1, padding="valid", norm=False, activation=conv_act, pool=2),),
      (Conv(max(1, 5 * d // 2), 5, 1, padding="valid", norm=False, activation=conv_act, pool=2),),
      (Dense(25 * d, activation="prelu" if authors else "relu",
             dropout=0.0 if authors else 0.5),),
      (Dense(1),),
  )
  return dataclasses.replace(base, discriminator=discriminator, classifier=((Dense(10),),),
                             paper_sharing=(4, 3, 3))


def table8(gen_filters=32, dis_filters=64):
  """Domain adaptation SVHN -> MNIST (Appendix C): Table 3's encoders and generators with the
  discriminator of Table 8 (after Taigman et al. 2017):

    1..4  CONV-(N64/128/256/512,K5,S1), MaxPooling-(K2,S2)   layer 1 private, 2-4 shared
    5a    FC-(N1), Sigmoid                                   shared (sigmoid folded into the loss)
    5b    FC-(N10), Softmax                                  shared (softmax folded into the loss)

  Choices: "same" padding (32 -> 16 -> 8 -> 4 -> 2), ReLU after each convolution, no batch norm.
  """
  base = table3(gen_filters)
  d = dis_filters
  discriminator = tuple(
      (Conv(d * 2**i, 5, 1, norm=False, activation="relu", pool=2),) for i in range(4)
  ) + ((Dense(1),),)
  return dataclasses.replace(base, discriminator=discriminator, classifier=((Dense(10),),),
                             paper_sharing=(4, 3, 4))


def nips(gen_filters=64, dis_filters=64):
  """The NIPS 2017 network of the authors' code release: see `unit_tf.nips_networks`."""
  from unit_tf import nips_networks  # pylint: disable=g-import-not-at-top
  return nips_networks.architecture(gen_filters, dis_filters)


LENET_STYLES = ("paper", "authors")
INITS = ("keras", "authors")

PRESETS = {"toy": table3, "paper_natural": table10, "digits_lenet": table6, "digits_svhn": table8,
           "nips": nips}


def architecture_for(config):
  """The Architecture of a ModelConfig, validated against its image size and sharing counts."""
  if config.arch not in PRESETS:
    raise ValueError(f"unknown arch {config.arch!r}; known: {sorted(PRESETS)}")
  lenet_style = getattr(config, "lenet_style", "paper")
  if config.arch == "digits_lenet":
    arch = table6(config.gen_filters, config.dis_filters, lenet_style)
  elif lenet_style != "paper":
    raise ValueError(f"lenet_style={lenet_style!r} needs arch 'digits_lenet'")
  else:
    arch = PRESETS[config.arch](config.gen_filters, config.dis_filters)
  if getattr(config, "init", "keras") not in INITS:
    raise ValueError(f"init must be one of {INITS}, got {config.init!r}")
  width = config.image_size if config.image_width is None else config.image_width
  if arch.fixed_size is not None and (config.image_size, width) != (arch.fixed_size,) * 2:
    raise ValueError(f"arch {config.arch!r} needs image_size={arch.fixed_size}, "
                     f"got {config.image_size}" +
                     ("" if config.image_width is None else f"x{config.image_width}"))
  for name, size in (("image_size", config.image_size), ("image_width", width)):
    if size <= 0 or size % arch.image_multiple:
      raise ValueError(f"arch {config.arch!r} needs {name} to be a multiple of "
                       f"{arch.image_multiple}, got {size}")
  for name, units, n in (("n_shared_enc", arch.encoder, config.n_shared_enc),
                         ("n_shared_gen", arch.generator, config.n_shared_gen),
                         ("n_shared_dis", arch.discriminator, config.n_shared_dis)):
    if not 0 <= n <= len(units):
      raise ValueError(f"{name}={n} is out of range: arch {config.arch!r} has {len(units)} "
                       "layers there")
  if config.channels_a != config.channels_b:
    for name, units, n in (("n_shared_enc", arch.encoder, config.n_shared_enc),
                           ("n_shared_gen", arch.generator, config.n_shared_gen),
                           ("n_shared_dis", arch.discriminator, config.n_shared_dis)):
      if n == len(units):
        raise ValueError(f"{name}={n} shares every layer, which needs channels_a == channels_b")
  return arch


def _initializers(config, role):
  """(kernel, bias) initializer factories for a network role ("generator": encoders and
  generators, "discriminator": discriminators and their class heads).

  init "keras": Keras' defaults (Glorot uniform, zero bias). init "authors": the authors'
  domain-adaptation code (CoGAN cogan_pytorch/src/init.py, UNIT version_02 src/trainers/init.py):
  discriminators Xavier uniform with gain sqrt(2) (= VarianceScaling(2, fan_avg, uniform)) and
  bias 0.1, encoders/generators N(0, 0.02). Each factory returns a new *unseeded* initializer:
  Keras draws an unseeded initializer's seed once, from the global seed
  (keras.utils.set_random_seed), so one object per variable gives one reproducible draw per
  variable, where a single seeded object would repeat the same draw in every layer.
  """
  if getattr(config, "init", "keras") != "authors":
    return (lambda: "glorot_uniform"), (lambda: "zeros")
  if role == "discriminator":
    return (lambda: keras.initializers.VarianceScaling(2.0, "fan_avg", "uniform"),
            lambda: keras.initializers.Constant(0.1))
  return (lambda: keras.initializers.RandomNormal(0.0, 0.02)), (lambda: "zeros")


def _make_layers(unit_specs, config, name, out_channels=None, role="generator"):
  kernel, bias = _initializers(config, role)
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
      made.append(unit_layers.GaussianHead(spec.channels, kernel_initializer=kernel,
                                           name=layer_name))
    elif isinstance(spec, Skip):
      made.append(unit_layers.LatentConcat(name=layer_name))
    else:
      raise TypeError(f"unknown layer spec {spec!r}")
  return made


def _build_units(units, config, prefix, out_channels=None, role="generator"):
  layers = []
  for i, unit in enumerate(units):
    layers.extend(_make_layers(unit, config, f"{prefix}{i + 1}", out_channels, role))
  return layers


def _track(network, prefix, layers):
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
    _track(self, "private", self.private)
    _track(self, "shared", self.shared)

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
    _track(self, "shared", self.shared)
    _track(self, "private", self.private)

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
  domain; translations: the other one). With a class head (domain adaptation, Tables 6 and 8)
  `classify` maps images to [batch, 10] class logits from the same features the real/fake output
  reads (`features`).
  """

  def __init__(self, private, shared, classifier=(), spatial_context=False, **kwargs):
    super().__init__(**kwargs)
    self.private = list(private)
    self.shared = list(shared)
    self.classifier = list(classifier)
    self.context = unit_layers.SpatialContext(name="spatial_context") if spatial_context else None
    _track(self, "private", self.private)
    _track(self, "shared", self.shared)
    _track(self, "classifier", self.classifier)

  def build(self, input_shape):
    # Sublayers create their weights on first call (UNIT.build_for makes that call eagerly).
    del input_shape
    self.built = True

  def features(self, images, slot=0, training=None, dropout=True):
    """The input of the last unit (and of the class head). `dropout=False`: without the
    dropout of the FC layers even in training (the features the authors' feature matching
    compares); nothing else changes."""
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

  def class_logits(self, features, training=None):
    if not self.classifier:
      raise ValueError(f"{self.name} has no class head: use a domain-adaptation arch "
                       "(digits_lenet or digits_svhn)")
    for layer in self.classifier:
      features = layer(features, training=training)
    return features

  def classify(self, images, slot=0, training=None):
    """[batch, 10] class logits of the images (softmax folded into the loss)."""
    return self.class_logits(self.features(images, slot, training), training)

  def call(self, images, slot=0, training=None):
    return self.head(self.features(images, slot, training), slot, training)


@dataclasses.dataclass
class Networks:
  encoder_a: Encoder
  encoder_b: Encoder
  generator_a: Generator
  generator_b: Generator
  discriminator_a: Discriminator
  discriminator_b: Discriminator


def _split_shared_last(units, n_shared):
  cut = len(units) - n_shared
  return units[:cut], units[cut:]


def build_networks(config):
  """Builds the six networks of a ModelConfig with the configured layers shared by identity."""
  if config.arch == "nips":
    from unit_tf import nips_networks  # pylint: disable=g-import-not-at-top
    return nips_networks.build_networks(config)
  arch = architecture_for(config)

  enc_private_units, enc_shared_units = _split_shared_last(arch.encoder, config.n_shared_enc)
  enc_shared = _build_units(enc_shared_units, config,
                            f"enc_shared_L{len(enc_private_units)}_")
  encoders = [Encoder(_build_units(enc_private_units, config, f"enc_{d}_L"), enc_shared,
                      slot=slot, spatial_context=config.spatial_context,
                      xy_context=config.xy_context, name=f"encoder_{d}")
              for slot, d in enumerate("ab")]

  gen_shared_units = arch.generator[:config.n_shared_gen]
  gen_private_units = arch.generator[config.n_shared_gen:]
  gen_shared = _build_units(gen_shared_units, config, "gen_shared_L")
  generators = []
  for d, channels in (("a", config.channels_a), ("b", config.channels_b)):
    private = _build_units(gen_private_units, config, f"gen_{d}_L{config.n_shared_gen}_",
                           out_channels=channels)
    generators.append(Generator(gen_shared, private, name=f"generator_{d}"))

  dis_private_units, dis_shared_units = _split_shared_last(arch.discriminator,
                                                           config.n_shared_dis)
  dis = "discriminator"
  dis_shared = _build_units(dis_shared_units, config, f"dis_shared_L{len(dis_private_units)}_",
                            role=dis)
  # The class head reads what the last unit reads: shared exactly when that unit is.
  classifier_shared = config.n_shared_dis > 0
  shared_head = (_build_units(arch.classifier, config, "cls_shared_L", role=dis)
                 if classifier_shared else ())
  discriminators = [Discriminator(_build_units(dis_private_units, config, f"dis_{d}_L",
                                               role=dis),
                                  dis_shared,
                                  classifier=shared_head if classifier_shared else
                                  _build_units(arch.classifier, config, f"cls_{d}_L", role=dis),
                                  spatial_context=config.spatial_context,
                                  name=f"discriminator_{d}") for d in "ab"]
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
