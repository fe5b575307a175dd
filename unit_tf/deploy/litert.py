"""LiteRT (TensorFlow Lite) translators for phones and boards, and a checked runner for them.

`export_model` / `export_run` write one `.tflite` file per direction for one fixed input size:

  <out_dir>/a2b.tflite, b2a.tflite             float32 weights
  <out_dir>/a2b_float16.tflite, ...            float16 weights (about half the size; computed in
                                               float32 on CPUs without float16 arithmetic)
  <out_dir>/a2b_int8.tflite, ...               dynamic-range int8 weights (about a quarter;
                                               activations quantized on the fly)
  <out_dir>/litert.json                        the size, channels and files

Each file takes `images` uint8 [1, height, width, channels in] and returns `translated` uint8
[1, height, width, channels out] (`unit_tf.deploy.fixed`). The converter is the one that ships
with TensorFlow 2.21 (`tf.lite.TFLiteConverter`, from the fixed-size SavedModel); the runtime is
the LiteRT package (`ai-edge-litert`, the maintained successor of `tf.lite.Interpreter`), which
`LiteRTTranslator` wraps.

A LiteRT interpreter given the wrong shape or dtype fails with its own terse message;
`LiteRTTranslator` checks both first and says what the file takes.
"""

import json
import os

import numpy as np
import tensorflow as tf

from unit_tf.deploy import fixed

QUANTIZATIONS = ("float32", "float16", "int8")


def file_name(direction, quantization):
  return (f"{direction}.tflite" if quantization == "float32" else
          f"{direction}_{quantization}.tflite")


def convert(saved_model, signature, quantization="float32"):
  """The .tflite bytes of one SavedModel signature (quantization: see the module docstring)."""
  if quantization not in QUANTIZATIONS:
    raise ValueError(f"quantization must be one of {', '.join(QUANTIZATIONS)}, got "
                     f"{quantization!r}")
  converter = tf.lite.TFLiteConverter.from_saved_model(saved_model, signature_keys=[signature])
  if quantization != "float32":
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
  if quantization == "float16":
    converter.target_spec.supported_types = [tf.float16]
  return converter.convert()


def export_model(model, out_dir, height, width, channels, quantizations=("float32",),
                 directions=tuple(fixed.DIRECTIONS)):
  """Writes the .tflite files of a built model (both directions by default); returns their
  paths. The SavedModel they are converted from is staged in `out_dir` and removed.

  Args:
    channels: {"a": channels of domain a, "b": channels of domain b}.
  """
  for quantization in quantizations:
    if quantization not in QUANTIZATIONS:
      raise ValueError(f"quantization must be one of {', '.join(QUANTIZATIONS)}, got "
                       f"{quantization!r}")
  paths = []
  with fixed.staged_saved_model(out_dir, model, height, width, channels,
                                directions) as (staging, named):
    for direction in named:
      for quantization in quantizations:
        path = os.path.join(out_dir, file_name(direction, quantization))
        with open(path + ".tmp", "wb") as f:
          f.write(convert(staging, direction, quantization))
        os.replace(path + ".tmp", path)
        paths.append(path)
  with open(os.path.join(out_dir, "litert.json"), "w") as f:
    json.dump({"height": height, "width": width, "channels": channels,
               "files": [os.path.basename(p) for p in paths]}, f, indent=2)
  return paths


def export_run(model_dir, out_dir, height, width, quantizations=("float32",), step=None):
  """Restores a run (the latest checkpoint, or `step`) and writes its LiteRT translators.
  Returns (paths, restored step)."""
  model, channels, restored_step = fixed.restore(model_dir, step)
  return export_model(model, out_dir, height, width, channels, quantizations), restored_step


class LiteRTTranslator:
  """Runs one exported .tflite translator with the LiteRT interpreter, input checked first.

  Call with uint8 [1, height, width, channels] (a [height, width, channels] image is taken as a
  batch of one); returns uint8 [1, height, width, channels out]. A wrong dtype or shape is a
  ValueError that names what the file takes.
  """

  def __init__(self, path, num_threads=None):
    from ai_edge_litert import interpreter as litert  # pylint: disable=g-import-not-at-top
    self.path = path
    self._interpreter = litert.Interpreter(model_path=path, num_threads=num_threads)
    self._interpreter.allocate_tensors()
    self._input = self._interpreter.get_input_details()[0]
    self._output = self._interpreter.get_output_details()[0]
    self.input_shape = tuple(int(d) for d in self._input["shape"])
    self.input_dtype = np.dtype(self._input["dtype"])

  def __call__(self, images):
    images = np.asarray(images)
    name = os.path.basename(self.path)
    if images.dtype != self.input_dtype:
      raise ValueError(f"{name} takes {self.input_dtype.name} pixels 0..255, got "
                       f"{images.dtype.name}")
    if images.ndim == len(self.input_shape) - 1:
      images = images[None]
    if images.shape != self.input_shape:
      raise ValueError(f"{name} takes images of shape {list(self.input_shape)} (batch, height, "
                       f"width, channels: it was exported for one size), got "
                       f"{list(images.shape)}")
    self._interpreter.set_tensor(self._input["index"], images)
    self._interpreter.invoke()
    return self._interpreter.get_tensor(self._output["index"]).copy()
