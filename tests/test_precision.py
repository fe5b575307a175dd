"""Inference in bfloat16 / float16 agrees with float32 (tiny toy and nips runs, untrained weights).

Untrained networks give small outputs (toy: |y| < 0.005, nips: < 0.13 in [-1, 1]), so the
tolerance is relative: ||y_reduced - y_float32|| / ||y_float32|| <= 5 % for bfloat16 (8-bit
significand) and 1 % for float16 (11-bit); measured here 0.7-2.2 % and 0.1-0.3 %. Through the
exported uint8 signatures (nips run): at most 2 levels of 255 apart.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import run_tool
from unit_tf import export
from unit_tf import run_dir
from unit_tf.config import LossConfig, ModelConfig, TrainConfig
from unit_tf.nips.options import NipsOptions

# Trains a toy and a NIPS model once, then translates and exports them in three precisions: several minutes on 2 cores (python -m pytest -m slow).
pytestmark = pytest.mark.slow

TOY = ModelConfig(gen_filters=8, dis_filters=8)
NIPS = ModelConfig(arch="nips", image_size=32, gen_filters=4, dis_filters=4, n_shared_enc=1,
                   n_shared_gen=1, n_shared_dis=0)
RELATIVE_TOLERANCE = {"mixed_bfloat16": 0.05, "mixed_float16": 0.01}


def _run_dir(path, model_config, options=None):
  """A run directory with config.json and one checkpoint of freshly initialised weights."""
  train_config = TrainConfig(batch_size=1)
  shape = (32, 32, 3)
  _, checkpoint, step = run_dir.build_trained_objects(model_config, LossConfig(), train_config,
                                                      shape, shape, options)
  step.assign(1)
  run_dir.save_configs(str(path), model_config, LossConfig(), train_config, options)
  checkpoint.save(os.path.join(str(path), run_dir.CHECKPOINT_SUBDIR, "ckpt"))
  return str(path)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  return {"toy": _run_dir(tmp_path_factory.mktemp("toy"), TOY),
          "nips": _run_dir(tmp_path_factory.mktemp("nips"), NIPS, NipsOptions(num_scales=2))}


def _images(n=2):
  return tf.random.stateless_uniform((n, 32, 32, 3), seed=[3, 4], minval=-1.0, maxval=1.0)


@pytest.mark.parametrize("arch", ["toy", "nips"])
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_reduced_precision_translation_agrees_with_float32(runs, arch, policy):
  reference, _, _ = run_dir.restore_for_inference(runs[arch], policy="float32")
  reduced, _, step = run_dir.restore_for_inference(runs[arch], policy=policy)
  assert step == 1
  assert reduced.encoder_a.compute_dtype == policy.split("_")[1]
  assert all(v.dtype == "float32" for v in reduced.trainable_variables)
  images = _images()
  for direction in ("a2b", "b2a"):
    want = reference.translate(images, direction).numpy()
    got = reduced.translate(images, direction)
    assert got.dtype.name == policy.split("_")[1]
    assert np.std(want) > 1e-4  # not two constant images
    relative = np.linalg.norm(tf.cast(got, tf.float32).numpy() - want) / np.linalg.norm(want)
    assert 0 < relative <= RELATIVE_TOLERANCE[policy], relative


def _computes_in_bfloat16(signature):
  """Whether any op of the signature's graph (its function library included) is bfloat16."""
  graph = signature.graph.as_graph_def()
  nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
  return any(a.type == tf.bfloat16.as_datatype_enum for n in nodes for a in n.attr.values())


def test_bfloat16_export_keeps_uint8_and_agrees_with_float32(runs, tmp_path):
  outputs = {}
  for policy in ("float32", "mixed_bfloat16"):
    path, _ = export.export_run(runs["nips"], str(tmp_path / policy), policy=policy)
    signature = tf.saved_model.load(path).signatures["a2b"]
    assert _computes_in_bfloat16(signature) == (policy == "mixed_bfloat16")
    images = tf.cast((_images() + 1.0) * 127.5, tf.uint8)
    out = signature(images=images)["images"]
    assert out.dtype == tf.uint8 and out.shape == (2, 32, 32, 3)
    outputs[policy] = out.numpy().astype(np.int32)
  assert outputs["float32"].std() > 1  # not a constant image
  assert np.abs(outputs["mixed_bfloat16"] - outputs["float32"]).max() <= 2


def test_translate_tool_precision_flag(runs, tmp_path):
  from test_image_data import write_images  # pylint: disable=g-import-not-at-top
  inputs = tmp_path / "in"
  write_images(str(inputs), 1, size=(32, 32))
  pixels = {}
  for precision in ("float32", "bfloat16"):
    proc = run_tool("translate.py", f"--model_dir={runs['nips']}", f"--input={inputs}",
                    f"--output={tmp_path / precision}", f"--precision={precision}",
                    "--noprogress")
    assert "precision: " + {"float32": "float32", "bfloat16": "mixed_bfloat16"}[precision] in (
        proc.stderr)
    from PIL import Image  # pylint: disable=g-import-not-at-top
    with Image.open(tmp_path / precision / "img00.png") as image:
      pixels[precision] = np.asarray(image).astype(np.int32)
  assert np.abs(pixels["bfloat16"] - pixels["float32"]).max() <= 2
  bad = run_tool("translate.py", f"--saved_model={tmp_path}", f"--input={inputs}",
                 f"--output={tmp_path / 'x'}", "--precision=bfloat16", check=False)
  assert bad.returncode != 0 and "exported with" in bad.stderr

