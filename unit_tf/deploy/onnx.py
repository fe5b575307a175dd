"""ONNX translators (ONNX Runtime), converted with tf2onnx from the fixed-size SavedModel.

  <out_dir>/a2b.onnx, b2a.onnx    input `images` uint8 [1, height, width, channels in],
                                  output `translated` uint8 [1, height, width, channels out]

Why through a SavedModel and tf2onnx's command line: with TensorFlow 2.21, tf2onnx 1.17's
`convert.from_function` on the translator fails for the NIPS networks ("Required inputs
(['.../einsum/Einsum/inputs_1:0']) are missing": the polyphase upsampling kernel, read by an
einsum, is left a graph input instead of a constant), while converting the SavedModel signature
(`python -m tf2onnx.convert --saved-model`) freezes every weight and works for every preset here.
"""

import os
import subprocess
import sys

import numpy as np

from unit_tf.deploy import fixed

DEFAULT_OPSET = 17


def convert(saved_model, signature, path, opset=DEFAULT_OPSET):
  """Converts one SavedModel signature to `path` with tf2onnx; RuntimeError with its last
  error lines when it fails."""
  proc = subprocess.run(
      [sys.executable, "-m", "tf2onnx.convert", "--saved-model", saved_model, "--signature_def",
       signature, "--opset", str(opset), "--output", path], capture_output=True, text=True,
      check=False)
  if proc.returncode != 0 or not os.path.exists(path):
    lines = [l for l in proc.stderr.splitlines() if "Error" in l or "error" in l][-5:]
    raise RuntimeError(f"tf2onnx could not convert {signature}: " + " | ".join(lines))
  return path


def export_model(model, out_dir, height, width, channels, directions=tuple(fixed.DIRECTIONS),
                 opset=DEFAULT_OPSET):
  """Writes <out_dir>/<direction>.onnx for each direction of a built model; returns the paths."""
  paths = []
  with fixed.staged_saved_model(out_dir, model, height, width, channels,
                                directions) as (staging, named):
    for direction in named:
      path = os.path.join(out_dir, f"{direction}.onnx")
      convert(staging, direction, path + ".tmp", opset)
      os.replace(path + ".tmp", path)
      paths.append(path)
  return paths


def export_run(model_dir, out_dir, height, width, step=None, opset=DEFAULT_OPSET):
  """Restores a run (the latest checkpoint, or `step`) and writes its ONNX translators.
  Returns (paths, restored step)."""
  model, channels, restored_step = fixed.restore(model_dir, step)
  return export_model(model, out_dir, height, width, channels, opset=opset), restored_step


class OnnxTranslator:
  """Runs one exported .onnx translator with ONNX Runtime (CPU): uint8 [1, H, W, C] in and out.
  ONNX Runtime itself rejects a wrong dtype or shape with an error naming the input and the
  expected type / dimensions."""

  def __init__(self, path, num_threads=None):
    import onnxruntime  # pylint: disable=g-import-not-at-top
    options = onnxruntime.SessionOptions()
    if num_threads:
      options.intra_op_num_threads = num_threads
    self._session = onnxruntime.InferenceSession(path, options,
                                                 providers=["CPUExecutionProvider"])
    self._input = self._session.get_inputs()[0].name

  def __call__(self, images):
    return self._session.run(None, {self._input: np.asarray(images)})[0]
