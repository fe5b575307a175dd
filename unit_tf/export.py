"""Exports the translators of a trained run as a SavedModel for TF Serving.

The signatures are the contract of `unit_tf.serving` (names, keys) and docs/serving.md (the
table). The SavedModel holds graphs and variables only: it loads and runs with TensorFlow alone,
without unit_tf or Keras custom objects.

The signatures themselves (and their input checks) are written in `unit_tf.core.signatures`
(translation, every variant) and in the variants' packages (e.g. `unit_tf.uda.export`);
`unit_tf.variants` lists which families a run's variant exports.

Encoded images (`*_bytes`) are decoded by the graph itself and turned as their EXIF orientation
tag says (`unit_tf.data.exif`, TensorFlow ops only), so a portrait phone photo is translated
upright, as in training and tools/translate.py; the PNG returned is the upright translation.

Layout: `export_dir/<version>/` is one SavedModel; `export_dir` is what TF Serving's
`--model_base_path` points at (it serves the highest version).
"""

import os
import shutil

import keras
import tensorflow as tf

from unit_tf import run_dir
from unit_tf import serving
from unit_tf import variants

def write_saved_model(path, endpoints):
  """Writes {signature name: (function, input signature)} as a SavedModel at `path`.

  ExportArchive saves the variables the functions use (for the translators: the encoders' and
  generators'; a family that reads discriminator layers adds those; the optimizers are
  training state and stay out).
  `serving_default` is `a2b`.
  """
  archive = keras.export.ExportArchive()
  # ExportArchive makes the first endpoint it is given serving_default.
  for name in sorted(endpoints, key=lambda n: n != serving.DEFAULT_SIGNATURE):
    fn, spec = endpoints[name]
    archive.add_endpoint(name, fn, input_signature=spec)
  archive.write_out(path, verbose=False)


# ----- run directory -> export directory -----

def version_path(export_dir, step, version=None):
  """`export_dir/<version>`: `version`, or the checkpoint step, or, if a SavedModel already has
  that number, one more than the highest version present (so that TF Serving serves the new one).
  """
  existing = ([int(n) for n in os.listdir(export_dir) if n.isdigit()]
              if os.path.isdir(export_dir) else [])
  if version is not None:
    if version in existing:
      raise FileExistsError(f"{os.path.join(export_dir, str(version))} exists; TF Serving "
                            "versions are immutable, pick another --version")
  elif step in existing:
    version = max(existing) + 1
  else:
    version = step
  return os.path.join(export_dir, str(version))


def export_run(model_dir, export_dir, version=None, step=None, sample=False, policy=None):
  """Restores a run's checkpoint (the latest, or `step`) and exports it to `export_dir/<version>`.

  `policy` (a Keras dtype policy, e.g. "mixed_bfloat16") is the precision the exported graphs
  compute in; the signatures take and return uint8 whatever it is.

  The SavedModel is written beside its final place and renamed into it: TF Serving polls
  `export_dir` and must never see a half-written version (it ignores names that are not
  numbers). Returns (path, restored step).
  """
  if version is not None:
    version_path(export_dir, step, version)  # refuse an existing version before restoring
  model, configs, restored_step = run_dir.restore_for_inference(model_dir, step, policy)
  model_config = configs["model"]
  path = version_path(export_dir, restored_step, version)
  os.makedirs(export_dir, exist_ok=True)
  staging = os.path.join(export_dir, f".tmp-{os.path.basename(path)}-{os.getpid()}")
  try:
    channels = {"a": model_config.channels_a, "b": model_config.channels_b}
    endpoints = {}
    for family in variants.variant_of(model_config.arch).export_families:
      endpoints.update(family(model, channels, sample))
    write_saved_model(staging, endpoints)
    try:
      os.rename(staging, path)
    except OSError:
      if os.path.exists(path):  # another export took this version while this one was writing
        raise FileExistsError(f"{path} exists: another export wrote version "
                              f"{os.path.basename(path)} meanwhile; TF Serving versions are "
                              "immutable, pick another --version") from None
      raise
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return path, restored_step
