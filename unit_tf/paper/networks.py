"""The paper's networks: Table 3 (`"toy"`, Appendix B) and Table 10 (`"paper_natural"`), as
`unit_tf.core.nets.Architecture`s built by `unit_tf.core.nets.build_networks`."""

from unit_tf.core import nets
from unit_tf.core.nets import Conv, Gaussian, OUTPUT_CHANNELS, Skip, Architecture


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


PRESETS = {"toy": table3, "paper_natural": table10}


def architecture(config):
  """The checked Architecture of a ModelConfig whose arch is one of PRESETS."""
  return nets.preset_architecture(PRESETS, config)


def build_networks(config, options=None):
  """The six networks of a paper preset, shared layers tied by identity."""
  del options  # the paper presets have no options of their own
  return nets.build_networks(config, architecture(config))
