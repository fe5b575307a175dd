"""Exported SavedModels: the serving contract of docs/serving.md, checked without TF Serving.

One tiny run (2 steps) is exported twice (latent mean with the CLI, sampled with the library); a
fresh Python process that never imports unit_tf loads both and calls every signature; its outputs
are compared with the in-process Keras translator. The REST bodies of tools/serving_request.py are
parsed as TF Serving's documented JSON (tests/tfserving_json.py) and fed to the SavedModel.
"""

import dataclasses
import http.server
import io
import json
import os
import re
import subprocess
import sys
import textwrap
import threading

import numpy as np
from PIL import Image
from PIL import ImageOps
import pytest
import tensorflow as tf

from conftest import REPO, built_once, run_tool, tiny_mnist
import tfserving_json
from unit_tf import run_dir
from unit_tf import export
from unit_tf.core import signatures
from unit_tf import serving
from unit_tf import tasks
from unit_tf import training
from unit_tf import visualize
from unit_tf.config import LossConfig, ModelConfig, TrainConfig

TRAIN = TrainConfig(batch_size=4, max_steps=2, log_every=1, image_every=0, eval_every=0,
                    checkpoint_every=2)
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1")


_tool = run_tool


def _png(image):
  out = io.BytesIO()
  Image.fromarray(image).save(out, format="PNG")
  return out.getvalue()


def _jpeg(image):
  out = io.BytesIO()
  Image.fromarray(image).save(out, format="JPEG", quality=90)
  return out.getvalue()


def _decode(encoded):
  return tf.io.decode_image(encoded, channels=3, expand_animations=False).numpy()


@dataclasses.dataclass
class Exported:
  model: object  # the in-process Keras UNIT at the exported checkpoint
  mean: str  # SavedModel paths
  sampled: str
  export_dir: str
  images_a: np.ndarray  # uint8 [5, 32, 32, 3] test images of each domain
  images_b: np.ndarray
  model_dir: str = ""  # the run exported

  def keras(self, images, direction, seed=None):
    """The in-process translation as uint8 (the reference the SavedModel must match)."""
    x = tf.convert_to_tensor(images, tf.float32) / 127.5 - 1.0
    if seed is None:
      return visualize.to_uint8(self.model.translate(x, direction))
    return visualize.to_uint8(self.model.translate(x, direction, sample=True, seed=seed))


def _train_and_export(root):
  """The run and its two exports (the tests only read them): latent mean with the CLI, sampled
  with the library; their paths in paths.json."""
  model_dir, export_dir = os.path.join(root, "run"), os.path.join(root, "models")
  config = ModelConfig(gen_filters=8, dis_filters=8)
  training.train(model_dir, tasks.ToyTask(tiny_mnist()), config, LossConfig(), TRAIN)
  proc = _tool("export.py", f"--model_dir={model_dir}", f"--export_dir={export_dir}")
  mean = proc.stdout.strip().splitlines()[-1]
  sampled, _ = export.export_run(model_dir, export_dir, sample=True)
  with open(os.path.join(root, "paths.json"), "w") as f:
    json.dump({"mean": mean, "sampled": sampled}, f)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  root = built_once(tmp_path_factory, "export", _train_and_export)
  model_dir, export_dir = os.path.join(root, "run"), os.path.join(root, "models")
  with open(os.path.join(root, "paths.json")) as f:
    paths = json.load(f)
  model, _, _ = run_dir.restore_model(model_dir, (32, 32, 3), (32, 32, 3))
  task = tasks.ToyTask(tiny_mnist())
  images_a, images_b = (visualize.to_uint8(x) for x in task.visualization_batch(5))
  return Exported(model, paths["mean"], paths["sampled"], export_dir, images_a, images_b,
                  model_dir)


