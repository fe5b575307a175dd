"""Two-head discriminators for domain adaptation (Appendix C, Tables 6 and 8).

The real/fake discriminator is the core `Discriminator`; `TwoHeadDiscriminator` adds a 10-way class
head around it that reads the same features as the real/fake output (the input of its last unit).
The class head is shared between the domains exactly when that last unit is (n_shared_dis > 0).
Encoders and generators are Table 3's (`unit_tf.paper.networks.table3`).
"""

import dataclasses

import keras

from unit_tf.core import nets
from unit_tf.core.nets import Conv, Dense
from unit_tf.paper.networks import table3
from unit_tf.uda.options import UdaOptions

NUM_CLASSES = 10
CLASS_HEAD = ((Dense(NUM_CLASSES),),)  # FC-(N10), softmax folded into the loss


class TwoHeadDiscriminator(nets.Discriminator):
  """D with a real/fake head (the core Discriminator's) and a class head on the same features.

  `classify(images)` -> [batch, 10] class logits (softmax folded into the loss).
  """

  def __init__(self, private, shared, classifier, spatial_context=False, **kwargs):
    super().__init__(private, shared, spatial_context=spatial_context, **kwargs)
    self.classifier = list(classifier)
    nets.track(self, "classifier", self.classifier)

  def class_logits(self, features, training=None):
    for layer in self.classifier:
      features = layer(features, training=training)
    return features

  def classify(self, images, slot=0, training=None):
    return self.class_logits(self.features(images, slot, training), training)

  def class_path_variables(self):
    """The variables `classify` reads: every layer but the real/fake head, and the class head."""
    head = (self.private + self.shared)[-1]
    skip = {id(v) for v in head.trainable_variables}
    return [v for v in self.trainable_variables if id(v) not in skip]


LENET_STYLES = ("paper", "authors")


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
      (Dense(25 * d, activation="prelu" if authors else "relu", dropout=0.0 if authors else 0.5),),
      (Dense(1),),
  )
  return dataclasses.replace(base, discriminator=discriminator,
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
  return dataclasses.replace(base, discriminator=discriminator,
                             paper_sharing=(4, 3, 4))


PRESETS = {"digits_lenet": table6, "digits_svhn": table8}


def architecture(config, options=UdaOptions()):
  """The checked Architecture of a ModelConfig whose arch is one of PRESETS."""
  if options.lenet_style != "paper" and config.arch != "digits_lenet":
    raise ValueError(f"lenet_style={options.lenet_style!r} needs arch 'digits_lenet'")
  if config.arch == "digits_lenet":
    return nets.check_architecture(config, table6(config.gen_filters, config.dis_filters,
                                                  options.lenet_style))
  return nets.preset_architecture(PRESETS, config)


def initializers(options):
  """(encoder/generator, discriminator) initializer factories of `options.init` (None: Keras').

  "authors": the authors' domain-adaptation code (CoGAN cogan_pytorch/src/init.py, UNIT
  version_02 src/trainers/init.py): discriminators and class heads Xavier uniform with gain
  sqrt(2) (= VarianceScaling(2, fan_avg, uniform)) and bias 0.1, encoders/generators N(0, 0.02).
  """
  if options.init != "authors":
    return None, None
  return ((lambda: keras.initializers.RandomNormal(0.0, 0.02), lambda: "zeros"),
          (lambda: keras.initializers.VarianceScaling(2.0, "fan_avg", "uniform"),
           lambda: keras.initializers.Constant(0.1)))


def build_networks(config, options=UdaOptions()):
  """The six networks, the discriminators with class heads (shared when the last D unit is)."""
  arch = architecture(config, options)
  generator_init, discriminator_init = initializers(options)
  shared_head = []  # made once, before the first private layers, when the last D unit is shared

  def make_discriminator(d, build_private, shared, name):
    if config.n_shared_dis > 0:
      if not shared_head:
        shared_head.extend(nets.build_units(CLASS_HEAD, config, "cls_shared_L",
                                            init=discriminator_init))
      private, head = build_private(), shared_head
    else:
      private = build_private()
      head = nets.build_units(CLASS_HEAD, config, f"cls_{d}_L", init=discriminator_init)
    return TwoHeadDiscriminator(private, shared, head, spatial_context=config.spatial_context,
                                name=name)

  return nets.build_networks(config, arch, make_discriminator, generator_init,
                             discriminator_init)
