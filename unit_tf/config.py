"""Frozen configuration dataclasses: what the tools hand to the library.

Every field is declared once, with `option(default, help, ...)`: its default, the help text of its
command-line flag and its validation (bounds, choices). `tools/experiment_flags.py` generates the
flags from these fields, and `validate` checks a dataclass built in code the same way, so a field,
its flag and its checks cannot drift apart. Core fields live here; a variant's own options live in
its package (`unit_tf.nips.options`, `unit_tf.uda.options`) and are declared the same way.

A run directory stores them as `config.json` so that `evaluate`, `translate` and `export` rebuild
the same model without the original flags (`unit_tf.run_dir.load_configs`).
"""

import dataclasses
import json
import os
from typing import Optional

from unit_tf.core import losses

CONFIG_FILENAME = "config.json"


def option(default, help, lower=None, upper=None, choices=None, flag=None, negate=False,
           resolved=False):  # pylint: disable=redefined-builtin
  """A dataclass field with what its flag and its validation need.

  Args:
    default: the field's default (also the flag's, unless `resolved`).
    help: the flag's help text.
    lower, upper: inclusive bounds of a number.
    choices: the allowed values (the flag becomes an enum); a callable returning them is called
      when the flag is defined (registries that live elsewhere).
    flag: the flag's name when it differs from the field's (e.g. an inverted bool).
    negate: the flag is the negation of the field (`--no_discriminators` sets
      use_discriminators=False).
    resolved: the flag defaults to None and the tool resolves it (e.g. from the task or the
      architecture's paper sharing); the field keeps `default`.
  """
  return dataclasses.field(default=default, metadata={
      "help": help, "lower": lower, "upper": upper, "choices": choices, "flag": flag,
      "negate": negate, "resolved": resolved})


def choices_of(field):
  choices = field.metadata.get("choices")
  return choices() if callable(choices) else choices


def validate(config):
  """ValueError naming the field if a value is outside its declared bounds or choices."""
  for field in dataclasses.fields(config):
    value = getattr(config, field.name)
    if value is None:
      continue
    meta = field.metadata
    choices = choices_of(field)
    if choices is not None and value not in choices:
      raise ValueError(f"{field.name}={value!r} is not one of {sorted(choices)}")
    if meta.get("lower") is not None and value < meta["lower"]:
      raise ValueError(f"{field.name}={value} is below its minimum {meta['lower']}")
    if meta.get("upper") is not None and value > meta["upper"]:
      raise ValueError(f"{field.name}={value} is above its maximum {meta['upper']}")
  return config


MIXED_PRECISION_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """The six networks (every variant); `arch` picks the variant (`unit_tf.variants`)."""

  arch: str = option("toy", "Network preset: toy = the paper's Table 3 (32x32); paper_natural = "
                     "Table 10 (fully convolutional, stochastic skip connections); digits_lenet / "
                     "digits_svhn = Table 3 with the two-head discriminators of Tables 6 / 8 "
                     "(domain adaptation, 32x32); nips = the NIPS 2017 version of the authors' "
                     "code release (residual blocks, instance norm, multi-scale discriminators; "
                     "README, '--arch=nips').")
  image_size: int = option(32, "Training crop height (and width unless --image_width); a "
                           "multiple of 32 for paper_natural. Default: 32 (toy, uda), 128 "
                           "(celeba).", lower=1, resolved=True)
  channels_a: int = option(3, "Channels of domain a (1: thermal IR / grey).", choices=(1, 3))
  channels_b: int = option(3, "Channels of domain b.", choices=(1, 3))
  gen_filters: int = option(32, "Filters of the first encoder layer, doubled per layer "
                            "(Appendix B, 'capacity').", lower=1)
  dis_filters: int = option(32, "Filters of the first discriminator layer.", lower=1)
  n_shared_enc: int = option(4, "n_E: shared last encoder layers (toy: the mu/var head is one; "
                             "nips: residual blocks at the latent end, the stem is a 5th). "
                             "Default: the paper's, 4 (toy), 3 (paper_natural), 1 (nips; 0 = the "
                             "release).", lower=0, resolved=True)
  n_shared_gen: int = option(3, "n_G: shared first generator layers (nips: residual blocks from "
                             "the latent on). Default: the paper's, 3 (toy), 4 (paper_natural), "
                             "1 (nips; 0 = the release).", lower=0, resolved=True)
  n_shared_dis: int = option(4, "n_D: shared last discriminator layers (nips: of every scale). "
                             "Default: the paper's, 4; 0 for nips (the release).", lower=0,
                             resolved=True)
  norm: str = option("batch", "Normalization in the conv blocks of the paper presets (nips has "
                     "the release's instance / layer norm).", choices=("batch", "none"))
  sync_batch_norm: bool = option(False, "Synchronize batch-norm statistics across replicas "
                                 "(tf.distribute: all-reduce the batch moments).")
  bn_momentum: float = option(0.9, "Batch-norm moving-average momentum (0.9 = PyTorch's 0.1, "
                              "as the authors' code).", lower=0.0, upper=1.0)
  leaky_slope: float = option(0.2, "Negative slope of LeakyReLU.", lower=0.0, upper=1.0)
  image_width: Optional[int] = option(None, "Training crop width if not --image_size (None: "
                                      "square).", lower=1)
  spatial_context: bool = option(False, "Concatenate a y-coordinate channel (-1 top, +1 bottom) "
                                 "to the encoders' and discriminators' input (Section 4).")
  xy_context: bool = option(False, "Concatenate x- and y-coordinate channels to the encoders' "
                            "input (the authors' SVHN -> MNIST code; see README).")