def test_versions_follow_the_checkpoint_step_then_the_next_free_number(exported):
  assert exported.mean == os.path.join(exported.export_dir, "2")  # the checkpoint step
  assert exported.sampled == os.path.join(exported.export_dir, "3")  # 2 existed
  assert sorted(os.listdir(exported.export_dir)) == ["2", "3"]  # no staging directory left
  with pytest.raises(FileExistsError, match="immutable"):
    export.version_path(exported.export_dir, 7, version=2)
  assert export.version_path(exported.export_dir, 7) == os.path.join(exported.export_dir, "7")


# Runs in a fresh interpreter: TensorFlow alone, unit_tf never imported.
_LOADER = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    data = np.load(sys.argv[1], allow_pickle=True)
    mean, sampled = (tf.saved_model.load(p) for p in sys.argv[2:4])
    a, b, png, jpeg = data["a"], data["b"], list(data["png"]), list(data["jpeg"])
    seeds = np.arange(11, 16, dtype=np.int64)
    out = {}
    def call(model, name, **inputs):
      return list(model.signatures[name](**inputs).values())[0].numpy()
    out["a2b_1"] = call(mean, "a2b", images=a[:1])
    out["a2b_5"] = call(mean, "a2b", images=a)
    out["b2a_5"] = call(mean, "b2a", images=b)
    out["default_5"] = call(mean, "serving_default", images=a)
    out["a2b_bytes"] = call(mean, "a2b_bytes", images=[png[0], jpeg[1], png[2]])
    out["b2a_bytes"] = call(mean, "b2a_bytes", images=[jpeg[0], png[1]])
    out["s_a2b_5"] = call(sampled, "a2b", images=a, seed=seeds)
    out["s_a2b_2"] = call(sampled, "a2b", images=a[:2], seed=seeds[:2])
    out["s_a2b_5_other"] = call(sampled, "a2b", images=a, seed=seeds + 100)
    out["s_b2a_bytes"] = call(sampled, "b2a_bytes", images=[png[3]], seed=seeds[3:4])
    bad = {
        "rank": (mean, "a2b", dict(images=a[0])),
        "channels": (mean, "b2a", dict(images=a[..., :1])),
        "empty": (mean, "a2b", dict(images=a[:0])),
        "size": (mean, "a2b", dict(images=np.zeros([1, 40, 40, 3], np.uint8))),
        "bytes_garbage": (mean, "a2b_bytes", dict(images=[png[0], b"not an image"])),
        "bytes_rank": (mean, "a2b_bytes", dict(images=png[0])),
        "bytes_empty": (mean, "a2b_bytes", dict(images=tf.zeros([0], tf.string))),
        "bytes_truncated": (mean, "a2b_bytes", dict(images=[png[0][:60]])),
        "seed_count": (sampled, "a2b", dict(images=a, seed=seeds[:2])),
    }
    errors = {}
    for key, (model, name, inputs) in bad.items():
      try:
        model.signatures[name](**inputs)
        errors[key] = "no error"
      except tf.errors.InvalidArgumentError as e:
        errors[key] = e.message
    np.savez(sys.argv[4], **out)
    info = {"unit_tf_imported": any(m.split(".")[0] == "unit_tf" for m in sys.modules),
            "errors": errors,
            "seed_spec": str(sampled.signatures["a2b"].structured_input_signature[1]["seed"])}
    print(json.dumps(info))
