"""Fixed-size deployment: the LiteRT and ONNX translators of the toy and NIPS networks match the
SavedModel / TensorFlow graph; a wrong input size or dtype is a clear error."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from test_cli import TINY, _run
from unit_tf import export
from unit_tf import variants
from unit_tf.config import LossConfig, ModelConfig
from unit_tf.deploy import fixed
from unit_tf.deploy import litert
from unit_tf.deploy import onnx
from unit_tf.nips.options import NipsOptions

# Converts real networks with the LiteRT converter and tf2onnx and runs both runtimes: several minutes on 2 cores (python -m pytest -m slow).
pytestmark = pytest.mark.slow

# float32 files must equal the TensorFlow graph up to one uint8 level (a value near .5 may round
# the other way after another order of float operations); quantized weights change more: at most
# QUANTIZED_MEAN_LEVELS on average.
FLOAT32_MAX_LEVELS = 1
QUANTIZED_MEAN_LEVELS = 4.0


def _pixels(shape, seed=0):
  return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _levels(out, reference):
  return np.abs(np.asarray(out).astype(int) - np.asarray(reference).astype(int))


def test_toy_run_to_litert_and_onnx_matches_the_saved_model(tmp_path, tiny_npz):
  model_dir = str(tmp_path / "run")
  _run("train.py", f"--model_dir={model_dir}", f"--data_path={tiny_npz}", "--max_steps=2", *TINY)
  lite_dir, onnx_dir = tmp_path / "lite", tmp_path / "onnx"
  proc = _run("export.py", f"--model_dir={model_dir}", f"--export_dir={lite_dir}",
              "--format=litert", "--image_size=32x32", "--quantization=float32,int8")
  assert proc.stdout.strip().splitlines()[-1] == str(lite_dir)
  assert sorted(os.listdir(lite_dir)) == ["a2b.tflite", "a2b_int8.tflite", "b2a.tflite",
                                          "b2a_int8.tflite", "litert.json"]
  assert json.load(open(lite_dir / "litert.json"))["height"] == 32
  assert os.path.getsize(lite_dir / "a2b_int8.tflite") < 0.5 * os.path.getsize(
      lite_dir / "a2b.tflite")
  _run("export.py", f"--model_dir={model_dir}", f"--export_dir={onnx_dir}", "--format=onnx",
       "--image_size=32x32")
  assert sorted(os.listdir(onnx_dir)) == ["a2b.onnx", "b2a.onnx"]
  saved, _ = export.export_run(model_dir, str(tmp_path / "served"))
  served = tf.saved_model.load(saved)
  images = _pixels((1, 32, 32, 3))
  for direction in ("a2b", "b2a"):
    reference = served.signatures[direction](images=tf.constant(images))["images"].numpy()
    out = litert.LiteRTTranslator(str(lite_dir / f"{direction}.tflite"))(images)
    assert out.dtype == np.uint8 and out.shape == reference.shape
    assert _levels(out, reference).max() <= FLOAT32_MAX_LEVELS
    assert _levels(onnx.OnnxTranslator(str(onnx_dir / f"{direction}.onnx"))(images),
                   reference).max() <= FLOAT32_MAX_LEVELS
  quantized = litert.LiteRTTranslator(str(lite_dir / "a2b_int8.tflite"))(images[0])
  reference = served.signatures["a2b"](images=tf.constant(images))["images"].numpy()
  assert _levels(quantized, reference).mean() <= QUANTIZED_MEAN_LEVELS

  translator = litert.LiteRTTranslator(str(lite_dir / "a2b.tflite"))
  with pytest.raises(ValueError, match=r"a2b.tflite takes images of shape \[1, 32, 32, 3\] "
                     r".*got \[1, 28, 28, 3\]"):
    translator(_pixels((1, 28, 28, 3)))
  with pytest.raises(ValueError, match="a2b.tflite takes uint8 pixels 0..255, got float32"):
    translator(images.astype(np.float32))
  with pytest.raises(Exception, match=r"invalid dimensions for input: images"):
    onnx.OnnxTranslator(str(onnx_dir / "a2b.onnx"))(_pixels((1, 28, 28, 3)))
  wrong_size = _run("export.py", f"--model_dir={model_dir}", f"--export_dir={tmp_path / 'x'}",
                    "--format=litert", "--image_size=64x64", check=False)
  assert wrong_size.returncode != 0
  assert "error: this model takes 32x32 images only" in wrong_size.stderr
  no_size = _run("export.py", f"--model_dir={model_dir}", f"--export_dir={tmp_path / 'x'}",
                 "--format=onnx", check=False)
  assert no_size.returncode != 0 and "--format=onnx needs --image_size=HxW" in no_size.stderr


def test_nips_network_to_litert_and_onnx_matches_the_graph(tmp_path):
  keras.utils.set_random_seed(0)
  model = variants.build_model(
      ModelConfig(arch="nips", image_size=32, gen_filters=4, dis_filters=4, n_shared_enc=1,
                  n_shared_gen=1, n_shared_dis=0), LossConfig(), NipsOptions(num_scales=2))
  model.build_for((32, 32, 3), (32, 32, 3))
  # Random initial weights translate everything to about mid-grey, which any graph would match:
  # scale the output convolutions so that the translations use the whole range.
  for generator in (model.generator_a, model.generator_b):
    kernel = [w for w in generator.weights if len(w.shape) == 4][-1]
    kernel.assign(kernel * 40.0)
  # A non-square size the network takes (a multiple of 4), not the training size.
  channels = {"a": 3, "b": 3}
  paths = litert.export_model(model, str(tmp_path / "lite"), 24, 40, channels,
                              ("float32", "float16"), directions=("a2b",))
  assert [os.path.basename(p) for p in paths] == ["a2b.tflite", "a2b_float16.tflite"]
  (onnx_path,) = onnx.export_model(model, str(tmp_path / "onnx"), 24, 40, channels,
                                   directions=("a2b",))
  images = _pixels((1, 24, 40, 3), seed=1)
  reference = fixed.translator_function(model, "a2b", 24, 40, 3)(tf.constant(images))
  reference = reference[fixed.OUTPUT].numpy()
  assert reference.astype(float).std() > 20  # the comparison means something
  assert _levels(litert.LiteRTTranslator(paths[0])(images), reference).max() <= FLOAT32_MAX_LEVELS
  assert _levels(onnx.OnnxTranslator(onnx_path)(images), reference).max() <= FLOAT32_MAX_LEVELS
  half = litert.LiteRTTranslator(paths[1])(images)
  assert _levels(half, reference).mean() <= QUANTIZED_MEAN_LEVELS
  with pytest.raises(ValueError, match=r"takes images of shape \[1, 24, 40, 3\]"):
    litert.LiteRTTranslator(paths[0])(_pixels((2, 24, 40, 3)))
