"""The command line on tiny image folders: train the Table 10 preset (1-channel a, 3-channel b),
translate a folder of odd-sized images at full resolution, bad files named, clear usage errors."""

import os

import numpy as np
from PIL import Image
import pytest

from test_cli import _event_tags, _run
from test_image_data import write_bad_files, write_images

TINY = ["--task=images", "--arch=paper_natural", "--gen_filters=4", "--dis_filters=4",
        "--image_size=32", "--image_width=64", "--load_size=40", "--channels_a=1",
        "--spatial_context", "--batch_size=2", "--log_every=1", "--image_every=2",
        "--eval_every=2", "--eval_examples=2", "--checkpoint_every=2"]


@pytest.fixture
def folders(tmp_path):
  root = tmp_path / "data"
  write_images(str(root / "trainA"), 4)
  write_bad_files(str(root / "trainA"))
  write_images(str(root / "trainB"), 3, seed=10)
  write_images(str(root / "testA"), 2, seed=20)
  write_images(str(root / "testB"), 2, seed=30)
  return str(root)


def test_train_then_translate_a_folder_at_native_size(tmp_path, folders):
  model_dir = str(tmp_path / "run")
  proc = _run("train.py", f"--model_dir={model_dir}", f"--data_path={folders}", "--max_steps=2",
              *TINY)
  for name in ("empty.jpg", "notes.jpg", "truncated.png"):
    assert f"{name}:" in proc.stderr
  assert "skipped 3 of 7" in proc.stderr
  assert os.path.exists(os.path.join(model_dir, "checkpoints", "ckpt-2.index"))
  scalars, grids = _event_tags(model_dir)
  assert {"eval/cycle_l1_a", "eval/cycle_l1_b", "loss/kl_a"} <= scalars
  assert "translations/a_aa_ab_b_bb_ba" in grids

  inputs = tmp_path / "inputs"
  write_images(str(inputs / "nested"), 1, size=(37, 53))
  write_images(str(inputs), 1, size=(64, 32))
  write_bad_files(str(inputs))
  out = tmp_path / "out"
  proc = _run("translate.py", f"--model_dir={model_dir}", "--direction=a2b",
              f"--input={inputs}", f"--output={out}", check=False)
  assert proc.returncode == 1  # files were skipped
  assert "skipped 3 of 5" in proc.stderr and "truncated.png" in proc.stderr
  assert "Traceback" not in proc.stderr
  with Image.open(out / "nested" / "img00.png") as image:
    assert image.size == (53, 37) and image.mode == "RGB"  # a2b: 1 channel -> 3
  with Image.open(out / "img00.png") as image:
    assert image.size == (32, 64)

  # Odd inputs (issue 16): a 3x3 image, a portrait phone JPEG (EXIF orientation 6), a JPEG above
  # --max_image_pixels.
  odd = tmp_path / "odd"
  odd.mkdir()
  Image.fromarray(np.zeros((3, 3), np.uint8)).save(odd / "tiny.png")
  tags = Image.Exif()
  tags[0x0112] = 6
  Image.fromarray(np.zeros((40, 56), np.uint8)).save(odd / "portrait.jpg", exif=tags.tobytes())
  Image.fromarray(np.zeros((64, 64), np.uint8)).save(odd / "large.jpg")
  odd_out = tmp_path / "odd_out"
  proc = _run("translate.py", f"--model_dir={model_dir}", "--direction=a2b", f"--input={odd}",
              f"--output={odd_out}", "--max_image_pixels=3000", "--noprogress", check=False)
  assert proc.returncode == 1 and "Traceback" not in proc.stderr
  assert "tiny.png: 3x3 is smaller than the minimum 17x17" in proc.stderr
  assert "skipped 1 of 3" in proc.stderr
  assert "large.jpg: 64x64 is above --max_image_pixels=3000" in proc.stderr
  with Image.open(odd_out / "portrait.png") as image:
    assert image.size == (40, 56)  # upright: stored 56 wide x 40 high, shown 40 x 56
  with Image.open(odd_out / "large.png") as image:
    assert image.size == (32, 32)  # decoded at 1/2 scale
  assert not os.path.exists(odd_out / "tiny.png")

  side = tmp_path / "side"
  _run("translate.py", f"--model_dir={model_dir}", "--direction=b2a",
       f"--input={inputs / 'nested'}", f"--output={side}", "--side_by_side", "--sample",
       "--num_samples=2", "--noprogress")
  with Image.open(side / "img00.png") as image:
    assert image.size == (3 * 53, 37)  # input | two samples

  # A SavedModel of tools/export.py translates like the run it came from (uint8 in between).
  export = pytest.importorskip("unit_tf.export", reason="tools/export.py not in this checkout")
  export_dir = str(tmp_path / "export")
  export.export_run(model_dir, export_dir)
  from_saved = tmp_path / "from_saved"
  _run("translate.py", f"--saved_model={export_dir}", "--direction=a2b",
       f"--input={inputs / 'nested'}", f"--output={from_saved}", "--noprogress")
  with Image.open(out / "nested" / "img00.png") as a, Image.open(
      from_saved / "img00.png") as b:
    assert a.size == b.size
    assert np.abs(np.asarray(a, np.int32) - np.asarray(b, np.int32)).max() <= 2


@pytest.mark.parametrize("flags,message", [
    (["--task=images", "--arch=paper_natural", "--image_size=64"], "needs --data_path"),
    (["--task=images", "--image_size=64", "--data_path=x"], "needs --arch=paper_natural"),
    (["--task=images", "--arch=paper_natural", "--image_size=48", "--data_path=x"],
     "multiple of 32"),
    (["--channels_a=2"], "channels_a"),
])
def test_bad_image_flags_are_usage_errors(tmp_path, flags, message):
  proc = _run("train.py", f"--model_dir={tmp_path}", *flags, check=False)
  assert proc.returncode != 0 and message in proc.stderr
  assert "Traceback" not in proc.stderr


def test_empty_folder_is_a_clear_error_before_training(tmp_path, folders):
  for name in os.listdir(os.path.join(folders, "trainB")):
    os.remove(os.path.join(folders, "trainB", name))
  proc = _run("train.py", f"--model_dir={tmp_path / 'run'}", f"--data_path={folders}",
              "--max_steps=2", *TINY, check=False)
  assert proc.returncode != 0 and "trainB holds no images" in proc.stderr
  assert "Traceback" not in proc.stderr
  assert not os.path.exists(tmp_path / "run" / "checkpoints")


def test_translate_needs_a_model(tmp_path):
  write_images(str(tmp_path / "in"), 1)
  proc = _run("translate.py", f"--saved_model={tmp_path / 'none'}", f"--input={tmp_path / 'in'}",
              f"--output={tmp_path / 'out'}", check=False)
  assert proc.returncode != 0 and "is not a folder" in proc.stderr
  assert "Traceback" not in proc.stderr


def test_noverify_images_replaces_a_truncated_jpeg_at_decode_time(tmp_path, folders):
  from test_image_data import _write_truncated_jpeg  # pylint: disable=g-import-not-at-top
  _write_truncated_jpeg(os.path.join(folders, "trainA", "cut.jpg"))
  model_dir = str(tmp_path / "run")
  proc = _run("train.py", f"--model_dir={model_dir}", f"--data_path={folders}", "--max_steps=2",
              "--noverify_images", *TINY, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "Traceback" not in proc.stderr
  assert "at decode time" in proc.stderr and "truncated.png" in proc.stderr
  assert os.path.exists(os.path.join(model_dir, "checkpoints", "ckpt-2.index"))