""")


@pytest.fixture(scope="module")
def fresh_process(exported, tmp_path_factory):
  """Runs _LOADER once; returns (its outputs as a dict of arrays, its info dict, the PNG and JPEG
  inputs)."""
  png = [_png(x) for x in exported.images_a]
  jpeg = [_jpeg(x) for x in exported.images_a]

  def load_and_call(root):
    inputs = os.path.join(root, "inputs.npz")
    np.savez(inputs, a=exported.images_a, b=exported.images_b,
             png=np.array(png, dtype=object), jpeg=np.array(jpeg, dtype=object))
    proc = subprocess.run([sys.executable, "-c", _LOADER, inputs, exported.mean,
                           exported.sampled, os.path.join(root, "outputs.npz")],
                          capture_output=True, text=True, cwd=root, env=ENV, timeout=1800,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(os.path.join(root, "info.json"), "w") as f:
      f.write(proc.stdout.strip().splitlines()[-1])

  root = built_once(tmp_path_factory, "export_fresh_process", load_and_call)
  with open(os.path.join(root, "info.json")) as f:
    info = json.load(f)
  with np.load(os.path.join(root, "outputs.npz"), allow_pickle=True) as data:
    return {k: data[k] for k in data.files}, info, png, jpeg


def _close(actual, expected):
  """Equal up to one uint8 step (the float rounding of two executions of the same graph)."""
  np.testing.assert_allclose(np.asarray(actual, np.int32), np.asarray(expected, np.int32),
                             rtol=0, atol=1)


def test_fresh_process_loads_without_unit_tf_and_matches_keras(exported, fresh_process):
  out, info, _, _ = fresh_process
  assert info["unit_tf_imported"] is False
  a, b = exported.images_a, exported.images_b
  assert out["a2b_1"].dtype == np.uint8 and out["a2b_5"].shape == (5, 32, 32, 3)
  _close(out["a2b_1"], exported.keras(a[:1], "a2b"))
  _close(out["a2b_5"], exported.keras(a, "a2b"))
  _close(out["b2a_5"], exported.keras(b, "b2a"))
  np.testing.assert_array_equal(out["default_5"], out["a2b_5"])  # serving_default is a2b


def test_bytes_signatures_round_trip_png_and_jpeg(exported, fresh_process):
  out, _, png, jpeg = fresh_process
  a2b = [_decode(x) for x in out["a2b_bytes"]]
  assert [x.shape for x in a2b] == [(32, 32, 3)] * 3
  _close(a2b[0], exported.keras(exported.images_a[:1], "a2b")[0])  # PNG is lossless
  _close(a2b[2], exported.keras(exported.images_a[2:3], "a2b")[0])
  _close(a2b[1], exported.keras(_decode(jpeg[1])[None], "a2b")[0])  # JPEG: what it decodes to
  b2a = [_decode(x) for x in out["b2a_bytes"]]
  _close(b2a[0], exported.keras(_decode(jpeg[0])[None], "b2a")[0])
  _close(b2a[1], exported.keras(_decode(png[1])[None], "b2a")[0])


def test_sampled_export_is_keyed_by_each_images_seed(exported, fresh_process):
  out, info, png, _ = fresh_process
  assert "int64" in info["seed_spec"]
  seeds = list(range(11, 16))
  expected = np.concatenate([exported.keras(exported.images_a[i:i + 1], "a2b", seed=s)
                             for i, s in enumerate(seeds)])
  _close(out["s_a2b_5"], expected)
  # an image's translation depends on its own seed, not on the rest of the batch
  np.testing.assert_array_equal(out["s_a2b_2"], out["s_a2b_5"][:2])
  assert not np.array_equal(out["s_a2b_5_other"], out["s_a2b_5"])
  _close(_decode(out["s_b2a_bytes"][0]), exported.keras(_decode(png[3])[None], "b2a", seed=14)[0])


@pytest.mark.parametrize("case,message", [
    ("rank", r"a2b:.*rank 4.*got shape.*\[32 32 3\]"),
    ("channels", r"b2a:.*must have 3 channels.*got shape.*\[5 32 32 1\]"),
    ("empty", r"a2b:.*empty batch"),
    ("size", r"a2b:.*takes 32x32 images only.*\[1 40 40 3\]"),
    ("bytes_garbage", r"a2b_bytes:.*not a JPEG, PNG or BMP image"),
    ("bytes_rank", r"a2b_bytes:.*batch \(rank 1\)"),
    ("bytes_empty", r"a2b_bytes:.*empty batch"),
    ("bytes_truncated", r"PNG"),  # TensorFlow's own decoder error
    ("seed_count", r"a2b:.*one seed per image"),
])
def test_bad_inputs_fail_inside_the_graph_with_clear_messages(fresh_process, case, message):
  _, info, _, _ = fresh_process
  assert re.search(message, info["errors"][case], re.S), info["errors"][case]


def test_saved_model_cli_lists_every_signature(exported):
  proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "saved_model_cli"), "show",
                         "--all", "--dir", exported.mean], capture_output=True, text=True,
                        env=ENV, timeout=1800, check=True)
  blocks = dict(re.findall(r"signature_def\['([^']+)'\]:\n(.*?)(?=\nsignature_def\[|\nThe Meta)",
                           proc.stdout, re.S))
  assert set(serving.SIGNATURES) | {"serving_default"} <= set(blocks)
  for name in serving.SIGNATURES + ("serving_default",):
    block = " ".join(blocks[name].split())
    assert "Method name is: tensorflow/serving/predict" in block, name
    if serving.is_bytes_signature(name):
      assert "inputs['images'] tensor_info: dtype: DT_STRING shape: unknown_rank" in block
      assert "outputs['images_bytes'] tensor_info: dtype: DT_STRING shape: (-1)" in block
    else:
      assert "inputs['images'] tensor_info: dtype: DT_UINT8 shape: unknown_rank" in block
      assert "outputs['images'] tensor_info: dtype: DT_UINT8 shape: (-1, -1, -1, 3)" in block
    assert "seed" not in block  # only sampled exports take a seed


# ----- the REST client against TF Serving's documented JSON -----


@pytest.fixture(scope="module")
def loaded(exported):
  return {"mean": tf.saved_model.load(exported.mean),
          "sampled": tf.saved_model.load(exported.sampled)}


@pytest.fixture(scope="module")
def image_files(exported, tmp_path_factory):
  root = tmp_path_factory.mktemp("files")
  paths = []
  for i, (image, encode, ext) in enumerate([(exported.images_a[0], _png, "png"),
                                            (exported.images_a[1], _jpeg, "jpg")]):
    paths.append(str(root / f"x{i}.{ext}"))
    with open(paths[-1], "wb") as f:
      f.write(encode(image))
  return paths


def _direct(saved_model, signature, images, seeds=None):
  inputs = {serving.IMAGES: tf.constant(images)}
  if seeds is not None:
    inputs[serving.SEED] = tf.constant(seeds, tf.int64)
  return saved_model.signatures[signature](**inputs)[serving.output_key(signature)].numpy()


class _IdentityModel:
  """Stands in for a UNIT model: `translate` returns its input, any size is taken."""

  fixed_size = None
  image_multiple = 1
  translation_directions = ("a2b", "b2a")

  def translate(self, images, direction, sample=False, seed=None):
    del direction, sample, seed
    return images


def test_bytes_signatures_turn_images_as_their_exif_orientation_says():
  fn, spec = signatures.translation_endpoints(_IdentityModel(), {"a": 3, "b": 3})["a2b_bytes"]
  signature = tf.function(fn, input_signature=spec)
  upright = (np.random.default_rng(0).random((6, 10, 3)) * 255).astype(np.uint8)
  for value in range(1, 9):
    # The stored pixels a camera writes for this tag: Pillow turns them back to `upright`.
    stored = Image.fromarray(upright)
    inverse = {2: [Image.Transpose.FLIP_LEFT_RIGHT], 3: [Image.Transpose.ROTATE_180],
               4: [Image.Transpose.FLIP_TOP_BOTTOM], 5: [Image.Transpose.TRANSPOSE],
               6: [Image.Transpose.ROTATE_90], 7: [Image.Transpose.TRANSVERSE],
               8: [Image.Transpose.ROTATE_270]}.get(value, [])
    for method in inverse:
      stored = stored.transpose(method)
    tags = Image.Exif()
    tags[0x0112] = value
    out = io.BytesIO()
    stored.save(out, format="PNG", exif=tags.tobytes())
    with Image.open(io.BytesIO(out.getvalue())) as image:
      np.testing.assert_array_equal(np.asarray(ImageOps.exif_transpose(image)), upright)
    served = signature(images=tf.constant([out.getvalue()]))[serving.IMAGES_BYTES][0]
    np.testing.assert_array_equal(_decode(served.numpy()), upright, err_msg=str(value))


@pytest.mark.parametrize("form", ["row", "columnar"])
@pytest.mark.parametrize("signature", ["b2a", "a2b_bytes"])
def test_request_body_of_the_tool_parses_as_tf_serving_json(loaded, image_files, form,
                                                            signature):
  proc = _tool("serving_request.py", f"--signature={signature}", f"--format={form}",
               "--images=" + ",".join(image_files))
  body = proc.stdout
  _, inputs = tfserving_json.parse_predict_request(body, [serving.IMAGES])
  reply = tfserving_json.run(loaded["mean"], body)
  key = "predictions" if form == "row" else "outputs"
  if serving.is_bytes_signature(signature):
    with open(image_files[1], "rb") as f:
      assert inputs[serving.IMAGES][1] == f.read()  # the file itself, base64 in the JSON
    assert set(reply[key][0]) == {"b64"}  # images_bytes: base64-encoded by the server
    expected = [_decode(x) for x in _direct(loaded["mean"], signature, inputs[serving.IMAGES])]
  else:
    expected = list(_direct(loaded["mean"], signature, np.array(inputs[serving.IMAGES],
                                                                np.uint8)))
  got = serving.images_from_response(signature, reply)
  assert len(got) == 2
  for g, e in zip(got, expected):
    np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("form", ["row", "columnar"])
def test_sampled_body_names_both_inputs(loaded, exported, form):
  images = list(exported.images_a[:3])
  body = json.dumps(serving.predict_body("a2b", images, seeds=[5, 6, 7],
                                         columnar=form == "columnar"))
  _, inputs = tfserving_json.parse_predict_request(body, [serving.IMAGES, serving.SEED])
  assert inputs[serving.SEED] == [5, 6, 7]
  got = serving.images_from_response("a2b", tfserving_json.run(loaded["sampled"], body))
  np.testing.assert_array_equal(np.stack(got), _direct(loaded["sampled"], "a2b",
                                                       np.stack(images), [5, 6, 7]))


def test_predict_body_refuses_what_the_server_would(exported):
  with pytest.raises(ValueError, match="mixed sizes"):
    serving.predict_body("a2b", [exported.images_a[0], exported.images_a[0, :16]])
  with pytest.raises(ValueError, match="one seed per image"):
    serving.predict_body("a2b", list(exported.images_a[:2]), seeds=[1])
  with pytest.raises(ValueError, match="unknown signature"):
    serving.predict_body("a2c", [b""])
  assert (serving.predict_url("http://h:8501/", "unit", 3) ==
          "http://h:8501/v1/models/unit/versions/3:predict")


class _FakeServer(http.server.BaseHTTPRequestHandler):
  """The REST predict endpoint of TF Serving, answering from the SavedModel in-process."""
  saved_model = None

  def do_POST(self):  # pylint: disable=invalid-name
    body = self.rfile.read(int(self.headers["Content-Length"]))
    if not re.fullmatch(r"/v1/models/unit(/versions/\d+)?:predict", self.path):
      status, reply = 404, {"error": f"Servable not found for request: {self.path}"}
    else:
      try:
        status, reply = 200, tfserving_json.run(self.saved_model, body)
      except (ValueError, tf.errors.InvalidArgumentError) as e:
        status, reply = 400, {"error": getattr(e, "message", str(e))}
    data = json.dumps(reply).encode()
    self.send_response(status)
    self.send_header("Content-Type", "application/json")
    self.send_header("Content-Length", str(len(data)))
    self.end_headers()
    self.wfile.write(data)

  def log_message(self, *args):
    """Keeps the stand-in server quiet in the test output."""


def test_tool_posts_and_writes_the_translations(loaded, image_files, tmp_path):
  handler = type("Handler", (_FakeServer,), {"saved_model": loaded["mean"]})
  server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    url = serving.predict_url(f"http://127.0.0.1:{server.server_port}", "unit")
    out_dir = str(tmp_path / "out")
    proc = _tool("serving_request.py", "--signature=a2b_bytes", f"--url={url}",
                 f"--out_dir={out_dir}", "--images=" + ",".join(image_files))
    assert proc.stdout.split() == [os.path.join(out_dir, "x0_a2b.png"),
                                   os.path.join(out_dir, "x1_a2b.png")]
    with open(image_files[0], "rb") as f:
      expected = _decode(_direct(loaded["mean"], "a2b_bytes", [f.read()])[0])
    np.testing.assert_array_equal(np.asarray(Image.open(proc.stdout.split()[0])), expected)
    # a request the graph refuses: the server's message, one line, no traceback
    proc = _tool("serving_request.py", "--signature=a2b", "--channels=1", f"--url={url}",
                 f"--out_dir={out_dir}", f"--images={image_files[0]}", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "HTTP 400" in proc.stderr and "must have 3 channels" in proc.stderr
  finally:
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("make_dir,message", [
    (False, "not a unit_tf run directory"),
    (True, "no checkpoint in"),
])
def test_export_cli_errors_are_one_line(tmp_path, make_dir, message):
  model_dir = str(tmp_path / "run")
  if make_dir:  # a run directory whose training never wrote a checkpoint
    os.makedirs(model_dir)
    from unit_tf import config as unit_config  # pylint: disable=g-import-not-at-top
    unit_config.save_configs(model_dir, model=ModelConfig(gen_filters=8, dis_filters=8),
                             loss=LossConfig(), train=TRAIN)
  proc = _tool("export.py", f"--model_dir={model_dir}", f"--export_dir={tmp_path / 'out'}",
               check=False)
  assert proc.returncode != 0 and "Traceback" not in proc.stderr
  assert message in proc.stderr and proc.stderr.strip().splitlines()[-1].startswith("error: ")
  assert not os.path.exists(tmp_path / "out")


def test_an_export_losing_a_race_for_its_version_says_it_exists(exported, monkeypatch,
                                                                tmp_path):
  """Two exports to the same --version at once: the one renaming second is refused by name."""
  export_dir = str(tmp_path / "models")
  target = os.path.join(export_dir, "77")
  real_write = export.write_saved_model

  def write_then_lose(path, endpoints):
    real_write(path, endpoints)
    os.makedirs(os.path.join(target, "variables"))  # the other export finished first

  monkeypatch.setattr(export, "write_saved_model", write_then_lose)
  with pytest.raises(FileExistsError, match="another export wrote version 77 meanwhile"):
    export.export_run(exported.model_dir, export_dir, version=77)
  assert os.listdir(export_dir) == ["77"]  # the winner's version; no staging directory left


def test_a_checkpoint_deleted_while_it_is_read_falls_back_to_the_newest(exported, monkeypatch):
  """An export beside a training that rotates checkpoints: the checkpoint chosen first is gone
  when it is read; the newest one is read instead and its step reported."""
  real_restore = tf.train.Checkpoint.restore
  calls = []

  def vanishing_once(self, path, *args, **kwargs):
    calls.append(path)
    if len(calls) == 1:
      raise tf.errors.NotFoundError(None, None, f"{path}.index: No such file or directory")
    return real_restore(self, path, *args, **kwargs)

  monkeypatch.setattr(tf.train.Checkpoint, "restore", vanishing_once)
  _, _, step = run_dir.restore_for_inference(exported.model_dir)
  assert len(calls) == 2 and step == int(calls[1].rsplit("-", 1)[-1])
  calls.clear()
  monkeypatch.setattr(tf.train.Checkpoint, "restore", lambda self, path, *a, **k: (
      calls.append(path), (_ for _ in ()).throw(tf.errors.NotFoundError(None, None, "gone")))[1])
  with pytest.raises(FileNotFoundError, match="may have deleted it"):
    run_dir.restore_for_inference(exported.model_dir, step=step)
