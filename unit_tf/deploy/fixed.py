"""The fixed-size translator every converter starts from.

One function per direction: `images` uint8 [1, height, width, channels of the source domain] ->
`translated` uint8 [1, height, width, channels of the target domain], the latent-mean
translation with the SavedModel signatures' pixel conversion (`unit_tf.core.pixels`). The size
is fixed because mobile and ONNX runtimes plan memory for one shape, and the batch is 1 because
that is how a device translates. (The output is not called `images` like the input: tf2onnx
confuses an output and an input of the same name and fails with "graph input 'images' not
exist".)
"""

import contextlib
import os
import shutil

import tensorflow as tf

from unit_tf import run_dir
from unit_tf.core.pixels import to_float, to_uint8

DIRECTIONS = {"a2b": ("a", "b"), "b2a": ("b", "a")}
INPUT = "images"
OUTPUT = "translated"


def check_size(model, height, width):
  """Raises ValueError unless the model's networks take height x width images."""
  if height < 1 or width < 1:
    raise ValueError(f"empty image size {height}x{width}")
  if model.fixed_size is not None and (height, width) != (model.fixed_size,) * 2:
    raise ValueError(f"this model takes {model.fixed_size}x{model.fixed_size} images only (it has "
                     f"a fixed-size layer), not {height}x{width}")


def translator_function(model, direction, height, width, channels):
  """tf.function {INPUT: uint8 [1, height, width, channels]} -> {OUTPUT: uint8 [1, height,
  width, channels out]}."""

  @tf.function(input_signature=[tf.TensorSpec([1, height, width, channels], tf.uint8,
                                              name=INPUT)])
  def translate(images):
    return {OUTPUT: to_uint8(tf.cast(model.translate(to_float(images), direction), tf.float32))}

  return translate


def functions(model, height, width, channels, directions=tuple(DIRECTIONS)):
  """{direction: translator_function} for `directions`; channels = {"a": .., "b": ..}."""
  check_size(model, height, width)
  return {d: translator_function(model, d, height, width, channels[DIRECTIONS[d][0]])
          for d in directions}


def write_saved_model(path, model, named_functions):
  """A SavedModel at `path` with one signature per {name: tf.function with an input signature}.

  The converters read this rather than the functions: converting a function directly keeps the
  weights as variables (LiteRT: uninitialized resource variables, the output garbage; tf2onnx
  fails on variables read by an einsum), while a SavedModel's signatures are frozen with them as
  constants."""
  import keras  # pylint: disable=g-import-not-at-top
  archive = keras.export.ExportArchive()
  archive.track(model)
  for name, function in named_functions.items():
    archive.add_endpoint(name, function)
  archive.write_out(path, verbose=False)


def restore(model_dir, step=None):
  """(model, {"a": channels, "b": channels}, restored step) of a run's checkpoint (the latest,
  or `step`), ready for inference."""
  model, configs, restored_step = run_dir.restore_for_inference(model_dir, step)
  model_config = configs["model"]
  return model, {"a": model_config.channels_a, "b": model_config.channels_b}, restored_step


@contextlib.contextmanager
def staged_saved_model(out_dir, model, height, width, channels, directions):
  """Yields (SavedModel path, {direction: function}): the fixed-size translators of `directions`
  written as a SavedModel under `out_dir` for a converter to read, removed afterwards."""
  named = functions(model, height, width, channels, directions)
  os.makedirs(out_dir, exist_ok=True)
  staging = os.path.join(out_dir, f".saved_model-{os.getpid()}")
  try:
    write_saved_model(staging, model, named)
    yield staging, named
  finally:
    shutil.rmtree(staging, ignore_errors=True)
