"""The one place that names every variant: arch -> networks, model class, options, sharing, exports.

  variant  archs                        model        options       export families
  paper    toy (Table 3),               PaperUNIT    PaperOptions  translation
           paper_natural (Table 10)
  uda      digits_lenet (Table 6),      UdaUNIT      UdaOptions    translation, classification
           digits_svhn (Table 8)
  nips     nips (the 2018 release)      NipsUNIT     NipsOptions   translation

A new variant is a package (networks, model, options) and one `Variant` entry here. Options live
with the variant that implements them: `build_model` refuses another variant's options, so an
option a variant lacks cannot be set (the tools generate each variant's flags from its options
dataclass and refuse a flag of another variant the same way).
"""

import dataclasses
from typing import Callable, Optional

from unit_tf.config import LossConfig
from unit_tf.core import signatures
from unit_tf.nips import networks as nips_networks
from unit_tf.nips.model import NipsUNIT
from unit_tf.nips.options import NipsOptions
from unit_tf.paper import networks as paper_networks
from unit_tf.paper.model import PaperUNIT
from unit_tf.paper.options import PaperOptions
from unit_tf.uda import export as uda_export
from unit_tf.uda import networks as uda_networks
from unit_tf.uda.model import UdaUNIT
from unit_tf.uda.options import UdaOptions


@dataclasses.dataclass(frozen=True)
class Variant:
  """What a variant plugs into the engine.

  presets: {arch: preset(gen_filters, dis_filters) -> unit_tf.core.nets.Architecture}.
  architecture(model_config, options) -> the checked Architecture (image sizes, sharing counts).
  build_networks(model_config, options) -> unit_tf.core.nets.Networks.
  model_class(networks, loss_config, [options=...,] disc_steps, seed, image_multiple,
    fixed_size, name): a unit_tf.core.model.UNIT subclass.
  options_class: the variant's options dataclass, or None if it has none.
  export_families: functions (model, channels, sample) -> {signature: (function, input spec)}.
  """

  name: str
  presets: dict
  architecture: Callable
  build_networks: Callable
  model_class: type
  options_class: Optional[type] = None
  export_families: tuple = (signatures.translation_endpoints,)

  def default_sharing(self, arch):
    """The paper's (n_E, n_G, n_D) for `arch` (the flags' defaults)."""
    return self.presets[arch]().paper_sharing

  def default_options(self):
    return self.options_class() if self.options_class else None


VARIANTS = (
    Variant("paper", paper_networks.PRESETS,
            lambda config, options: paper_networks.architecture(config),
            paper_networks.build_networks, PaperUNIT, PaperOptions),
    Variant("uda", uda_networks.PRESETS, uda_networks.architecture,
            uda_networks.build_networks, UdaUNIT, UdaOptions,
            (signatures.translation_endpoints, uda_export.classification_endpoints)),
    Variant("nips", {"nips": nips_networks.architecture}, nips_networks.check_config,
            nips_networks.build_networks, NipsUNIT, NipsOptions),
)
ARCHS = {arch: variant for variant in VARIANTS for arch in variant.presets}


def variant_of(arch):
  """The Variant that implements `arch`; ValueError naming the known archs otherwise."""
  if arch not in ARCHS:
    raise ValueError(f"unknown arch {arch!r}; known: {sorted(ARCHS)}")
  return ARCHS[arch]


def named(name):
  """The Variant called `name` ("paper", "uda", "nips")."""
  for variant in VARIANTS:
    if variant.name == name:
      return variant
  raise ValueError(f"unknown variant {name!r}; known: {[v.name for v in VARIANTS]}")


def check_options(model_config, options):
  """The options for the arch's variant (its defaults if None); ValueError for another
  variant's options."""
  variant = variant_of(model_config.arch)
  if options is None:
    return variant.default_options()
  if variant.options_class is None or not isinstance(options, variant.options_class):
    owner = [v.name for v in VARIANTS if v.options_class and isinstance(options, v.options_class)]
    raise ValueError(f"{type(options).__name__} belong to the {owner[0] if owner else '?'} "
                     f"variant; arch {model_config.arch!r} is the {variant.name} variant, which "
                     f"takes {variant.options_class.__name__ if variant.options_class else 'no'} "
                     "options")
  return options


def architecture(model_config, options=None):
  """The checked Architecture of a ModelConfig (ValueError if its sizes or sharing do not fit)."""
  options = check_options(model_config, options)
  return variant_of(model_config.arch).architecture(model_config, options)


def build_networks(model_config, options=None):
  """The six networks of a ModelConfig, shared layers tied by identity."""
  options = check_options(model_config, options)
  return variant_of(model_config.arch).build_networks(model_config, options)


def build_model(model_config, loss_config=LossConfig(), options=None, disc_steps=1, seed=0):
  """The networks and the variant's model (not compiled, weights not yet created)."""
  variant = variant_of(model_config.arch)
  options = check_options(model_config, options)
  arch = variant.architecture(model_config, options)
  kwargs = {"disc_steps": disc_steps, "seed": seed, "image_multiple": arch.image_multiple,
            "fixed_size": arch.fixed_size, "name": "unit"}
  if variant.options_class is not None:
    kwargs["options"] = options
  return variant.model_class(variant.build_networks(model_config, options), loss_config,
                             **kwargs)


def legacy_options(model_config, sections):
  """The variant options of a run written before options had their own section: the fields of
  the variant's options dataclass collected from the old model / loss / train sections."""
  variant = variant_of(model_config.arch)
  if variant.options_class is None:
    return None
  names = {f.name for f in dataclasses.fields(variant.options_class)}
  values = {}
  for section in sections:
    values.update({k: v for k, v in section.items() if k in names})
  return variant.options_class(**values)
