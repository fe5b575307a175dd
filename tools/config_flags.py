"""absl flags generated from the library's config dataclasses (`unit_tf.config.option` fields).

One flag per field, named as the field (or its `flag` metadata), with the field's default, help
text, bounds and choices, so that a field is written once. `build(cls)` reads the flags back into
the dataclass; `changed(cls)` names the flags of `cls` set to a non-default value.
"""

import dataclasses
import typing

from absl import flags

from unit_tf import config as unit_config

FLAGS = flags.FLAGS
_CHOICES = {}  # (class, field) -> choices given at definition


def _base_type(field):
  tp = field.type
  if typing.get_origin(tp) is typing.Union:
    tp = next(t for t in typing.get_args(tp) if t is not type(None))
  return tp


def _flag_name(field):
  return field.metadata.get("flag") or field.name


def define(cls, choices=None):
  """Defines one flag per field of the dataclass `cls`. `choices` {field: values} adds choices
  that live outside the config module (e.g. the archs of the variant registry)."""
  choices = choices or {}
  for field in dataclasses.fields(cls):
    meta = field.metadata
    if "help" not in meta:
      raise TypeError(f"{cls.__name__}.{field.name} is not declared with unit_tf.config.option")
    name, tp = _flag_name(field), _base_type(field)
    default = None if meta.get("resolved") else field.default
    values = choices.get(field.name) or unit_config.choices_of(field)
    _CHOICES[(cls, field.name)] = values
    help_text = meta["help"]
    if name in FLAGS:  # another variant's option of the same name: one flag serves both
      if FLAGS[name].default != (str(default) if values is not None and default is not None
                                 else default):
        raise TypeError(f"{cls.__name__}.{field.name}: flag --{name} exists with another default")
      FLAGS[name].help += " | " + help_text
      continue
    if tp is bool:
      flags.DEFINE_bool(name, (not default) if meta.get("negate") else default, help_text)
    elif values is not None:
      flags.DEFINE_enum(name, None if default is None else str(default),
                        [str(v) for v in values], help_text)
    elif tp is int:
      flags.DEFINE_integer(name, default, help_text, lower_bound=meta.get("lower"),
                           upper_bound=meta.get("upper"))
    elif tp is float:
      flags.DEFINE_float(name, default, help_text, lower_bound=meta.get("lower"),
                         upper_bound=meta.get("upper"))
    elif tp is str:
      flags.DEFINE_string(name, default, help_text)
    else:
      raise TypeError(f"{cls.__name__}.{field.name}: no flag type for {tp}")


def _value(cls, field):
  meta = field.metadata
  value = FLAGS[_flag_name(field)].value
  if meta.get("negate"):
    return not value
  if value is not None and _CHOICES.get((cls, field.name)) is not None:
    return _base_type(field)(value)  # enum flags hold strings
  return value


def build(cls, resolved=None):
  """`cls` from its flags; `resolved` {field: value} supplies the fields the tool resolves."""
  resolved = resolved or {}
  values = {}
  for field in dataclasses.fields(cls):
    if field.name in resolved:
      values[field.name] = resolved[field.name]
    else:
      values[field.name] = _value(cls, field)
  return unit_config.validate(cls(**values))


def changed(cls):
  """Names of the flags of `cls` whose value differs from the field's default."""
  return [_flag_name(f) for f in dataclasses.fields(cls)
          if not f.metadata.get("resolved") and _value(cls, f) != f.default]
