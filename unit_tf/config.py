"""Frozen configuration dataclasses: what the tools hand to the library.

A run directory stores them as `config.json` so that `evaluate`, `translate` and `export` rebuild
the same model without the original flags.
"""

import dataclasses
import json
import os
from typing import Optional

CONFIG_FILENAME = "config.json"


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """The six networks.

  Attributes:
    arch: network preset in `unit_tf.networks.PRESETS`: "toy" is the paper's Table 3,
      "paper_natural" its Table 10 (fully convolutional, stochastic skip connections).
    image_size: height of the training images, and their width unless `image_width` is set.
    image_width: width of the training images when it differs from the height (None: square).
    channels_a, channels_b: image channels of each domain (1 for thermal/grey, 3 for RGB).
    gen_filters: filters of the first encoder layer; doubled per layer (Appendix B, "capacity").
    dis_filters: filters of the first discriminator layer.
    n_shared_enc, n_shared_gen, n_shared_dis: the paper's n_E, n_G, n_D (Table 4): how many of the
      last encoder layers (the mu/variance head counts as one), first generator layers and last
      discriminator layers are the same Keras objects in both domains. 0 means no sharing.
    norm: "batch" or "none".
    sync_batch_norm: synchronize batch statistics across replicas (tf.distribute).
    bn_momentum: moving-average momentum of batch norm (0.9 = PyTorch's 0.1, as the authors' code).
    leaky_slope: negative slope of LeakyReLU.
    spatial_context: concatenate the y-image (-1 top row .. +1 bottom row) to the input of the
      encoders and discriminators (Section 4, "Spatial Context").
    xy_context: concatenate x- and y-coordinate channels to the encoders' input only (the
      authors' SVHN -> MNIST domain-adaptation code).
    num_scales: arch "nips": discriminator scales (the release's 3); other presets ignore it.
    init: "keras" (Keras' default initialisers) or "authors" (the authors' domain-adaptation
      code: discriminators Xavier uniform gain sqrt(2) with bias 0.1, encoders/generators
      N(0, 0.02); one draw per variable; see `unit_tf.networks._initializers`).
    lenet_style: arch "digits_lenet": "paper" (ReLU after every layer, dropout 0.5 after FC500,
      as Table 6 was read first) or "authors" (the authors' LeNet: no activation after the
      convolutions, PReLU after FC500, no dropout).
  """

  arch: str = "toy"
  image_size: int = 32
  channels_a: int = 3
  channels_b: int = 3
  gen_filters: int = 32
  dis_filters: int = 32
  n_shared_enc: int = 4
  n_shared_gen: int = 3
  n_shared_dis: int = 4
  norm: str = "batch"
  sync_batch_norm: bool = False
  bn_momentum: float = 0.9
  leaky_slope: float = 0.2
  image_width: Optional[int] = None
  spatial_context: bool = False
  xy_context: bool = False
  num_scales: int = 3
  init: str = "keras"
  lenet_style: str = "paper"