@dataclasses.dataclass(frozen=True)
class LossConfig:
  """Weights of the objective (Eqs. 1-5), shared by every variant."""

  lambda_recon: float = option(1.0, "lambda_1: weight of the image likelihood.", lower=0.0)
  lambda_kl: float = option(1e-4, "lambda_2: weight of the KL term.", lower=0.0)
  lambda_gan: float = option(1.0, "Weight of the generators' adversarial terms.", lower=0.0)
  recon_loss: str = option("l2", "Likelihood: l2 = Gaussian (paper), l1 = Laplacian (sums over "
                           "pixels), l1_mean = mean |x - x'| per image (the release's, for its "
                           "weights).", choices=tuple(losses.RECONSTRUCTION_LOSSES))
  use_discriminators: bool = option(True, "Train the coupled VAEs of Table 5 (no GAN).",
                                    flag="no_discriminators", negate=True)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """The optimisation loop (Algorithm 1) and its bookkeeping."""

  batch_size: int = option(64, "N: images per domain per update (global batch).", lower=1)
  max_steps: int = option(10000, "Total encoder/generator updates.", lower=1)
  learning_rate: float = option(2e-4, "Adam learning rate (both optimizers).", lower=0.0)
  beta_1: float = option(0.5, "Adam beta_1.", lower=0.0, upper=1.0)
  beta_2: float = option(0.999, "Adam beta_2.", lower=0.0, upper=1.0)
  disc_steps: int = option(1, "K: discriminator updates per generator update.", lower=1)
  seed: int = option(0, "Seed of weights, data order and sampling noise.", lower=0)
  log_every: int = option(50, "Steps between progress lines and loss summaries.", lower=1)
  image_every: int = option(500, "Steps between TensorBoard image grids (0: never).", lower=0)
  checkpoint_every: int = option(1000, "Steps between checkpoints (and at the end).", lower=1)
  eval_every: int = option(1000, "Steps between metric evaluations (0: never).", lower=0)
  eval_examples: int = option(10000, "Test examples per evaluation.", lower=1)
  keep_checkpoints: int = option(5, "Checkpoints to keep.", lower=1)
  jit_compile: bool = option(False, "XLA-compile the train step (on CPU it was slower in our "
                             "measurements; see README).")
  mixed_precision: str = option("float32", "Keras dtype policy: compute in float16/bfloat16, "
                                "variables and losses in float32 (dynamic loss scaling for "
                                "float16). The flag's default, auto, is resolved by the tool "
                                "(unit_tf.hardware): mixed_bfloat16 on a CPU with native "
                                "bfloat16 (AVX-512 BF16 / AMX), mixed_float16 on GPUs with "
                                "tensor cores, float32 otherwise; config.json records the "
                                "resolved policy.", choices=MIXED_PRECISION_POLICIES, resolved=True)
  lr_decay_steps: int = option(0, "Multiply the learning rate by --lr_decay_factor every N "
                               "updates (staircase; release: 100000). 0 = constant.", lower=0)
  lr_decay_factor: float = option(0.5, "Factor of each learning-rate decay.", lower=0.0,
                                  upper=1.0)


def save_configs(model_dir, **configs):
  """Writes {name: dataclass or plain dict} as JSON into `model_dir/config.json`."""
  payload = {name: cfg if isinstance(cfg, dict) else dataclasses.asdict(cfg)
             for name, cfg in configs.items() if cfg is not None}
  path = os.path.join(model_dir, CONFIG_FILENAME)
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(payload, f, indent=2, sort_keys=True)
  os.replace(tmp, path)


def read_configs(model_dir):
  """The raw JSON of `model_dir/config.json` ({section: {field: value}})."""
  path = os.path.join(model_dir, CONFIG_FILENAME)
  if not os.path.exists(path):
    raise FileNotFoundError(
        f"{path} does not exist: {model_dir} is not a unit_tf run directory "
        "(train one with tools/train.py --model_dir=...).")
  with open(path) as f:
    return json.load(f)


def from_dict(cls, values):
  """`cls` from a dict, ignoring keys it has no field for."""
  known = {f.name for f in dataclasses.fields(cls)}
  return cls(**{k: v for k, v in values.items() if k in known})