@dataclasses.dataclass(frozen=True)
class LossConfig:
  """Weights of the objective (Eqs. 1-5).

  Attributes:
    lambda_recon: lambda_1, weight of the image negative log-likelihood.
    lambda_kl: lambda_2, weight of the KL divergence to N(0, I).
    lambda_gan: weight of the adversarial terms in the encoder/generator update.
    recon_loss: "l2" (Gaussian likelihood, as in the paper) or "l1" (Laplacian).
    use_discriminators: False trains the coupled VAEs of Table 5 (no GAN terms, no D update).
    lambda_cls: domain adaptation (Appendix C): weight of the cross-entropy of D_a's class head
      on the labelled source images (domain a is the source), added to the discriminator update.
      0 = plain UNIT; training then reads no labels.
    lambda_feature: weight of the discriminator feature-matching term of the authors' code
      (D_b's features of a->b translations against D_a's of a->a reconstructions, and the
      reverse), added to the discriminator update.
    lambda_cls_translated: domain adaptation, our variant: weight of the cross-entropy of D_b's
      class head on the a->b translations of the labelled source images, with their source
      labels (discriminator update). 0 = off, the paper's method.
    feature_matching_dropout_free: compute the features that feature matching compares without
      dropout (as both authors' codes do; the real/fake and class heads keep theirs). False =
      the features the real/fake head reads, after dropout with independent masks.
    source_only: the no-adaptation baseline: train only D_a's classifier path on source labels
      (no encoder, generator or adversarial update); target images are then classified by it.
    gan_loss, kl_loss, lambda_cycle, lambda_kl_cycle: arch "nips" only (the NIPS 2017 version):
      "lsgan" or "nonsaturating" adversarial loss; "mean_square" (the release's mean of mu^2) or
      "gaussian" (the closed-form KL above) latent loss; weights of the VAE-cycle image loss
      |x - x_aba| and of the KL of the re-encoded translation. The defaults are the paper's model.
  """

  lambda_recon: float = 1.0
  lambda_kl: float = 1e-4
  lambda_gan: float = 1.0
  recon_loss: str = "l2"
  use_discriminators: bool = True
  lambda_cls: float = 0.0
  lambda_feature: float = 0.0
  source_only: bool = False
  lambda_cls_translated: float = 0.0
  gan_loss: str = "nonsaturating"
  kl_loss: str = "gaussian"
  lambda_cycle: float = 0.0
  lambda_kl_cycle: float = 0.0
  feature_matching_dropout_free: bool = False


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """The optimisation loop (Algorithm 1) and its bookkeeping.

  weight_decay: coupled L2 (PyTorch Adam's weight_decay), 0 = off: arch "nips" (the release's)
    and the domain-adaptation presets digits_lenet / digits_svhn (the authors' 5e-4 on both
    optimizers).
  lr_decay_steps, lr_decay_factor: staircase decay, lr * factor^floor(step / steps); 0 = constant.
  ema_decay: arch "nips": exponential moving average of the encoder/generator weights, used for
    translation and export (0 = off).
  """

  batch_size: int = 64
  max_steps: int = 10000
  learning_rate: float = 2e-4
  beta_1: float = 0.5
  beta_2: float = 0.999
  disc_steps: int = 1
  seed: int = 0
  log_every: int = 50
  image_every: int = 500
  checkpoint_every: int = 1000
  eval_every: int = 1000
  eval_examples: int = 10000
  keep_checkpoints: int = 5
  jit_compile: bool = False
  mixed_precision: str = "float32"  # or mixed_float16 / mixed_bfloat16 (Keras dtype policies)
  weight_decay: float = 0.0
  lr_decay_steps: int = 0
  lr_decay_factor: float = 0.5
  ema_decay: float = 0.0


def save_configs(model_dir, **configs):
  """Writes {name: dataclass or plain dict} as JSON into `model_dir/config.json`."""
  payload = {name: cfg if isinstance(cfg, dict) else dataclasses.asdict(cfg)
             for name, cfg in configs.items() if cfg is not None}
  path = os.path.join(model_dir, CONFIG_FILENAME)
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(payload, f, indent=2, sort_keys=True)
  os.replace(tmp, path)


def load_configs(model_dir):
  """Reads `config.json` back into {"model": ModelConfig, "loss": LossConfig, "train": ...}."""
  path = os.path.join(model_dir, CONFIG_FILENAME)
  if not os.path.exists(path):
    raise FileNotFoundError(
        f"{path} does not exist: {model_dir} is not a unit_tf run directory "
        "(train one with tools/train.py --model_dir=...).")
  with open(path) as f:
    payload = json.load(f)
  classes = {"model": ModelConfig, "loss": LossConfig, "train": TrainConfig}
  out = {}
  for name, values in payload.items():
    cls = classes.get(name)
    if cls is None:
      out[name] = values
      continue
    known = {f.name for f in dataclasses.fields(cls)}
    out[name] = cls(**{k: v for k, v in values.items() if k in known})
  return out
